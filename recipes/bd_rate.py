"""Bjøntegaard delta rate (BD-rate) and delta quality between two rate-distortion curves.

BD-rate (Bjøntegaard, VCEG-M33, 2001) is the average relative rate difference of a
test codec against a reference at equal quality: both curves are written as
log(rate) as a function of quality, interpolated, integrated over the quality interval
both cover, and the mean difference d of the logs is reported as exp(d) − 1 (in %).
Negative means the test codec needs fewer bits.

Interpolation is piecewise-cubic Hermite (PCHIP, as in VCEG-AL22 / the JVET and AOM
tools; monotone, no overshoot) by default, or the original cubic polynomial fit
(`method="cubic"`, needs 4 points). A curve shifted by a constant rate factor k gives
exactly BD-rate k − 1 with either method, since both interpolants are translation
equivariant in log-rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

METHODS = ("pchip", "cubic")


def _curve(rates: Sequence[float], quality: Sequence[float], x_is_rate: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) sorted by x with distinct x: (quality, log rate) or (log rate, quality).

    Non-finite points and non-positive rates are dropped; where x repeats (e.g. a
    saturated encoder setting) the better point is kept.
    """
    rates = np.asarray(rates, np.float64)
    quality = np.asarray(quality, np.float64)
    if rates.shape != quality.shape or rates.ndim != 1:
        raise ValueError(f"rates {rates.shape} and quality {quality.shape} must be 1-D and equal")
    keep = np.isfinite(rates) & np.isfinite(quality) & (rates > 0)
    log_rates, quality = np.log(rates[keep]), quality[keep]
    if x_is_rate:
        x, y, pick = log_rates, quality, np.max
    else:
        x, y, pick = quality, log_rates, np.min
    distinct = np.unique(x)
    return distinct, np.array([pick(y[x == value]) for value in distinct])


def _integral(quality: np.ndarray, log_rates: np.ndarray, low: float, high: float,
              method: str) -> float:
    if method == "pchip":
        return float(PchipInterpolator(quality, log_rates).integrate(low, high))
    if method == "cubic":
        poly = np.polynomial.Polynomial.fit(quality, log_rates, 3).integ()
        return float(poly(high) - poly(low))
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def _overlap(ref_q: np.ndarray, test_q: np.ndarray) -> tuple[float, float] | None:
    low, high = max(ref_q[0], test_q[0]), min(ref_q[-1], test_q[-1])
    return (low, high) if high > low else None


def bd_rate(
    ref_rates: Sequence[float], ref_quality: Sequence[float],
    test_rates: Sequence[float], test_quality: Sequence[float],
    method: str = "pchip",
) -> float:
    """BD-rate of `test` against `ref`, in percent (negative: test saves bits).

    Args:
      ref_rates, test_rates: rates (e.g. bpp), any positive unit shared by both.
      ref_quality, test_quality: quality at each rate (PSNR dB, MS-SSIM dB, ...;
        higher is better).
      method: "pchip" (piecewise-cubic Hermite) or "cubic" (polynomial fit).

    Returns:
      The BD-rate in %, or NaN when the curves share no quality interval or have too
      few distinct points (2 for pchip, 4 for cubic).
    """
    diff = _mean_gap(ref_rates, ref_quality, test_rates, test_quality, False, method)
    return (math.exp(diff) - 1.0) * 100.0


def bd_quality(
    ref_rates: Sequence[float], ref_quality: Sequence[float],
    test_rates: Sequence[float], test_quality: Sequence[float],
    method: str = "pchip",
) -> float:
    """BD-PSNR (or BD-quality): mean quality gain of `test` at equal log-rate.

    The same construction with the roles of rate and quality swapped; positive means
    the test codec is better. NaN when the curves share no rate interval.
    """
    return _mean_gap(ref_rates, ref_quality, test_rates, test_quality, True, method)


def _mean_gap(ref_rates, ref_quality, test_rates, test_quality, x_is_rate, method) -> float:
    """Mean vertical gap test − ref over the shared horizontal interval (NaN if none).

    With `x_is_rate` the axes are (log-rate, quality), else (quality, log-rate).
    """
    ref_x, ref_y = _curve(ref_rates, ref_quality, x_is_rate=x_is_rate)
    test_x, test_y = _curve(test_rates, test_quality, x_is_rate=x_is_rate)
    needed = 4 if method == "cubic" else 2
    if len(ref_x) < needed or len(test_x) < needed:
        return math.nan
    interval = _overlap(ref_x, test_x)
    if interval is None:
        return math.nan
    low, high = interval
    return (
        _integral(test_x, test_y, low, high, method) - _integral(ref_x, ref_y, low, high, method)
    ) / (high - low)
