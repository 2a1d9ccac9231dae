"""Distortion measures on the 0..255 scale: MSE, PSNR and MS-SSIM (Wang et al. 2003).

MS-SSIM uses the standard five scales and weights; images too small for five scales
(each scale halves the size and the 11×11 window must fit) use as many scales as fit,
with the remaining weights renormalized, so that small test images still work.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from scipy import ndimage

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_FILTER_SIZE = 11


def mse(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean squared error per image ([B, H, W, C] -> [B])."""
    d = tf.cast(x, tf.float32) - tf.cast(y, tf.float32)
    return tf.reduce_mean(tf.square(d), axis=(1, 2, 3))


def psnr_from_mse(value: float, max_val: float = 255.0) -> float:
    return float("inf") if value <= 0 else 10.0 * math.log10(max_val**2 / value)


def psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR (dB, peak 255) between two uint8 images of the same shape."""
    diff = original.astype(np.float64) - decoded.astype(np.float64)
    return psnr_from_mse(float(np.mean(np.square(diff))))


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


def _gaussian_taps(size: int, sigma: float = 1.5) -> np.ndarray:
    taps = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2.0) / sigma) ** 2)
    return taps / taps.sum()


def _filter_valid(maps: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation over the H and W axes of [N, H, W, C]."""
    size = len(taps)
    # correlate1d centres the window on index size // 2; keep where it fits entirely.
    for axis in (1, 2):
        maps = ndimage.correlate1d(maps, taps, axis=axis, mode="constant")
        keep = [slice(None)] * maps.ndim
        keep[axis] = slice(size // 2, size // 2 + maps.shape[axis] - size + 1)
        maps = maps[tuple(keep)]
    return maps


def ms_ssim_numpy(original: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM of two uint8 [H, W, 3] images, numerically `ms_ssim`.

    The same definition as TensorFlow's (and so the training loss): Gaussian window
    (σ 1.5) applied 'valid', symmetric padding before each 2×2 average pooling, the
    scales and weights of `zoo.metrics`; computed separably in float64 with numpy,
    which is ~20× faster than `tf.image.ssim_multiscale` on a CPU.
    """
    height, width = original.shape[:2]
    scales = num_scales_for(height, width)
    weights = np.array(_MS_SSIM_WEIGHTS[:scales])
    weights /= weights.sum()
    taps = _gaussian_taps(min(_FILTER_SIZE, height, width))
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    x, y = original.astype(np.float64), decoded.astype(np.float64)
    factors = []
    for scale in range(scales):
        if scale:
            pad = ((0, x.shape[0] % 2), (0, x.shape[1] % 2), (0, 0))
            x, y = (np.pad(v, pad, mode="symmetric") for v in (x, y))
            x, y = (
                0.25 * (v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2])
                for v in (x, y)
            )
        mean_x, mean_y, mean_xy, mean_sq = _filter_valid(
            np.stack([x, y, x * y, x * x + y * y]), taps
        )
        num0 = 2.0 * mean_x * mean_y
        den0 = mean_x**2 + mean_y**2
        cs_map = (2.0 * mean_xy - num0 + c2) / (mean_sq - den0 + c2)
        cs = cs_map.mean(axis=(0, 1))  # per channel
        if scale < scales - 1:
            factors.append(np.maximum(cs, 0.0))
        else:
            luminance = (num0 + c1) / (den0 + c1)
            factors.append(np.maximum((luminance * cs_map).mean(axis=(0, 1)), 0.0))
    per_channel = np.prod(np.stack(factors) ** weights[:, None], axis=0)
    return float(per_channel.mean())


def image_quality(original: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """MSE, PSNR (dB) and MS-SSIM (also in dB) of two uint8 RGB images."""
    err = float(np.mean(np.square(original.astype(np.float64) - decoded.astype(np.float64))))
    msssim = ms_ssim_numpy(original, decoded)
    return {
        "mse": err, "psnr": psnr_from_mse(err),
        "ms-ssim": msssim, "ms-ssim-db": ms_ssim_db(msssim),
    }
