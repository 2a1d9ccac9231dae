"""Reading and writing images, with one documented rule per kind of input.

| input                                   | rule                                         |
| --------------------------------------- | -------------------------------------------- |
| RGB, 8 bit                              | used as is                                   |
| grayscale (L, 1-bit)                    | replicated to three channels                 |
| palette (P)                             | expanded to RGB (alpha rule if transparent)  |
| CMYK, YCbCr, LAB, HSV                   | converted to RGB by Pillow                   |
| 16/32-bit integer (I;16, I, RGB;16 …)   | scaled to 8 bits: round(v · 255 / max)       |
| 1/2/4-bit gray and palettes             | scaled: round(v · 255 / (2^bits − 1))        |
| alpha (RGBA, LA, PA, transparent P,     | fully opaque: alpha dropped; otherwise       |
|   tRNS colour key on gray or RGB)       |                                              |
|                                         | refused unless `alpha="drop"` (discard it)   |
|                                         | or `alpha="white"` (composite on white)      |
| floating point (F)                      | refused                                      |
| EXIF orientation                        | applied                                      |
| animations / multi-page files           | first frame                                  |
| not an image, or damaged                | refused                                      |

Refusals raise `ImageError`. Output is always an 8-bit RGB PNG. The size is checked
from the header, before any pixel is decoded: an image above `MAX_PIXELS` costs no
memory. 16-bit PNGs with colour or alpha are decoded at full depth (Pillow would keep
only the high byte) so the scaling rule holds for them too.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zoo.errors import ImageError

ALPHA_RULES = ("error", "drop", "white")
#: File suffixes the recipes take for image files in a folder, training and evaluation
#: alike (`recipes.sources`); every one reads through Pillow (GIF: its first frame).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".ppm", ".pgm", ".bmp", ".gif", ".tif", ".tiff")
#: Largest image (pixels) the library reads or codes: 2^27, e.g. 16384×8192 or 12000×11000
#: (the transforms run in tiles, `zoo.tiling`; a model may set a lower `max_pixels`).
MAX_PIXELS = 2**27


def _register_heif() -> None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # HEIF input is optional.
        pass


def _scale_to_uint8(array: np.ndarray, max_value: int) -> np.ndarray:
    scaled = np.round(array.astype(np.float64) * (255.0 / max_value))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _high_depth_to_rgb(image: Image.Image) -> np.ndarray:
    array = np.asarray(image)
    max_value = 65535 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255
    if image.mode == "I" and array.max(initial=0) > 65535:
        max_value = 2**32 - 1
    gray = _scale_to_uint8(np.clip(array, 0, None), max_value)
    return np.repeat(gray[..., None], 3, axis=-1) if gray.ndim == 2 else gray[..., :3]


#: Byte alignment of `aligned` arrays: TensorFlow's, so that `zoo.codec` hands the pixels
#: to its graphs without a copy (a 100 MP photo is 300 MB).
ALIGNMENT = 64


def aligned(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, writeable copy of `array` starting on an `ALIGNMENT`-byte boundary
    (the array itself if it already is one)."""
    if (array.flags.c_contiguous and array.flags.writeable
            and array.ctypes.data % ALIGNMENT == 0):
        return array
    buffer = np.empty(array.nbytes + ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    out = buffer[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
    np.copyto(out, array)
    return out


def to_rgb_array(image: Image.Image, alpha: str = "error") -> np.ndarray:
    """Applies the module's rules to a Pillow image; returns uint8 [H, W, 3] (`aligned`)."""
    return aligned(_to_rgb_array(image, alpha))


def _to_rgb_array(image: Image.Image, alpha: str) -> np.ndarray:
    if alpha not in ALPHA_RULES:
        raise ValueError(f"alpha must be one of {ALPHA_RULES}")
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "F":
        raise ImageError("floating-point images are not supported; convert to 8 or 16 bits")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return _high_depth_to_rgb(image)
    if mode == "P" or (mode in ("L", "RGB") and "transparency" in image.info):
        # A tRNS chunk (palette alphas, or a gray/RGB colour key) is transparency.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode not in ("RGB", "RGBA", "LA", "L", "1"):
        image = image.convert("RGB")
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        array = np.asarray(rgba)
        opaque = bool(np.all(array[..., 3] == 255))
        if not opaque and alpha == "error":
            raise ImageError(
                "image has transparency, which the codecs cannot store; "
                "pass alpha='drop' (--alpha drop) to discard it or 'white' to flatten it"
            )
        if alpha == "white" and not opaque:
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
        return np.ascontiguousarray(array[..., :3])
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))  # no copy


