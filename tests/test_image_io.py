"""Images in: every mode follows the documented rule; images out: PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo import image_io


def _png(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **kw)
    return buf.getvalue()


RGB = (np.arange(5 * 7 * 3).reshape(5, 7, 3) * 3 % 256).astype(np.uint8)


def test_rgb_is_used_as_is():
    np.testing.assert_array_equal(zoo.read_image(_png(Image.fromarray(RGB))), RGB)


def test_grayscale_and_one_bit_are_replicated():
    gray = RGB[..., 0]
    out = zoo.read_image(_png(Image.fromarray(gray, "L")))
    assert out.shape == (5, 7, 3) and (out == gray[..., None]).all()
    assert zoo.read_image(_png(Image.fromarray(gray > 100))).shape == (5, 7, 3)


def test_palette_is_expanded():
    image = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = zoo.read_image(_png(image))
    np.testing.assert_array_equal(out, np.asarray(image.convert("RGB")))


def test_sixteen_bit_is_scaled():
    values = np.array([[0, 257, 65535]], np.uint16)
    out = zoo.read_image(_png(Image.fromarray(values)))
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255])


def test_alpha_rules():
    rgba = np.dstack([RGB, np.full((5, 7), 255, np.uint8)])
    np.testing.assert_array_equal(zoo.read_image(_png(Image.fromarray(rgba, "RGBA"))), RGB)
    rgba[0, 0, 3] = 0
    data = _png(Image.fromarray(rgba, "RGBA"))
    with pytest.raises(zoo.ImageError, match="transparency"):
        zoo.read_image(data)
    np.testing.assert_array_equal(zoo.read_image(data, alpha="drop"), RGB)
    assert tuple(zoo.read_image(data, alpha="white")[0, 0]) == (255, 255, 255)


def test_interlaced_and_cmyk(tmp_path):
    path = tmp_path / "i.jpg"
    Image.fromarray(RGB).convert("CMYK").save(path, format="JPEG")
    assert zoo.read_image(path).shape == (5, 7, 3)


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_non_images_are_refused(data):
    with pytest.raises(zoo.ImageError):
        zoo.read_image(data)


def test_float_images_and_missing_files_are_refused(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((3, 3), np.float32), "F").save(buf, format="TIFF")
    with pytest.raises(zoo.ImageError, match="floating-point"):
        zoo.read_image(buf.getvalue())
    with pytest.raises(zoo.ImageError, match="cannot open"):
        zoo.read_image(tmp_path / "missing.png")


def test_oversized_images_are_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(image_io, "MAX_PIXELS", 20)
    with pytest.raises(zoo.ImageError, match="are not supported"):
        zoo.read_image(_png(Image.fromarray(RGB)))


def test_png_output_round_trips(tmp_path):
    image_io.write_png(RGB, tmp_path / "out.png")
    np.testing.assert_array_equal(zoo.read_image(tmp_path / "out.png"), RGB)
