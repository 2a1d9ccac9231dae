"""Pixels at the edges of the transforms: padding to the stride, latent sizes, and the
reconstruction's rounding to uint8."""

from __future__ import annotations

import tensorflow as tf

#: How `pad_to_stride` fills the rows and columns it adds (chosen by measurement: see
#: `results/padding/`).
PAD_MODE = "replicate"
PAD_MODES = ("replicate", "reflect", "zero")


def ceil_div(value: tf.Tensor, factor: int) -> tf.Tensor:
    """Latent size after `log2(factor)` stride-2 'same' convolutions."""
    return (value + factor - 1) // factor


def to_pixels(x_hat: tf.Tensor) -> tf.Tensor:
    """Reconstruction on 0..255 (floats) -> uint8, rounded and clipped (uint8: as is)."""
    if x_hat.dtype == tf.uint8:
        return x_hat
    return tf.cast(tf.round(tf.clip_by_value(x_hat, 0.0, 255.0)), tf.uint8)


def pad_to_stride(x: tf.Tensor, stride: int, mode: str | None = None) -> tf.Tensor:
    """Pads images [B, H, W, C] at the bottom and right to multiples of `stride`.

    The transforms' 'same' stride-2 convolutions pad asymmetrically and by the parity of
    each side, while the synthesis always doubles; only on multiples of `stride` do the
    two agree, so the decoder's crop of its top-left corner is the image. `mode`:
    "replicate" repeats the last row and column, "reflect" mirrors the image about its
    last row and column (repeatedly, for images smaller than the padding), "zero" fills
    with zeros (black).
    """
    mode = PAD_MODE if mode is None else mode
    if mode not in PAD_MODES:
        raise ValueError(f"padding mode must be one of {PAD_MODES}, got {mode!r}")
    for axis in (1, 2):
        size = tf.shape(x)[axis]
        missing = ceil_div(size, stride) * stride - size
        if mode == "zero":
            paddings = [[0, 0]] * 4
            paddings[axis] = [0, missing]
            x = tf.pad(x, tf.stack([tf.stack(p) for p in paddings]))
        elif mode == "replicate":
            edge = tf.gather(x, [size - 1], axis=axis)
            x = tf.concat([x, tf.repeat(edge, missing, axis=axis)], axis)
        else:
            x = _reflect(x, axis, size + missing)
    return x


def _reflect(x: tf.Tensor, axis: int, target: tf.Tensor) -> tf.Tensor:
    """Mirror-extends `x` along `axis` to `target` (period 2(n−1); n = 1 replicates)."""
    size = tf.shape(x)[axis]
    period = tf.maximum(2 * (size - 1), 1)
    position = tf.range(target) % period
    index = tf.where(position < size, position, period - position)
    return tf.gather(x, tf.minimum(index, size - 1), axis=axis)
