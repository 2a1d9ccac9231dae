"""Computed references for the toy sources: optimal ECSQ and rate-distortion functions.

Seed 004 (Ballé et al., "Nonlinear Transform Coding", arXiv:2007.03034), section II
and fig. 3 compare learned quantizers against

* Sullivan's optimal entropy-constrained scalar quantizer (ECSQ) of the Laplace
  source (G. J. Sullivan, "Efficient scalar quantization of exponential and
  Laplacian random variables", IEEE Trans. IT 1996): a dead zone [−t, t] coded as 0,
  then equal steps Δ on both sides, each cell reproduced by its centroid;
* the rate-distortion function R(D), computed here with the Blahut-Arimoto algorithm
  on a fine grid (Laplace), and the Shannon lower bound h(X) − N/2·log2(2πe·D/N),
  which is a bound for the banana (whose R(D) is not known in closed form).

All numbers follow the toy convention of `zoo.toy`: rate in bits per sample vector,
distortion D = E‖x − x̂‖² (summed over the N dimensions), Lagrangian J = R + λ·D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

LOG2 = math.log(2.0)


@dataclass(frozen=True)
class ECSQ:
    """One dead-zone quantizer of the standard Laplace source and its performance."""

    threshold: float  # t: the zero cell is [−t, t]
    step: float  # Δ: width of every other cell
    rate: float  # entropy of the cell index, bits
    distortion: float  # mean squared error

    def lagrangian(self, lmbda: float) -> float:
        return self.rate + lmbda * self.distortion

    @property
    def centroid_offset(self) -> float:
        """Where the reproduction sits inside an outer cell, from its inner edge."""
        if math.isinf(self.step):
            return 0.0
        return 1.0 - self.step / math.expm1(self.step)

    def reproductions(self, count: int) -> np.ndarray:
        """The `count` smallest positive reproduction values (mirror for negatives)."""
        return self.threshold + self.step * np.arange(count) + self.centroid_offset


def ecsq_laplace_performance(threshold, step):
    """Closed-form (rate bits, MSE) of the dead-zone quantizer of Laplace(0, 1).

    |X| is a unit exponential, and given that it falls in an outer cell
    [t + kΔ, t + (k+1)Δ) its offset from the cell edge is the same truncated exponential
    for every k: outer cells share one conditional variance, and their indices form a
    geometric distribution. Arguments broadcast (numpy arrays or floats).
    """
    t = np.asarray(threshold, np.float64)
    d = np.asarray(step, np.float64)
    q = np.exp(-t)  # P(|X| > t)
    r = np.exp(-d)  # ratio of successive outer cell probabilities
    one_minus_r = -np.expm1(-d)
    with np.errstate(divide="ignore", invalid="ignore"):
        zero_cell = -np.where(q < 1, (1 - q) * np.log1p(-q), 0.0)
        outer = np.where(
            q > 0,
            -q * np.log(q) + q * LOG2 - q * np.log(one_minus_r) + q * d * r / one_minus_r,
            0.0,
        )
        cell_var = 1.0 - d**2 * r / one_minus_r**2
    rate = (zero_cell + outer) / LOG2
    distortion = 2.0 - q * (t**2 + 2 * t + 2) + q * cell_var
    return rate, distortion


def sullivan_ecsq_laplace(lmbda: float) -> ECSQ:
    """The ECSQ of the standard Laplace source minimizing rate + λ·MSE (Sullivan 1996).

    Searches (t, Δ) on a log grid, refines with Nelder-Mead, and compares with the
    zero-rate code (everything in the dead zone, J = 2λ).
    """
    ts = np.geomspace(1e-3, 20.0, 240)[:, None]
    ds = np.geomspace(1e-2, 20.0, 240)[None, :]
    rate, dist = ecsq_laplace_performance(ts, ds)
    i, j = np.unravel_index(np.argmin(rate + lmbda * dist), rate.shape)

    def objective(log_params):
        r, d = ecsq_laplace_performance(*np.exp(log_params))
        return float(r + lmbda * d)

    start = np.log([ts[i, 0], ds[0, j]])
    options = dict(xatol=1e-9, fatol=1e-12, maxiter=4000)
    res = optimize.minimize(objective, start, method="Nelder-Mead", options=options)
    t, d = np.exp(res.x)
    r, dist = ecsq_laplace_performance(t, d)
    best = ECSQ(float(t), float(d), float(r), float(dist))
    zero_rate = ECSQ(math.inf, math.inf, 0.0, 2.0)
    return best if best.lagrangian(lmbda) < zero_rate.lagrangian(lmbda) else zero_rate


@dataclass(frozen=True)
class RDPoint:
    rate: float  # bits
    distortion: float
    gap: float  # Blahut-Arimoto upper minus lower bound on the rate, bits


def blahut_arimoto(
    probs: np.ndarray,
    distortions: np.ndarray,
    lmbda: float,
    tol_bits: float = 1e-4,
    max_iters: int = 5_000,
) -> RDPoint:
    """The point of R(D) of a discrete source where the slope is −λ (bits per unit D).

    Args:
      probs: [I] source probabilities.
      distortions: [I, J] distortion between source and reproduction grid points.
      lmbda: Lagrange multiplier of the toy convention (J = R_bits + λ·D).
      tol_bits: stop when the iteration's upper and lower rate bounds meet this closely.
      max_iters: iteration limit.
    """
    probs = np.asarray(probs, np.float64)
    probs = probs / probs.sum()
    s = lmbda * LOG2  # slope in nats per unit distortion
    kernel = np.exp(-s * (distortions - distortions.min(axis=1, keepdims=True)))
    output = np.full(distortions.shape[1], 1.0 / distortions.shape[1])
    gap = math.inf
    for _ in range(max_iters):
        norm = kernel @ output  # c_i
        # Each reproduction point's "vote": Σ_i p_i A_ij / c_i; optimal output has all ≤ 1.
        votes = (probs / norm) @ kernel
        gap = math.log(votes.max()) / LOG2
        output *= votes
        if gap < tol_bits:
            break
    norm = kernel @ output
    channel = output[None, :] * kernel / norm[:, None]
    distortion = float(np.sum(probs[:, None] * channel * distortions))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(channel > 0, np.log(channel / output[None, :]), 0.0)
    rate = float(np.sum(probs[:, None] * channel * ratio)) / LOG2
    return RDPoint(rate, distortion, gap)


def laplace_rate_distortion(
    lmbdas, half_width: float = 12.0, spacing: float = 0.04
) -> list[RDPoint]:
    """R(D) of the standard Laplace source under MSE, one point per λ (Blahut-Arimoto).

    The source is discretized on [−half_width, half_width] with the given spacing
    (tail mass e^−12 ≈ 6e−6); the reproduction grid is the same grid. Halving the
    spacing moves the rates by less than 3e−4 bits.
    """
    x = np.arange(-half_width, half_width + spacing / 2, spacing)
    probs = np.exp(-np.abs(x))
    distortions = (x[:, None] - x[None, :]) ** 2
    return [blahut_arimoto(probs, distortions, float(lm)) for lm in lmbdas]


def shannon_lower_bound(entropy_bits: float, dims: int, distortion) -> np.ndarray:
    """R_SLB(D) = h(X) − N/2·log2(2πe·D/N) for squared error summed over N dims, ≥ 0."""
    d = np.asarray(distortion, np.float64)
    bound = entropy_bits - 0.5 * dims * np.log2(2 * math.pi * math.e * d / dims)
    return np.maximum(bound, 0.0)
