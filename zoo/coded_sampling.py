"""Coded sampling with shared randomness: Flamich, "Compression without quantization"
(MPhil thesis, Cambridge 2019), §3.4–3.5, Algorithms 1–3 and 5 (Havasi et al. 2018).

An encoder that knows a posterior q = N(μq, σq) and a prior p = N(μp, σp) (diagonal)
sends a few integers; a decoder that knows p and the same random numbers turns them
into the identical latent sample, at a cost close to KL[q‖p]:

    encoder: (q, p, seed) ─sampler─> integers ─pack─> bytes
    decoder: (bytes, p, seed) ─unpack─> integers ─sampler─> the same sample

    RejectionSampler   Alg. 1: per dimension, ≤ 2^B proposals from p; a dimension that
                       rejects them all is sent as a 16-bit (float16) posterior sample.
                       Indices range coded under a smoothed empirical table (§3.5.1).
    GreedySampler      Alg. 2 on groups of dimensions: K shards of 2^B candidates from the
                       standardized prior N(0, 1/K); the best candidate under q' wins.
    ImportanceSampler  Alg. 3 + 5: outliers (KL > threshold) sent as float16, the rest cut
                       into groups of KL ≤ budget and ≤ G dims; one index of 2^B
                       prior candidates per group, picked ∝ q'/p'.

Shared randomness: `shared_rng(seed, stream)` is numpy's Philox counter-based generator
keyed by the 128-bit integer (seed << 64) | stream; it keeps no state between calls,
so any process draws the same numbers for the same (seed, stream). Streams name
(level, kind, shard, group or chunk), see `stream_id`. The greedy and importance
samplers give every group (and shard) a stream of its own, drawn candidate after
candidate, so a decoder draws only up to the candidate it was sent: about half of what
the encoder draws, and none of the other groups' candidates. NumPy promises the Philox bit stream, but
not `Generator.standard_normal` across numpy versions: encoder and decoder must run
the same numpy (pinned in setup).

Every sampler works on the prior-standardized latent z' = (z − μp)/σp (the §3.4.2
standardization), so prior candidates are N(0, 1) numbers that depend on the seed only,
and the decoder's sample is μp + σp·z' computed by one formula on both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

LN2 = math.log(2.0)
#: Kinds of random streams (part of the stream id).
_REJ_CAND, _REJ_UNIF, _OUTLIER, _GREEDY, _IS_CAND, _IS_PICK = range(1, 7)
_CHUNK = 4096  # dimensions per rejection-sampling stream
_GROUP_CHUNK = 64  # groups per greedy / importance stream


def shared_rng(seed: int, stream: int) -> np.random.Generator:
    """A generator both sides rebuild from (seed, stream); no state survives the call."""
    return np.random.Generator(np.random.Philox(key=(int(seed) << 64) | int(stream)))


def stream_id(level: int, kind: int, a: int = 0, b: int = 0) -> int:
    """64-bit stream number of (level, kind, a, b); a, b < 2^24."""
    return ((level & 0xFF) << 56) | ((kind & 0xFF) << 48) | ((a & 0xFFFFFF) << 24) | (b & 0xFFFFFF)


def kl_bits(q_mean, q_std, p_mean, p_std) -> np.ndarray:
    """KL[N(μq, σq) ‖ N(μp, σp)] per dimension, in bits."""
    m, s = standardize(q_mean, q_std, p_mean, p_std)
    return (-np.log(s) + 0.5 * (s * s + m * m) - 0.5) / LN2


def standardize(q_mean, q_std, p_mean, p_std) -> tuple[np.ndarray, np.ndarray]:
    """Posterior in the prior's standardized coordinates (§3.4.2): q' = N(m, s), p' = N(0, 1)."""
    p_std = np.asarray(p_std, np.float64)
    m = (np.asarray(q_mean, np.float64) - np.asarray(p_mean, np.float64)) / p_std
    s = np.asarray(q_std, np.float64) / p_std
    return m.ravel(), s.ravel()


def _unstandardize(z, p_mean, p_std) -> np.ndarray:
    p_mean = np.asarray(p_mean, np.float64)
    return (p_mean + np.asarray(p_std, np.float64) * z.reshape(p_mean.shape))


