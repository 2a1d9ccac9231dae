"""Hostile images: a PNG writer for every colour type, depth and interlace, and the cases.

A section of the reliability suite, `python -m recipes.reliability`.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from typing import Any

import numpy as np

from recipes.faults.workers import Worker


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _scanlines(samples: np.ndarray, depth: int, channels: int, first_filter: int) -> bytes:
    """Packs [h, w, channels] samples into filtered scanlines (filter type cycles per row)."""
    h, w = samples.shape[:2]
    if depth < 8:
        per_byte = 8 // depth
        padded = np.zeros((h, -(-w // per_byte) * per_byte), np.uint8)
        padded[:, :w] = samples[..., 0]
        groups = padded.reshape(h, -1, per_byte).astype(np.uint16)
        shifts = (8 - depth * (np.arange(per_byte) + 1)).astype(np.uint16)
        raw = np.bitwise_or.reduce(groups << shifts, axis=-1).astype(np.uint8)
    elif depth == 8:
        raw = samples.reshape(h, w * channels).astype(np.uint8)
    else:
        raw = samples.astype(">u2").reshape(h, w * channels).view(np.uint8).reshape(h, -1)
    bpp = max(1, depth * channels // 8)
    out = bytearray()
    prior = np.zeros(raw.shape[1], np.int32)
    for y in range(h):
        row = raw[y].astype(np.int32)
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]]) if row.size > bpp else (
            np.zeros_like(row))
        upleft = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]]) if row.size > bpp else (
            np.zeros_like(row))
        kind = (first_filter + y) % 5
        predicted = [0, left, prior, (left + prior) // 2, _paeth(left, prior, upleft)][kind]
        out.append(kind)
        out += ((row - predicted) % 256).astype(np.uint8).tobytes()
        prior = row
    return bytes(out)


def png_bytes(samples: np.ndarray, color_type: int, depth: int, *, palette: np.ndarray | None = None,
              trns: bytes | None = None, interlace: bool = False) -> bytes:
    """A PNG written from scratch (any colour type and depth, optionally Adam7-interlaced).

    Args:
      samples: [H, W] or [H, W, C] integer samples (palette indices for colour type 3).
      color_type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
      depth: bits per sample (1, 2, 4, 8, 16 as the type allows).
      palette: [N, 3] uint8 for colour type 3.
      trns: the body of a tRNS chunk (palette alphas, or a transparent gray/RGB colour).
      interlace: Adam7 interlacing, which Pillow cannot write.
    """
    channels = _CHANNELS[color_type]
    samples = np.asarray(samples).reshape(samples.shape[0], samples.shape[1], channels)
    h, w = samples.shape[:2]
    if interlace:
        raw = b"".join(_scanlines(samples[y0::dy, x0::dx], depth, channels, i)
                       for i, (x0, y0, dx, dy) in enumerate(_ADAM7)
                       if samples[y0::dy, x0::dx].size)
    else:
        raw = _scanlines(samples, depth, channels, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type,
                                                          0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    return out + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def large_png(width: int, height: int) -> bytes:
    """A black RGB PNG of any size, streamed row by row (8000×8000 costs ~200 kB)."""
    compressor = zlib.compressobj(1)
    rows = max(1, (1 << 20) // (1 + 3 * width))  # about 1 MB of scanlines per call
    block = bytes((1 + 3 * width) * rows)
    parts = [compressor.compress(block) for _ in range(height // rows)]
    parts.append(compressor.compress(bytes((1 + 3 * width) * (height % rows))))
    body = b"".join(parts) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))


def _to8(values: np.ndarray, depth: int) -> np.ndarray:
    """The documented scaling: round(v · 255 / (2^depth − 1))."""
    return np.round(values.astype(np.float64) * 255.0 / (2**depth - 1)).astype(np.uint8)


def hostile_image_cases(quick: bool) -> list[dict[str, Any]]:
    """Every PNG colour type × depth × interlace at several sizes, with the expected result.

    Each case: name, data (bytes), alpha rule, and either `expect` (uint8 [H, W, 3]) or
    `refuse` (a regex the ImageError message must match).
    """
    rng = np.random.default_rng(7)
    sizes = [(37, 53), (1, 1), (1, 23), (29, 1)] + ([] if quick else [(97, 101), (8, 8), (3, 2)])
    cases: list[dict[str, Any]] = []
    for h, w in sizes:
        for interlace in (False, True):
            tag = f"{h}x{w}{' adam7' if interlace else ''}"

            def add(name, data, expect=None, refuse=None, alpha="error", tag=tag):
                cases.append({"name": f"{name} {tag}", "data": data, "expect": expect,
                              "refuse": refuse, "alpha": alpha})

            for depth in (1, 2, 4, 8, 16):
                gray = rng.integers(0, 2**depth, (h, w))
                add(f"gray{depth}", png_bytes(gray, 0, depth, interlace=interlace),
                    np.repeat(_to8(gray, depth)[..., None], 3, -1))
            for depth in (8, 16):
                rgb = rng.integers(0, 2**depth, (h, w, 3))
                add(f"rgb{depth}", png_bytes(rgb, 2, depth, interlace=interlace), _to8(rgb, depth))
                for kind, channels in (("gray+alpha", 2), ("rgba", 4)):
                    pixels = rng.integers(0, 2**depth, (h, w, channels))
                    color = _to8(pixels[..., :-1], depth)
                    color = np.repeat(color, 3, -1) if channels == 2 else color
                    opaque = pixels.copy()
                    opaque[..., -1] = 2**depth - 1
                    ct = 4 if channels == 2 else 6
                    add(f"{kind}{depth} opaque", png_bytes(opaque, ct, depth, interlace=interlace),
                        color)
                    pixels[0, 0, -1] = 0
                    data = png_bytes(pixels, ct, depth, interlace=interlace)
                    add(f"{kind}{depth} transparent", data, refuse="transparency")
                    add(f"{kind}{depth} transparent drop", data, color, alpha="drop")
            for depth in (1, 2, 4, 8):
                n = 2**depth
                palette = rng.integers(0, 256, (n, 3), dtype=np.uint8)
                index = rng.integers(0, n, (h, w))
                index[0, 0] = 0
                add(f"palette{depth}", png_bytes(index, 3, depth, palette=palette,
                                                 interlace=interlace), palette[index])
                alphas = np.full(n, 255, np.uint8)
                add(f"palette{depth} opaque tRNS", png_bytes(
                    index, 3, depth, palette=palette, trns=alphas.tobytes(), interlace=interlace),
                    palette[index])
                alphas[0] = 0
                data = png_bytes(index, 3, depth, palette=palette, trns=alphas.tobytes(),
                                 interlace=interlace)
                add(f"palette{depth} tRNS", data, refuse="transparency")
                white = palette[index].copy()
                white[index == 0] = 255
                add(f"palette{depth} tRNS white", data, white, alpha="white")
            # A transparent colour key (tRNS on gray / RGB) is transparency too.
            gray = rng.integers(1, 256, (h, w))
            gray[0, 0] = 0
            add("gray8 colour-key tRNS", png_bytes(gray, 0, 8, trns=struct.pack(">H", 0),
                                                   interlace=interlace), refuse="transparency")
    # Non-images, damaged images and oversized ones.
    good = png_bytes(rng.integers(0, 256, (37, 53, 3)), 2, 8)
    for i, cut in enumerate(sorted({4, 12, 20, 33, 40, len(good) // 2, len(good) - 20})):
        cases.append({"name": f"truncated png at {cut}", "data": good[:cut], "refuse": "",
                      "alpha": "error", "expect": None, "truncated": i})
    junk = [b"", b"hello world", bytes(rng.integers(0, 256, 4096, dtype=np.uint8)),
            b"\x89PNG\r\n\x1a\n" + bytes(40), b"\x89LIC\x01" + bytes(60), b"GIF89a" + bytes(20),
            b"\xff\xd8\xff\xe0" + bytes(100), b"%PDF-1.4\n" + bytes(50), b"BM" + bytes(60)]
    for i, data in enumerate(junk):
        cases.append({"name": f"non-image #{i}", "data": data, "refuse": "", "alpha": "error",
                      "expect": None})
    bad_idat = bytearray(good)
    bad_idat[good.index(b"IDAT") + 40] ^= 0xFF
    cases.append({"name": "corrupted IDAT", "data": bytes(bad_idat), "refuse": "",
                  "alpha": "error", "expect": None, "lenient": True})
    # Above image_io.MAX_PIXELS (2^27): 11586² is the first square beyond it.
    for w, h in ((12000, 12000), (65535, 65535), (1, 1 << 28), (11586, 11586)):
        cases.append({"name": f"oversized {w}x{h}", "data": png_header_only(w, h),
                      "refuse": "are not supported|exceeds|too large|pixels", "alpha": "error",
                      "expect": None, "fast": True})
    return cases


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header promises a huge image, followed by a tiny (too short) IDAT."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(bytes(100))) + _chunk(b"IEND", b""))


def hostile_images(quick: bool) -> dict[str, Any]:
    """Runs every hostile-image case through `zoo.read_image` and checks its rule."""
    import zoo

    counts: dict[str, Any] = {"images_tried": 0, "followed_rule": 0, "refused": 0, "decoded": 0,
                              "violations": []}
    for case in hostile_image_cases(quick):
        counts["images_tried"] += 1
        started = time.time()
        try:
            out = zoo.read_image(case["data"], alpha=case["alpha"])
            error = None
        except zoo.ImageError as exc:
            out, error = None, str(exc)
        except Exception as exc:  # Any other exception breaks the rule.
            out, error = None, f"!{type(exc).__name__}: {exc}"
        elapsed = time.time() - started
        if out is not None:
            counts["decoded"] += 1
        elif not error.startswith("!"):
            counts["refused"] += 1
        if case["expect"] is not None:
            ok = out is not None and out.dtype == np.uint8 and np.array_equal(out, case["expect"])
        elif case.get("truncated") is not None and out is not None:
            ok = False  # A truncated file must be refused, never padded out.
        elif case.get("lenient") and out is not None:
            ok = out.shape == (37, 53, 3)  # zlib may not notice every flipped byte.
        else:
            ok = error is not None and not error.startswith("!") and re.search(
                case["refuse"], error) is not None
        if case.get("fast") and elapsed > 5:
            ok = False
            error = f"{error} (took {elapsed:.1f} s: the header was not checked first)"
        if ok:
            counts["followed_rule"] += 1
        elif len(counts["violations"]) < 30:
            got = error if out is None else f"decoded {out.shape}"
            counts["violations"].append(f"{case['name']}: {got}")
    counts["ok"] = counts["followed_rule"] == counts["images_tried"]
    return counts


def codec_odd_sizes(worker: Worker, path: str) -> dict[str, Any]:
    """1×1, 1×N, N×1 and prime-sided images round-trip exactly through a codec."""
    rng = np.random.default_rng(3)
    counts = {"sizes": 0, "exact": 0, "failures": []}
    if path not in worker.loaded:
        worker.load(path)
    for h, w in ((1, 1), (1, 97), (97, 1), (2, 3), (37, 53), (101, 7)):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        counts["sizes"] += 1
        status, value = worker.call("compress", (path, image))
        if status == "ok":
            status2, value2 = worker.call("decode", (path, value[0]))
            if status2 == "ok" and value2[0] == value[1] and tuple(value2[1]) == (h, w, 3):
                counts["exact"] += 1
                continue
            status, value = status2, value2
        counts["failures"].append(f"{h}x{w}: {status} {str(value)[:200]}")
    counts["ok"] = counts["exact"] == counts["sizes"]
    return counts
