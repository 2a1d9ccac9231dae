"""Toy sources with known densities: the standard Laplace and the 2-D "banana".

Implements the two example sources of
J. Ballé, P. A. Chou, D. Minnen, S. Singh, N. Johnston, E. Agustsson, S. J. Hwang,
G. Toderici: "Nonlinear Transform Coding", IEEE J. Sel. Top. Signal Process. 2021,
https://arxiv.org/abs/2007.03034, sections II and III (figs. 1-8).

    laplace:  x ~ Laplace(0, 1)                                   (N = 1)
    banana:   z ~ N(0, diag(3², 0.5²))                            (N = 2)
              u = (z₁, z₂ − 0.1·z₁²)          bend along the long axis
              x = R(−240°)·u − (1, 1)           rotate, then shift

Every step of the banana map has unit Jacobian determinant, so its density is the
Gaussian density of the inverse map, and its differential entropy equals that of
the Gaussian (used by the Shannon lower bound in `zoo.toy.references`).
"""

from __future__ import annotations

import abc
import math

import numpy as np
import tensorflow as tf


class ToySource(abc.ABC):
    """A random vector in R^N with a sampler and an exact log-density.

    Attributes:
      name: short name used by the registry and the recipes.
      dims: N, the dimension of a sample.
      extent: a box [(lo, hi)] * N showing the bulk of the mass, for plots.
      bounds: a box holding all but ~1e-5 of the mass, for numerical integration.
    """

    name: str = ""
    dims: int = 0
    extent: tuple[tuple[float, float], ...] = ()
    bounds: tuple[tuple[float, float], ...] = ()

    @abc.abstractmethod
    def sample(self, num: int | tf.Tensor, rng: tf.random.Generator) -> tf.Tensor:
        """Draws `num` samples, shape [num, N], float32."""
        ...

    @abc.abstractmethod
    def log_prob(self, x: tf.Tensor) -> tf.Tensor:
        """Natural log of the density at `x` [..., N]; shape [...]."""
        ...

    def prob(self, x: np.ndarray) -> np.ndarray:
        """The density as numpy, for plots and numerical references."""
        return np.exp(self.log_prob(tf.constant(x, tf.float32)).numpy())

    @property
    @abc.abstractmethod
    def differential_entropy_bits(self) -> float:
        """h(X) in bits (closed form)."""
        ...

    @property
    @abc.abstractmethod
    def variance(self) -> float:
        """E‖X − E X‖², the distortion of the zero-rate code."""
        ...


class Laplace(ToySource):
    """The standard Laplace density p(x) = exp(−|x|) / 2 (variance 2)."""

    name = "laplace"
    dims = 1
    extent = ((-8.0, 8.0),)
    bounds = ((-30.0, 30.0),)

    def sample(self, num, rng):
        # The difference of two unit exponentials is standard Laplace.
        u = rng.uniform([num, 2], minval=1e-12, maxval=1.0)
        logs = tf.math.log(u)
        return logs[:, :1] - logs[:, 1:]

    def log_prob(self, x):
        x = tf.convert_to_tensor(x, tf.float32)
        return -tf.abs(x[..., 0]) - math.log(2.0)

    @property
    def differential_entropy_bits(self) -> float:
        return math.log2(2.0 * math.e)

    @property
    def variance(self) -> float:
        return 2.0


class Banana(ToySource):
    """A bent, rotated and shifted Gaussian (the banana of seed 004, figs. 1, 2, 5)."""

    name = "banana"
    dims = 2
    # The arms reach far up and right: P(x₁ > 15.7) ≈ P(x₂ > 15) ≈ 1e−4.
    extent = ((-4.0, 9.0), (-6.0, 8.0))
    bounds = ((-6.0, 22.0), (-8.0, 22.0))

    scales = (3.0, 0.5)
    bend = 0.1
    degrees = 240.0
    shift = (1.0, 1.0)

    def _rotation(self) -> np.ndarray:
        phi = math.radians(self.degrees)
        return np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])

    def sample(self, num, rng):
        z = rng.normal([num, 2]) * tf.constant(self.scales)
        u = tf.stack([z[:, 0], z[:, 1] - self.bend * z[:, 0] ** 2], axis=-1)
        # Row vectors: x = R⁻¹ u  ⇔  xᵀ = uᵀ R  (R is orthogonal).
        rot = tf.constant(self._rotation(), tf.float32)
        return tf.matmul(u, rot) - tf.constant(self.shift)

    def log_prob(self, x):
        x = tf.convert_to_tensor(x, tf.float32)
        rot = tf.constant(self._rotation(), tf.float32)
        a = tf.linalg.matvec(rot, x + tf.constant(self.shift))
        z = tf.stack([a[..., 0], a[..., 1] + self.bend * a[..., 0] ** 2], axis=-1)
        scales = tf.constant(self.scales)
        # All maps are volume-preserving: the density is the Gaussian's at z.
        quad = tf.reduce_sum((z / scales) ** 2, axis=-1)
        return -0.5 * quad - math.log(2.0 * math.pi * self.scales[0] * self.scales[1])

    @property
    def differential_entropy_bits(self) -> float:
        s0, s1 = self.scales
        return 0.5 * math.log2((2.0 * math.pi * math.e) ** 2 * (s0 * s1) ** 2)

    @property
    def variance(self) -> float:
        # Var along the bent axis gains Var(0.1 z₁²) = 2·0.1²·3⁴; rotation keeps the trace.
        s0, s1 = self.scales
        return s0**2 + s1**2 + 2.0 * self.bend**2 * s0**4


SOURCES: dict[str, type[ToySource]] = {"laplace": Laplace, "banana": Banana}


def get_source(name: str) -> ToySource:
    """Returns the source called `name` ("laplace" or "banana")."""
    try:
        return SOURCES[name]()
    except KeyError:
        raise ValueError(f"unknown toy source {name!r}; known: {', '.join(SOURCES)}") from None
