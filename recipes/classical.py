"""Classical image codecs as baselines: real files encoded to bytes and decoded back.

| name       | library                        | settings                                        |
| ---------- | ------------------------------ | ----------------------------------------------- |
| `jpeg`     | Pillow / libjpeg(-turbo)       | 4:2:0, optimized Huffman tables, quality 0–100  |
| `webp`     | Pillow / libwebp               | lossy, method 6 (slowest, best), quality 0–100  |
| `jpeg2000` | Pillow / OpenJPEG              | 9/7 wavelet, RCT, raw codestream; the quality   |
|            |                                | is the target bpp (quality_mode="rates")        |
| `avif`     | Pillow's AVIF plugin / libavif | 4:2:0, speed 6, quality 0–100                   |
| `heif`     | pillow_heif / libheif + x265   | HEVC intra (the codec inside BPG), 4:2:0,       |
|            |                                | quality 0–100                                   |

Sizes are those of the complete files each library writes (headers included), as a
user would store them. The quality ladders span roughly 0.1–2.5 bpp on Kodak.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Bits per pixel of the uncompressed 8-bit RGB input, to turn a target bpp into a ratio.
_RAW_BPP = 24.0


@dataclass(frozen=True)
class ClassicalCodec:
    """One classical codec: encode(image, quality) -> bytes, decode(bytes) -> image."""

    name: str
    description: str
    qualities: tuple[float, ...]
    encode_fn: Callable[[Image.Image, float], bytes]
    decode_fn: Callable[[bytes], np.ndarray]
    #: What the quality knob means (shown in tables and JSON).
    quality_name: str = "quality"

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        """uint8 [H, W, 3] -> file bytes."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected uint8 [H, W, 3], got {image.dtype} {image.shape}")
        return self.encode_fn(Image.fromarray(image, "RGB"), quality)

    def decode(self, data: bytes) -> np.ndarray:
        """File bytes -> uint8 [H, W, 3]."""
        return self.decode_fn(data)


def _pillow_encoder(fmt: str, **options) -> Callable[[Image.Image, float], bytes]:
    def encode(image: Image.Image, quality: float) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, quality=int(round(quality)), **options)
        return buffer.getvalue()

    return encode


def _pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _jpeg2000_encode(image: Image.Image, target_bpp: float) -> bytes:
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG2000",
        quality_mode="rates",
        quality_layers=[_RAW_BPP / target_bpp],  # OpenJPEG takes a compression ratio.
        irreversible=True,
        mct=1,
        no_jp2=True,
    )
    return buffer.getvalue()


def _heif_encode(image: Image.Image, quality: float) -> bytes:
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=int(round(quality)), chroma=420)
    return buffer.getvalue()


def _heif_decode(data: bytes) -> np.ndarray:
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    return np.asarray(heif[0].to_pillow().convert("RGB"))


CODECS: dict[str, ClassicalCodec] = {
    codec.name: codec
    for codec in (
        ClassicalCodec(
            "jpeg", "JPEG 4:2:0 (Pillow/libjpeg, optimized Huffman)",
            (10, 20, 30, 45, 60, 75, 85, 95),
            _pillow_encoder("JPEG", subsampling="4:2:0", optimize=True), _pillow_decode,
        ),
        ClassicalCodec(
            "webp", "WebP lossy (Pillow/libwebp, method 6)",
            (5, 15, 30, 50, 70, 85, 95),
            _pillow_encoder("WEBP", method=6), _pillow_decode,
        ),
        ClassicalCodec(
            "jpeg2000", "JPEG 2000 (Pillow/OpenJPEG, 9/7 wavelet, target rate)",
            (0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.25),
            _jpeg2000_encode, _pillow_decode, quality_name="target bpp",
        ),
        ClassicalCodec(
            "avif", "AVIF 4:2:0 (Pillow/libavif, speed 6)",
            (10, 25, 40, 55, 65, 75, 85, 92),
            _pillow_encoder("AVIF", subsampling="4:2:0", speed=6), _pillow_decode,
        ),
        ClassicalCodec(
            "heif", "HEIF/HEVC intra 4:2:0 (pillow_heif/x265, the codec inside BPG)",
            (10, 20, 30, 40, 50, 58, 66),
            _heif_encode, _heif_decode,
        ),
    )
}


def available_codecs() -> list[str]:
    """Names of the classical codecs this installation can run."""
    from PIL import features

    names = ["jpeg"]
    if features.check("webp"):
        names.append("webp")
    if features.check("jpg_2000"):
        names.append("jpeg2000")
    if features.check("avif"):
        names.append("avif")
    try:
        import pillow_heif

        if pillow_heif.libheif_info().get("encoders", {}).get("x265"):
            names.append("heif")
    except ImportError:
        pass
    return names


def get_codec(name: str) -> ClassicalCodec:
    """The codec called `name` (case-insensitive; `jpg`, `j2k`, `jp2`, `bpg` accepted)."""
    aliases = {"jpg": "jpeg", "j2k": "jpeg2000", "jp2": "jpeg2000", "hevc": "heif", "bpg": "heif"}
    key = aliases.get(name.lower(), name.lower())
    if key not in CODECS:
        raise ValueError(f"unknown classical codec {name!r}; choose from {', '.join(CODECS)}")
    if key not in available_codecs():
        raise ValueError(f"codec {key} is not available in this Pillow/pillow_heif build")
    return CODECS[key]


def parse_qualities(specs: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """Parses ["jpeg=10,50,90", "webp=75"] into {"jpeg": (10, 50, 90), "webp": (75,)}."""
    parsed = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not values.strip():
            raise ValueError(f"quality spec {spec!r} is not of the form codec=q1,q2,...")
        parsed[get_codec(name.strip()).name] = tuple(float(v) for v in values.split(","))
    return parsed
