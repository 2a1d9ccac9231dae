"""The compressed file format (`.lic`), version 3.

All integers big-endian; `varint` is unsigned LEB128.

    offset  field
    0       magic            4 bytes  b"\\x89LIC"
    4       version          u8       3 (1 and 2 are read too)
    5       flags            u8       bit 0: a rate parameter follows λ
    6       model name       u8 length + UTF-8      e.g. "hyperprior"
    .       metric           u8 length + ASCII      "mse" | "ms-ssim"
    .       λ                f64
    .       rate             f64 (only if flags bit 0): λ or β of a variable-rate model
    .       fingerprint      8 bytes  first 8 bytes of the weights' sha256 fingerprint
    .       height, width    varint, varint
    .       payload count    u8
    .       payload lengths  varint each
    .       payloads         the range coder's byte strings, concatenated
    end-4   checksum         u32, CRC-32 of every byte before it

Overhead: 29 bytes + len(name) + len(metric) + the varints (image sides and payload
lengths, 1 byte below 128, 2 below 16384, 3 below 2 MiB), and 8 more with a rate
parameter. A 768×512 image coded by "hyperprior"/"mse" in two payloads of 128 B to
16 KiB costs 50 bytes.
Anything that does not parse exactly, including trailing bytes, raises
`BitstreamError`; the checksum is verified before any field is trusted.

Versions: 3 (written), 2 and 1 share this layout. Version 3 says how the payloads were
made: the encoder padded the image at the bottom and right to a multiple of the model's
total downsampling factor (`CompressionModel.stride`: 16, or 64 with a side path) before
the analysis, and the decoder decodes at that size and crops. Version 1 and 2 encoders
ran the analysis on the unpadded image, whose sides the 'same' convolutions misalign
unless they are multiples of the stride; their files still decode exactly as they did
(at the latent sizes their encoder made). Version 2 files of the hyperprior family
(hyperprior, mean-scale, joint, channel-wise, hierarchical and their variable-rate forms)
end with one more payload, the index guard (`zoo.index_guard`); version 1 files of those
models may lack it and then decode without one.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from zoo.errors import BitstreamError

MAGIC = b"\x89LIC"
VERSION = 3
SUPPORTED_VERSIONS = (1, 2, 3)
#: The first version whose encoder padded images to the model's stride.
PADDED_SINCE = 3
FINGERPRINT_BYTES = 8
#: Largest image a file may describe; anything larger is refused before decoding.
MAX_SIDE = 1 << 16
MAX_PAYLOADS = 64


@dataclass(frozen=True)
class Header:
    """Everything a decoder needs to know before touching the payloads."""

    model: str
    metric: str
    lmbda: float
    fingerprint: bytes
    height: int
    width: int
    rate: float | None = None
    version: int = VERSION

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError("file is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def f64(self) -> float:
        return struct.unpack(">d", self.take(8))[0]

    def varint(self) -> int:
        value = shift = 0
        for _ in range(5):  # 35 bits: more than any valid size
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise BitstreamError("malformed length field")

    def text(self) -> str:
        raw = self.take(self.u8())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BitstreamError("malformed text field") from None


def pack(header: Header, payloads: list[bytes], version: int = VERSION) -> bytes:
    """Serializes a header and payloads into file bytes (of format `version`)."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"cannot write format version {version}")
    name = header.model.encode("utf-8")
    metric = header.metric.encode("ascii")
    if len(name) > 255 or len(metric) > 255:
        raise ValueError("model name or metric too long")
    if len(header.fingerprint) != FINGERPRINT_BYTES:
        raise ValueError("fingerprint must be 8 bytes")
    if not 0 < len(payloads) <= MAX_PAYLOADS:
        raise ValueError("bad payload count")
    flags = 1 if header.rate is not None else 0
    out = bytearray(MAGIC)
    out += bytes([version, flags, len(name)]) + name + bytes([len(metric)]) + metric
    out += struct.pack(">d", header.lmbda)
    if header.rate is not None:
        out += struct.pack(">d", header.rate)
    out += header.fingerprint + _varint(header.height) + _varint(header.width)
    out += bytes([len(payloads)]) + b"".join(_varint(len(p)) for p in payloads)
    out += b"".join(payloads)
    out += struct.pack(">I", zlib.crc32(out))
    return bytes(out)


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Parses and verifies file bytes; raises `BitstreamError` on anything amiss."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC) or data[:4] != MAGIC:
        raise BitstreamError("not a lic-zoo compressed file (bad magic number)")
    if len(data) < 6:
        raise BitstreamError("file is truncated")
    version = data[4]
    if version not in SUPPORTED_VERSIONS:
        raise BitstreamError(
            f"unsupported format version {version}; this library reads {SUPPORTED_VERSIONS}"
        )
    if len(data) < 10:
        raise BitstreamError("file is truncated")
    body, (crc,) = data[:-4], struct.unpack(">I", data[-4:])
    if zlib.crc32(body) != crc:
        raise BitstreamError("checksum mismatch: the file is corrupted or truncated")
    r = _Reader(body)
    r.take(5)
    flags = r.u8()
    if flags & ~1:
        raise BitstreamError(f"unknown flags {flags:#x}")
    model = r.text()
    metric = r.text()
    lmbda = r.f64()
    rate = r.f64() if flags & 1 else None
    fingerprint = r.take(FINGERPRINT_BYTES)
    height, width = r.varint(), r.varint()
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise BitstreamError(f"invalid image size {height}×{width}")
    count = r.u8()
    if not 0 < count <= MAX_PAYLOADS:
        raise BitstreamError(f"invalid payload count {count}")
    lengths = [r.varint() for _ in range(count)]
    payloads = [r.take(n) for n in lengths]
    if r.pos != len(body):
        raise BitstreamError(f"{len(body) - r.pos} unexpected trailing bytes")
    return Header(model, metric, lmbda, fingerprint, height, width, rate, version), payloads


def peek(data: bytes) -> Header:
    """The header of a file (fully verified)."""
    return unpack(data)[0]
