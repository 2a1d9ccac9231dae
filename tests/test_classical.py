"""Classical baseline codecs: real files out, images back, quality knobs that work."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from recipes import classical


def _photo_like(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth gradients with texture and an edge: compressible, but not trivially."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([
        128 + 90 * np.sin(xx / 11.0) * np.cos(yy / 17.0),
        60 + 1.2 * xx,
        200 - 1.5 * yy + 40 * (xx > width / 2),
    ], axis=-1)
    image += rng.normal(0, 6, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("name", classical.available_codecs())
def test_round_trip_and_quality_knob(name):
    codec = classical.get_codec(name)
    image = _photo_like()
    low, high = codec.qualities[1], codec.qualities[-2]
    small, large = codec.encode(image, low), codec.encode(image, high)
    decoded_small, decoded_large = codec.decode(small), codec.decode(large)
    for decoded in (decoded_small, decoded_large):
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
    # A higher quality setting must spend more bytes and give a closer image.
    assert len(large) > len(small) > 0
    assert _psnr(image, decoded_large) > _psnr(image, decoded_small) + 1.0
    assert _psnr(image, decoded_large) > 30.0


def test_every_codec_is_available_here():
    # The project's environment ships all five; a missing plugin should not pass silently.
    assert classical.available_codecs() == ["jpeg", "webp", "jpeg2000", "avif", "heif"]


def test_odd_sizes_come_back_whole():
    image = _photo_like(37, 53, seed=1)
    for name in classical.available_codecs():
        codec = classical.get_codec(name)
        assert codec.decode(codec.encode(image, codec.qualities[3])).shape == image.shape, name


def test_jpeg_is_420_and_jpeg2000_hits_its_target_rate():
    image = _photo_like(128, 128)
    jpeg = classical.get_codec("jpeg").encode(image, 75)
    with Image.open(io.BytesIO(jpeg)) as decoded:
        assert JpegImagePlugin.get_sampling(decoded) == 2  # 4:2:0
    target_bpp = 1.0
    data = classical.get_codec("jpeg2000").encode(image, target_bpp)
    bpp = len(data) * 8 / image[..., 0].size
    assert 0.7 * target_bpp < bpp < 1.1 * target_bpp


def test_heif_is_hevc_in_an_heic_file():
    data = classical.get_codec("heif").encode(_photo_like(), 40)
    assert data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1")


def test_names_aliases_and_quality_specs():
    assert classical.get_codec("JPG").name == "jpeg"
    assert classical.get_codec("j2k").name == "jpeg2000"
    assert classical.get_codec("bpg").name == "heif"
    with pytest.raises(ValueError, match="unknown classical codec"):
        classical.get_codec("jpegxl9")
    assert classical.parse_qualities(["jpeg=10,50", "webp=75"]) == {
        "jpeg": (10.0, 50.0), "webp": (75.0,)
    }
    with pytest.raises(ValueError, match="codec=q1"):
        classical.parse_qualities(["jpeg"])


def test_encode_refuses_non_rgb_uint8():
    with pytest.raises(ValueError, match="uint8"):
        classical.get_codec("jpeg").encode(np.zeros((8, 8, 3), np.float32), 50)