def _float16(x: np.ndarray) -> np.ndarray:
    """The 16-bit quantization of outlier samples (standardized, so float16 covers them)."""
    return np.clip(x, -65504.0, 65504.0).astype(np.float16)


# Bit packing (fixed-width fields, §3.5.3) --------------------------------------------


class BitWriter:
    """Collects fixed-width unsigned fields; `getvalue()` pads the last byte with zeros."""

    def __init__(self):
        self._pieces: list[np.ndarray] = []
        self.num_bits = 0

    def write(self, values, width: int) -> None:
        values = np.asarray(values, np.uint64).ravel()
        if width == 0 or values.size == 0:
            return
        if np.any(values >> np.uint64(width)):
            raise ValueError(f"value does not fit in {width} bits")
        shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
        self._pieces.append(((values[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).ravel())
        self.num_bits += values.size * width

    def getvalue(self) -> bytes:
        if not self._pieces:
            return b""
        return np.packbits(np.concatenate(self._pieces)).tobytes()


class BitReader:
    """Reads what `BitWriter` wrote; raises ValueError on truncated or padded-out data."""

    def __init__(self, data: bytes):
        self._bits = np.unpackbits(np.frombuffer(data, np.uint8))
        self.pos = 0

    def read(self, count: int, width: int) -> np.ndarray:
        n = int(count) * width
        if count < 0 or self.pos + n > self._bits.size:
            raise ValueError("coded sample data is truncated")
        if width == 0:
            return np.zeros(count, np.int64)
        chunk = self._bits[self.pos : self.pos + n].reshape(count, width).astype(np.int64)
        self.pos += n
        return chunk @ (1 << np.arange(width - 1, -1, -1, dtype=np.int64))

    def finish(self) -> None:
        rest = self._bits[self.pos :]
        if rest.size >= 8 or np.any(rest):
            raise ValueError("coded sample data has trailing bits")


# Algorithm 1: bit-budgeted, per-dimension parallel rejection sampling ----------------


def _mass_below(S, m, s):
    """F(S) = ∫ min(q'(x), S·p'(x)) dx for q' = N(m, s), p' = N(0, 1), elementwise.

    log q' − log p' = a x² + b x + c is quadratic; {q' < S p'} is an interval or its
    complement, so F is a few normal CDFs (Harsha et al. 2007's p*_i in closed form).
    """
    s = np.where(np.abs(s - 1.0) < 1e-6, 1.0 + 1e-6, s)  # keep the quadratic a ≠ 0
    a = 0.5 - 0.5 / (s * s)
    b = m / (s * s)
    c = -0.5 * m * m / (s * s) - np.log(s) - np.log(np.maximum(S, 1e-300))
    disc = b * b - 4 * a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    x1 = np.minimum((-b - root) / (2 * a), (-b + root) / (2 * a))
    x2 = np.maximum((-b - root) / (2 * a), (-b + root) / (2 * a))
    q_in = ndtr((x2 - m) / s) - ndtr((x1 - m) / s)  # q' mass inside [x1, x2]
    p_in = ndtr(x2) - ndtr(x1)
    real = disc > 0
    # a < 0: q' < S p' outside the roots (everywhere without roots); a > 0: inside.
    q_below = np.where(a < 0, np.where(real, 1 - q_in, 1.0), np.where(real, q_in, 0.0))
    p_below = np.where(a < 0, np.where(real, 1 - p_in, 1.0), np.where(real, p_in, 0.0))
    return np.where(S > 0, q_below + S * (1 - p_below), 0.0)


def _log_ratio(x, m, s):
    """log q'(x) − log p'(x) for q' = N(m, s), p' = N(0, 1)."""
    return -0.5 * ((x - m) / s) ** 2 - np.log(s) + 0.5 * x * x


def default_index_pmf(budget_bits: int = 8, escape: float = 0.01) -> np.ndarray:
    """A universal prior for rejection indices before one is estimated on images:
    P(i) ∝ 1/((i+1)·log2(i+2)²) (Elias-like), and mass `escape` for the 16-bit escape."""
    i = np.arange(2**budget_bits, dtype=np.float64)
    pmf = 1.0 / ((i + 1) * np.log2(i + 2) ** 2)
    return np.append((1 - escape) * pmf / pmf.sum(), escape)


def smoothed_index_pmf(counts: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """§3.5.1: (1 − α)·empirical P(i) for i < 2^B, α for the escape to 16 bits.

    `counts` has 2^B + 1 entries (the last counts escapes, which the table replaces by
    α: the thesis's α/N per unseen 16-bit value). Unseen indices get a floor so every
    index stays codable.
    """
    counts = np.asarray(counts, np.float64)[:-1] + 1e-3
    return np.append((1 - alpha) * counts / counts.sum(), alpha)


@dataclass(frozen=True)
class RejectionCode:
    """Per-dimension indices (0-based; 2^B = escape) and the escaped float16 samples."""

    indices: np.ndarray
    escapes: np.ndarray


@dataclass(frozen=True)
class RejectionSampler:
    """Algorithm 1 with `budget_bits` B: each dimension examines at most 2^B proposals.

    A dimension that rejects all 2^B is drawn from the *residual* of q' (what the
    truncated rejection sampler leaves unaccounted for) rather than from q' itself as
    in the thesis, so the sample stays exact; it is then sent as float16 (16 bits).
    """

    budget_bits: int = 8
    index_pmf: np.ndarray | None = field(default=None, compare=False)

    @property
    def escape(self) -> int:
        return 2**self.budget_bits

    def _candidates(self, seed, level, chunk, size):
        return shared_rng(seed, stream_id(level, _REJ_CAND, chunk)).standard_normal((self.escape, size))

    def encode(self, q_mean, q_std, p_mean, p_std, seed: int = 0, level: int = 0):
        """Returns (RejectionCode, sample shaped like p_mean)."""
        m, s = standardize(q_mean, q_std, p_mean, p_std)
        indices = np.full(m.size, self.escape, np.int64)
        z = np.zeros(m.size)
        for chunk, start in enumerate(range(0, m.size, _CHUNK)):
            mc, sc = m[start : start + _CHUNK], s[start : start + _CHUNK]
            x = self._candidates(seed, level, chunk, mc.size)
            u = shared_rng(seed, stream_id(level, _REJ_UNIF, chunk)).random((self.escape, mc.size))
            found = indices[start : start + mc.size]
            # Only dimensions still rejecting stay in the loop (`act`).
            act = np.arange(mc.size)
            S_prev, p_prev = np.zeros(mc.size), np.zeros(mc.size)
            for i in range(self.escape):
                S_i = S_prev + (1 - p_prev)
                # w(x) = q'(x)/p'(x); p_i(x) = p'(x)·min(w, S_i) (Harsha et al.'s p_i in
                # closed form), so β_i(x) = α_i/((1 − p*_{i−1}) p') is this ratio:
                w = np.exp(np.minimum(_log_ratio(x[i, act], mc[act], sc[act]), 700.0))
                gain = np.minimum(w, S_i) - np.minimum(w, S_prev)
                beta = np.where(1 - p_prev < 1e-12, 1.0, gain / np.maximum(1 - p_prev, 1e-300))
                accept = u[i, act] < beta
                found[act[accept]] = i
                act, S_prev = act[~accept], S_i[~accept]
                if not act.size:
                    break
                p_prev = _mass_below(S_prev, mc[act], sc[act])
            z[start : start + mc.size] = x[np.minimum(found, self.escape - 1), np.arange(mc.size)]
            if act.size:
                # Budget exhausted: draw from what is left of q', ∝ p'·max(w − S, 0), by
                # rejection from q' (accept with 1 − S/w), so the sample stays exact.
                z[start + act] = self._residual(mc[act], sc[act], S_prev, seed, level, chunk)
        out = indices == self.escape
        escapes = _float16(z[out])
        z[out] = escapes.astype(np.float64)
        return RejectionCode(indices, escapes), _unstandardize(z, p_mean, p_std)

    @staticmethod
    def _residual(m, s, S, seed, level, chunk, tries: int = 256):
        rng = shared_rng(seed, stream_id(level, _OUTLIER, chunk))
        x = m + s * rng.standard_normal((tries, m.size))
        ok = rng.random((tries, m.size)) < 1 - S * np.exp(-_log_ratio(x, m, s))
        first = np.where(ok.any(axis=0), np.argmax(ok, axis=0), tries - 1)
        return x[first, np.arange(m.size)]

    def decode(self, code: RejectionCode, p_mean, p_std, seed: int = 0, level: int = 0):
        size = np.asarray(p_mean).size
        z = np.zeros(size)
        for chunk, start in enumerate(range(0, size, _CHUNK)):
            idx = code.indices[start : start + _CHUNK]
            x = self._candidates(seed, level, chunk, idx.size)
            z[start : start + idx.size] = x[np.minimum(idx, self.escape - 1), np.arange(idx.size)]
        z[code.indices == self.escape] = code.escapes.astype(np.float64)
        return _unstandardize(z, p_mean, p_std)

    # §3.5.1: range coding of the indices ---------------------------------------------

    def pmf(self) -> np.ndarray:
        return default_index_pmf(self.budget_bits) if self.index_pmf is None else self.index_pmf

    def code_bits(self, code: RejectionCode) -> float:
        """Information content of the indices under the table, plus 16 bits per escape."""
        pmf = self.pmf() / self.pmf().sum()
        return float(-np.log2(pmf[code.indices]).sum() + 16 * code.escapes.size)

    def pack(self, code: RejectionCode) -> bytes:
        from zoo import tfc_adapter

        tables = tfc_adapter.categorical_tables(self.pmf()[None])
        coded = tfc_adapter.encode_categorical(code.indices, np.zeros(code.indices.size), tables)
        return _varint(len(coded)) + coded + code.escapes.astype(">f2").tobytes()

    def unpack(self, data: bytes, num_dims: int) -> RejectionCode:
        from zoo import tfc_adapter

        length, pos = _read_varint(data, 0)
        if pos + length > len(data):
            raise ValueError("coded sample data is truncated")
        tables = tfc_adapter.categorical_tables(self.pmf()[None])
        indices = tfc_adapter.decode_categorical(data[pos : pos + length], np.zeros(num_dims), tables)
        indices = indices.astype(np.int64)
        if np.any((indices < 0) | (indices > self.escape)):
            raise ValueError("rejection index out of range")
        # The range coder's output is canonical: a string that is not exactly what these
        # indices encode to (e.g. decoded with a wrong length) is damaged.
        if tfc_adapter.encode_categorical(indices, np.zeros(num_dims), tables) != data[pos : pos + length]:
            raise ValueError("rejection indices are inconsistent with their code")
        raw = data[pos + length :]
        if len(raw) != 2 * int(np.sum(indices == self.escape)):
            raise ValueError("escaped samples do not match the indices")
        return RejectionCode(indices, np.frombuffer(raw, ">f2").astype(np.float16))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(5):
        if pos >= len(data):
            raise ValueError("coded sample data is truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("malformed length")


# Grouping (Algorithm 3's partition, shared by the greedy and importance samplers) ----


def partition(kl: np.ndarray, outlier_bits: float, group_bits: float, max_group: int) -> np.ndarray:
    """Raster-order segments: 0 = one outlier dimension, g ≥ 1 = a group of g dims.

    A dimension with KL > `outlier_bits` is an outlier; groups grow while their KL stays
    ≤ `group_bits` and their size ≤ `max_group` (Algorithm 3).
    """
    segments: list[int] = []
    size, total = 0, 0.0
    for value in kl.tolist():
        if value > outlier_bits:
            if size:
                segments.append(size)
                size, total = 0, 0.0
            segments.append(0)
        elif size and (total + value > group_bits or size + 1 > max_group):
            segments.append(size)
            size, total = 1, value
        else:
            size, total = size + 1, total + value
    if size:
        segments.append(size)
    return np.asarray(segments, np.int64)


@dataclass(frozen=True)
class GroupCode:
    """Segments (see `partition`), shards per group, indices, float16 outliers."""

    segments: np.ndarray
    shards: np.ndarray
    indices: np.ndarray
    outliers: np.ndarray


def _layout(segments: np.ndarray, num_dims: int):
    """(outlier dims, group matrix [groups, G] of dims with −1 padding) from segments."""
    if np.any(segments < 0) or int(np.maximum(segments, 1).sum()) != num_dims:
        raise ValueError("segments do not cover the latent")
    lengths = np.maximum(segments, 1)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    outliers = starts[segments == 0]
    sizes, gstarts = segments[segments > 0], starts[segments > 0]
    width = int(sizes.max()) if sizes.size else 1
    offs = np.arange(width)
    dims = np.where(offs < sizes[:, None], gstarts[:, None] + offs, -1)
    return outliers, dims


def _gather(v: np.ndarray, dims: np.ndarray, fill: float) -> np.ndarray:
    return np.where(dims >= 0, v[np.maximum(dims, 0)], fill)


class _GroupSampler:
    """What the greedy and importance samplers share: outliers, groups and packing."""

    max_group: int
    outlier_bits: float
    group_bits: float

    def _segment_width(self) -> int:
        return int(self.max_group).bit_length()

    def _outliers(self, m, s, outl, seed, level):
        noise = shared_rng(seed, stream_id(level, _OUTLIER)).standard_normal(m.size)[outl]
        return _float16(m[outl] + s[outl] * noise)

    def code_bits(self, code: GroupCode) -> float:
        return float(self._writer(code).num_bits)

    def pack(self, code: GroupCode) -> bytes:
        return self._writer(code).getvalue()

    def _writer(self, code: GroupCode) -> BitWriter:
        writer = BitWriter()
        writer.write([code.segments.size], 32)
        writer.write(code.segments, self._segment_width())
        self._write_indices(writer, code)
        writer.write(code.outliers.astype(np.float16).view(np.uint16), 16)
        return writer

    def unpack(self, data: bytes, num_dims: int) -> GroupCode:
        reader = BitReader(data)
        (count,) = reader.read(1, 32)
        if count > num_dims:
            raise ValueError("too many segments")
        segments = reader.read(int(count), self._segment_width())
        if np.any(segments > self.max_group):
            raise ValueError("group larger than the maximum group size")
        _layout(segments, num_dims)
        shards, indices = self._read_indices(reader, segments)
        outliers = reader.read(int(np.sum(segments == 0)), 16).astype(np.uint16).view(np.float16)
        reader.finish()
        return GroupCode(segments, shards, indices, outliers)


# Algorithm 2: greedy sampling ---------------------------------------------------------


@dataclass(frozen=True)
class GreedySampler(_GroupSampler):
    """Algorithm 2 per group: K_g shards of 2^B candidates, K_g ≈ KL_g / B.

    The thesis runs one greedy walk over a whole level; its cost grows with the
    number of dimensions times shards, so here the walk runs per group of dimensions
    (Algorithm 3's partition) with its own shard count, all groups in parallel.
    K_g = ceil(oversample·KL_g/B − 1/4) (0 shards: the prior mean).
    """

    shard_bits: int = 8
    group_bits: float = 32.0
    max_group: int = 64
    outlier_bits: float = 24.0
    oversample: float = 1.0

    @property
    def max_shards(self) -> int:
        return math.ceil(self.oversample * self.group_bits / self.shard_bits) + 1

    def _shards(self, kl_groups: np.ndarray) -> np.ndarray:
        k = np.ceil(self.oversample * kl_groups / self.shard_bits - 0.25)
        return np.clip(k, 0, self.max_shards).astype(np.int64)

    def _walk(self, m, s, dims, shards, seed, level, indices=None):
        """Runs the greedy walk (encoder: `indices` None, picks them) or replays it.

        Shard k of group g draws its 2^B candidates (float32, scaled by 1/√K_g) from its
        own stream (level, k, g), row after row: the decoder draws each stream only up
        to the chosen row, about half of what the encoder draws.
        """
        n, width = dims.shape
        z = np.zeros((n, width))
        mask = dims >= 0
        widths = mask.sum(axis=1)
        scale = (1.0 / np.sqrt(np.maximum(shards, 1))).astype(np.float32)
        chosen = np.zeros((n, int(shards.max(initial=0))), np.int64)
        candidates = 2**self.shard_bits

        def stream(k, g):
            return shared_rng(seed, stream_id(level, _GREEDY, k, g))

        if indices is not None:
            offsets = np.concatenate([[0], np.cumsum(shards)[:-1]]).astype(np.int64)
            for k in range(chosen.shape[1]):
                for g in np.flatnonzero(shards > k):
                    pick, w = int(indices[offsets[g] + k]), int(widths[g])
                    row = stream(k, g).standard_normal((pick + 1, w), np.float32)[-1]
                    chosen[g, k] = pick
                    z[g, :w] += row * scale[g]
            return z, chosen
        mg = _gather(m, dims, 0.0)
        wg = np.where(mask, 1.0 / _gather(s, dims, 1.0) ** 2, 0.0)
        for k in range(chosen.shape[1]):
            active = np.flatnonzero(shards > k)
            for start in range(0, active.size, _GROUP_CHUNK):
                g = active[start : start + _GROUP_CHUNK]
                wc = int(widths[g].max())
                e = np.zeros((g.size, candidates, wc), np.float32)
                for j, gj in enumerate(g):
                    e[j, :, : widths[gj]] = stream(k, gj).standard_normal(
                        (candidates, widths[gj]), np.float32) * scale[gj]
                # argmin_b Σ_d (z + e_b − m)²/s², i.e. argmax_b log q'(z + e_b).
                wgc = wg[g, :wc]
                diff = 2 * wgc * (z[g, :wc] - mg[g, :wc])
                score = np.einsum("nbd,nd->nb", e, diff) + np.einsum("nbd,nd->nb", e * e, wgc)
                pick = np.argmin(score, axis=1)
                chosen[g, k] = pick
                z[g, :wc] += e[np.arange(g.size), pick]
        return z, chosen

    def encode(self, q_mean, q_std, p_mean, p_std, seed: int = 0, level: int = 0):
        m, s = standardize(q_mean, q_std, p_mean, p_std)
        kl = (-np.log(s) + 0.5 * (s * s + m * m) - 0.5) / LN2
        segments = partition(kl, self.outlier_bits, self.group_bits, self.max_group)
        outl, dims = _layout(segments, m.size)
        shards = self._shards(_gather(kl, dims, 0.0).sum(axis=1))
        zg, chosen = self._walk(m, s, dims, shards, seed, level)
        indices = np.concatenate([chosen[i, : shards[i]] for i in range(len(shards))] + [[]])
        code = GroupCode(segments, shards, indices.astype(np.int64), self._outliers(m, s, outl, seed, level))
        return code, self._assemble(zg, dims, outl, code, p_mean, p_std)

    def decode(self, code: GroupCode, p_mean, p_std, seed: int = 0, level: int = 0):
        size = np.asarray(p_mean).size
        outl, dims = _layout(code.segments, size)
        if code.shards.size != dims.shape[0] or code.indices.size != int(code.shards.sum()):
            raise ValueError("greedy code does not match its groups")
        zg, _ = self._walk(None, None, dims, code.shards, seed, level, code.indices)
        return self._assemble(zg, dims, outl, code, p_mean, p_std)

    @staticmethod
    def _assemble(zg, dims, outl, code, p_mean, p_std):
        z = np.zeros(np.asarray(p_mean).size)
        z[dims[dims >= 0]] = zg[dims >= 0]
        z[outl] = code.outliers.astype(np.float64)
        return _unstandardize(z, p_mean, p_std)

    def _write_indices(self, writer, code):
        writer.write(code.shards, self.max_shards.bit_length())
        writer.write(code.indices, self.shard_bits)

    def _read_indices(self, reader, segments):
        shards = reader.read(int(np.sum(segments > 0)), self.max_shards.bit_length())
        if np.any(shards > self.max_shards):
            raise ValueError("too many shards")
        return shards, reader.read(int(shards.sum()), self.shard_bits)


# Algorithms 3 and 5: adaptive importance sampling ---------------------------------------


@dataclass(frozen=True)
class ImportanceSampler(_GroupSampler):
    """Algorithm 3: outliers as float16, groups of KL ≤ `group_bits`, ≤ `max_group` dims;
    per group one of 2^`index_bits` prior candidates, drawn ∝ q'/p' (Algorithm 5)."""

    index_bits: int = 12
    group_bits: float = 12.0
    max_group: int = 32
    outlier_bits: float = 12.0

    def _stream(self, seed, level, group):
        """Group `group`'s candidates, row after row, from a stream of its own."""
        return shared_rng(seed, stream_id(level, _IS_CAND, group))

    def _candidates(self, seed, level, groups, widths, wc):
        x = np.zeros((len(groups), 2**self.index_bits, wc))
        for j, g in enumerate(groups):
            x[j, :, : widths[j]] = self._stream(seed, level, g).standard_normal(
                (2**self.index_bits, widths[j]))
        return x

    def encode(self, q_mean, q_std, p_mean, p_std, seed: int = 0, level: int = 0):
        m, s = standardize(q_mean, q_std, p_mean, p_std)
        kl = (-np.log(s) + 0.5 * (s * s + m * m) - 0.5) / LN2
        segments = partition(kl, self.outlier_bits, self.group_bits, self.max_group)
        outl, dims = _layout(segments, m.size)
        mask = dims >= 0
        mg, sg = _gather(m, dims, 0.0), _gather(s, dims, 1.0)
        indices = np.zeros(dims.shape[0], np.int64)
        zg = np.zeros(dims.shape)
        for c, start in enumerate(range(0, dims.shape[0], _GROUP_CHUNK)):
            g = slice(start, start + _GROUP_CHUNK)
            widths = mask[g].sum(axis=1)
            wc = int(widths.max())
            x = self._candidates(seed, level, range(start, start + widths.size), widths, wc)
            mc, sc = mg[g, :wc][:, None], sg[g, :wc][:, None]
            logw = np.where(mask[g, :wc][:, None, :], _log_ratio(x, mc, sc), 0.0).sum(axis=2)
            # Sample j ∝ w_j with the Gumbel-max trick (encoder-private, seeded).
            gumbel = shared_rng(seed, stream_id(level, _IS_PICK, c)).gumbel(size=logw.shape)
            indices[g] = np.argmax(logw + gumbel, axis=1)
            zg[g, :wc] = x[np.arange(x.shape[0]), indices[g]]
        code = GroupCode(segments, np.zeros(0, np.int64), indices, self._outliers(m, s, outl, seed, level))
        return code, GreedySampler._assemble(zg, dims, outl, code, p_mean, p_std)

    def decode(self, code: GroupCode, p_mean, p_std, seed: int = 0, level: int = 0):
        size = np.asarray(p_mean).size
        outl, dims = _layout(code.segments, size)
        if code.indices.size != dims.shape[0]:
            raise ValueError("importance code does not match its groups")
        zg = np.zeros(dims.shape)
        widths = (dims >= 0).sum(axis=1)
        for g, pick in enumerate(code.indices):
            # Only up to the chosen row of the group's stream.
            rows = self._stream(seed, level, g).standard_normal((int(pick) + 1, int(widths[g])))
            zg[g, : widths[g]] = rows[-1]
        return GreedySampler._assemble(zg, dims, outl, code, p_mean, p_std)

    def _write_indices(self, writer, code):
        writer.write(code.indices, self.index_bits)

    def _read_indices(self, reader, segments):
        return np.zeros(0, np.int64), reader.read(int(np.sum(segments > 0)), self.index_bits)


# Schemes: which sampler codes which level ---------------------------------------------

#: Per level (1 = bottom, 2 = top) the sampler of each scheme; "is-gs" is the thesis's
#: choice (§3.4.3): importance sampling on level 2, greedy sampling on level 1.
SCHEMES = ("rejection", "greedy", "importance", "is-gs")


def scheme_samplers(scheme: str, index_pmf: np.ndarray | None = None) -> dict[int, object]:
    """{level: sampler} for a coding scheme name."""
    if scheme == "rejection":
        rej = RejectionSampler(index_pmf=index_pmf)
        return {1: rej, 2: rej}
    if scheme == "greedy":
        return {1: GreedySampler(), 2: GreedySampler()}
    if scheme == "importance":
        return {1: ImportanceSampler(), 2: ImportanceSampler()}
    if scheme == "is-gs":
        return {1: GreedySampler(), 2: ImportanceSampler()}
    raise ValueError(f"unknown coding scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