def read_image(source: str | os.PathLike | bytes, alpha: str = "error") -> np.ndarray:
    """Reads any image Pillow can open and returns uint8 [H, W, 3] by the module's rules."""
    _register_heif()
    name = "image bytes" if isinstance(source, bytes) else str(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    except OSError as exc:
        raise ImageError(f"cannot open {name}: {exc.strerror}") from None
    with stream, warnings.catch_warnings():
        # Pillow warns above 89 MP; the library's own limit (checked from the header
        # below) replaces its check, and errors beyond 2× Pillow's are above ours.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(stream)
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(
                    f"{name} is {image.width}×{image.height}; images above "
                    f"{MAX_PIXELS} pixels ({MAX_PIXELS / 1e6:.0f} MP) are not supported"
                )
            deep = _deep_png(stream)
            if deep is not None:
                if not _png_complete(stream):
                    raise ImageError(f"{name} is a truncated PNG (no IEND chunk)")
                return _read_deep_png(stream, name, alpha, image)
            image.load()
            if image.format == "PNG" and not _png_complete(stream):
                raise ImageError(f"{name} is a truncated PNG (no IEND chunk)")
        except ImageError:
            raise
        except UnidentifiedImageError:
            raise ImageError(f"{name} is not an image Pillow can read") from None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{name} could not be decoded: {exc}") from None
        return to_rgb_array(image, alpha)


def _png_complete(stream) -> bool:
    """Whether the PNG ends with its IEND chunk: Pillow alone accepts a cut checksum."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(max(0, size - 4096))
    return b"IEND\xaeB`\x82" in stream.read()


def _deep_png(stream) -> int | None:
    """The PNG colour type if the stream is a 16-bit PNG with colour or alpha, else None."""
    position = stream.tell()
    stream.seek(0)
    head = stream.read(26)
    stream.seek(position)
    if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        depth, color_type = head[24], head[25]
        if depth == 16 and color_type in (2, 4, 6):
            return color_type
    return None


_EXIF_ORIENTATION = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}


def _read_deep_png(stream, name: str, alpha: str, image: Image.Image) -> np.ndarray:
    """16-bit RGB / gray+alpha / RGBA PNG at full depth, then the module's rules."""
    import tensorflow as tf  # Already loaded by the codecs; only needed for this case.

    if alpha not in ALPHA_RULES:
        raise ValueError(f"alpha must be one of {ALPHA_RULES}")
    stream.seek(0)
    try:
        array = tf.io.decode_png(stream.read(), channels=0, dtype=tf.uint16).numpy()
    except (tf.errors.OpError, ValueError) as exc:
        message = getattr(exc, "message", str(exc)).split("\n")[0]
        raise ImageError(f"{name} could not be decoded: {message}") from None
    color = _scale_to_uint8(array[..., :-1] if array.shape[-1] in (2, 4) else array, 65535)
    if color.shape[-1] == 1:
        color = np.repeat(color, 3, axis=-1)
    if array.shape[-1] in (2, 4) and not np.all(array[..., -1] == 65535):
        if alpha == "error":
            raise ImageError(
                "image has transparency, which the codecs cannot store; "
                "pass alpha='drop' (--alpha drop) to discard it or 'white' to flatten it"
            )
        if alpha == "white":
            a = array[..., -1:].astype(np.float64) / 65535.0
            color = np.round(color * a + 255.0 * (1.0 - a)).astype(np.uint8)
    orientation = image.getexif().get(0x0112, 1)
    color = _EXIF_ORIENTATION.get(orientation, lambda a: a)(color)
    return np.ascontiguousarray(color)


def write_png(array: np.ndarray, path: str | os.PathLike) -> None:
    """Writes uint8 [H, W, 3] as PNG (atomically: a partial file is never left behind)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    Image.fromarray(np.asarray(array, np.uint8), "RGB").save(tmp, format="PNG")
    os.replace(tmp, path)


def check_image_array(image: np.ndarray) -> np.ndarray:
    """Validates an in-memory image for the codecs: uint8 [H, W, 3], H, W ≥ 1."""
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception:
            raise ImageError(f"expected an image array, got {type(image).__name__}") from None
    if image.dtype != np.uint8:
        raise ImageError(f"expected uint8 pixels, got {image.dtype}; use zoo.read_image")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ImageError(f"expected an H×W×3 RGB array, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image is empty: shape {image.shape}")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise ImageError(
            f"image of {image.shape[0]}×{image.shape[1]} exceeds {MAX_PIXELS} pixels"
        )
    return np.ascontiguousarray(image)
