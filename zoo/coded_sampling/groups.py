"""Group samplers (Flamich 2019, Algorithms 2, 3 and 5): the KL partition into outliers
and groups, greedy sampling and adaptive importance sampling."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .common import (
    GREEDY,
    IS_CAND,
    IS_PICK,
    LN2,
    OUTLIER,
    BitReader,
    BitWriter,
    log_ratio,
    shared_rng,
    standardize,
    stream_id,
    to_float16,
    unstandardize,
)

_GROUP_CHUNK = 64  # groups per greedy / importance stream


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
        noise = shared_rng(seed, stream_id(level, OUTLIER)).standard_normal(m.size)[outl]
        return to_float16(m[outl] + s[outl] * noise)

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
            return shared_rng(seed, stream_id(level, GREEDY, k, g))

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
                    e[j, :, : widths[gj]] = (
                        stream(k, gj).standard_normal((candidates, widths[gj]), np.float32)
                        * scale[gj]
                    )
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
        code = GroupCode(
            segments, shards, indices.astype(np.int64), self._outliers(m, s, outl, seed, level)
        )
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
        return unstandardize(z, p_mean, p_std)

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
        return shared_rng(seed, stream_id(level, IS_CAND, group))

    def _candidates(self, seed, level, groups, widths, wc):
        x = np.zeros((len(groups), 2**self.index_bits, wc))
        for j, g in enumerate(groups):
            x[j, :, : widths[j]] = self._stream(seed, level, g).standard_normal(
                (2**self.index_bits, widths[j])
            )
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
            logw = np.where(mask[g, :wc][:, None, :], log_ratio(x, mc, sc), 0.0).sum(axis=2)
            # Sample j ∝ w_j with the Gumbel-max trick (encoder-private, seeded).
            gumbel = shared_rng(seed, stream_id(level, IS_PICK, c)).gumbel(size=logw.shape)
            indices[g] = np.argmax(logw + gumbel, axis=1)
            zg[g, :wc] = x[np.arange(x.shape[0]), indices[g]]
        code = GroupCode(
            segments, np.zeros(0, np.int64), indices, self._outliers(m, s, outl, seed, level)
        )
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
