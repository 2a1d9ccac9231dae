"""Shared pieces of the coded samplers: the shared random streams, KL in bits, the
prior standardization, and fixed-width bit and varint packing."""

from __future__ import annotations

import math

import numpy as np

LN2 = math.log(2.0)
#: Kinds of random streams (part of the stream id).
REJ_CAND, REJ_UNIF, OUTLIER, GREEDY, IS_CAND, IS_PICK = range(1, 7)


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


def unstandardize(z, p_mean, p_std) -> np.ndarray:
    p_mean = np.asarray(p_mean, np.float64)
    return p_mean + np.asarray(p_std, np.float64) * z.reshape(p_mean.shape)


def to_float16(x: np.ndarray) -> np.ndarray:
    """The 16-bit quantization of outlier samples (standardized, so float16 covers them)."""
    return np.clip(x, -65504.0, 65504.0).astype(np.float16)


def log_ratio(x, m, s):
    """log q'(x) − log p'(x) for q' = N(m, s), p' = N(0, 1)."""
    return -0.5 * ((x - m) / s) ** 2 - np.log(s) + 0.5 * x * x


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


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
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
