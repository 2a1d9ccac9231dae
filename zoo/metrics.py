"""Distortion measures on the 0..255 scale: MSE, PSNR and MS-SSIM (Wang et al. 2003).

MS-SSIM uses the standard five scales and weights; images too small for five scales
(each scale halves the size and the 11×11 window must fit) use as many scales as fit,
with the remaining weights renormalized, so that small test images still work.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_FILTER_SIZE = 11


def mse(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean squared error per image ([B, H, W, C] -> [B])."""
    d = tf.cast(x, tf.float32) - tf.cast(y, tf.float32)
    return tf.reduce_mean(tf.square(d), axis=(1, 2, 3))


def psnr_from_mse(value: float, max_val: float = 255.0) -> float:
    return float("inf") if value <= 0 else 10.0 * math.log10(max_val**2 / value)


def num_scales_for(height: int, width: int) -> int:
    """How many MS-SSIM scales fit an image of this size (at least one)."""
    side = min(height, width)
    scales = 1
    while scales < len(_MS_SSIM_WEIGHTS) and side // 2 ** scales >= _FILTER_SIZE:
        scales += 1
    return scales


def ms_ssim(x: tf.Tensor, y: tf.Tensor, max_val: float = 255.0) -> tf.Tensor:
    """MS-SSIM per image ([B, H, W, C] -> [B]); differentiable."""
    x = tf.cast(x, tf.float32)
    y = tf.cast(y, tf.float32)
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        shape = tf.shape(x)
        height, width = int(shape[1]), int(shape[2])
    scales = num_scales_for(height, width)
    weights = _MS_SSIM_WEIGHTS[:scales]
    weights = [w / sum(weights) for w in weights]
    filter_size = min(_FILTER_SIZE, height, width)
    return tf.image.ssim_multiscale(
        x, y, max_val, power_factors=weights, filter_size=filter_size
    )


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in decibels, -10 log10(1 - MS-SSIM), as papers plot it."""
    return float("inf") if value >= 1 else -10.0 * math.log10(1.0 - value)


def image_metrics(original: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and MS-SSIM of two uint8 RGB images of the same shape."""
    a = tf.constant(original[None], tf.float32)
    b = tf.constant(decoded[None], tf.float32)
    err = float(mse(a, b)[0])
    msssim = float(ms_ssim(a, b)[0])
    return {
        "mse": err,
        "psnr": psnr_from_mse(err),
        "ms-ssim": msssim,
        "ms-ssim-db": ms_ssim_db(msssim),
    }
