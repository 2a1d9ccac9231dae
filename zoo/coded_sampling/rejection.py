"""Algorithm 1 (Flamich 2019, §3.4.1): bit-budgeted, per-dimension parallel rejection
sampling, with range-coded indices and float16 escapes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from .common import (
    OUTLIER,
    REJ_CAND,
    REJ_UNIF,
    log_ratio,
    read_varint,
    shared_rng,
    standardize,
    stream_id,
    to_float16,
    unstandardize,
    varint,
)

_CHUNK = 4096  # dimensions per rejection-sampling stream


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
        return shared_rng(seed, stream_id(level, REJ_CAND, chunk)).standard_normal(
            (self.escape, size)
        )

    def encode(self, q_mean, q_std, p_mean, p_std, seed: int = 0, level: int = 0):
        """Returns (RejectionCode, sample shaped like p_mean)."""
        m, s = standardize(q_mean, q_std, p_mean, p_std)
        indices = np.full(m.size, self.escape, np.int64)
        z = np.zeros(m.size)
        for chunk, start in enumerate(range(0, m.size, _CHUNK)):
            mc, sc = m[start : start + _CHUNK], s[start : start + _CHUNK]
            x = self._candidates(seed, level, chunk, mc.size)
            u = shared_rng(seed, stream_id(level, REJ_UNIF, chunk)).random((self.escape, mc.size))
            found = indices[start : start + mc.size]
            # Only dimensions still rejecting stay in the loop (`act`).
            act = np.arange(mc.size)
            S_prev, p_prev = np.zeros(mc.size), np.zeros(mc.size)
            for i in range(self.escape):
                S_i = S_prev + (1 - p_prev)
                # w(x) = q'(x)/p'(x); p_i(x) = p'(x)·min(w, S_i) (Harsha et al.'s p_i in
                # closed form), so β_i(x) = α_i/((1 − p*_{i−1}) p') is this ratio:
                w = np.exp(np.minimum(log_ratio(x[i, act], mc[act], sc[act]), 700.0))
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
        escapes = to_float16(z[out])
        z[out] = escapes.astype(np.float64)
        return RejectionCode(indices, escapes), unstandardize(z, p_mean, p_std)

    @staticmethod
    def _residual(m, s, S, seed, level, chunk, tries: int = 256):
        rng = shared_rng(seed, stream_id(level, OUTLIER, chunk))
        x = m + s * rng.standard_normal((tries, m.size))
        ok = rng.random((tries, m.size)) < 1 - S * np.exp(-log_ratio(x, m, s))
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
        return unstandardize(z, p_mean, p_std)

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
        return varint(len(coded)) + coded + code.escapes.astype(">f2").tobytes()

    def unpack(self, data: bytes, num_dims: int) -> RejectionCode:
        from zoo import tfc_adapter

        length, pos = read_varint(data, 0)
        if pos + length > len(data):
            raise ValueError("coded sample data is truncated")
        tables = tfc_adapter.categorical_tables(self.pmf()[None])
        indices = tfc_adapter.decode_categorical(
            data[pos : pos + length], np.zeros(num_dims), tables
        )
        indices = indices.astype(np.int64)
        if np.any((indices < 0) | (indices > self.escape)):
            raise ValueError("rejection index out of range")
        # The range coder's output is canonical: a string that is not exactly what these
        # indices encode to (e.g. decoded with a wrong length) is damaged.
        if (
            tfc_adapter.encode_categorical(indices, np.zeros(num_dims), tables)
            != data[pos : pos + length]
        ):
            raise ValueError("rejection indices are inconsistent with their code")
        raw = data[pos + length :]
        if len(raw) != 2 * int(np.sum(indices == self.escape)):
            raise ValueError("escaped samples do not match the indices")
        return RejectionCode(indices, np.frombuffer(raw, ">f2").astype(np.float16))
