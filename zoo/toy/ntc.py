"""Nonlinear (and linear) transform coding of toy sources, with four quantization proxies.

Implements section III (eq. 9-14, figs. 1, 3-8) of
J. Ballé, P. A. Chou, D. Minnen, S. Singh, N. Johnston, E. Agustsson, S. J. Hwang,
G. Toderici: "Nonlinear Transform Coding", IEEE J. Sel. Top. Signal Process. 2021,
https://arxiv.org/abs/2007.03034.

    x ──analysis g_a──> y ──Q──> ŷ = ⌊y − o⌉ + o ──synthesis g_s──> x̂
                                 rate −log2 P(k; o),  P(k; o) = p̃(k + o)

p̃ is a learned factorized density convolved with a unit uniform (`DeepFactorizedDensity`,
Ballé et al. 2018, appendix 6.1). Training minimizes eq. 13 or a variant:

* "noise":  ỹ = y + u for rate and distortion (the dithering proxy, eq. 13); after
  training a fixed offset o is picked by search or by centring a bin on the mode;
* "dither": trained like "noise", but coded with dithered (universal) quantization,
  a fresh offset o ~ U[−½, ½) shared by encoder and decoder per sample (eq. 10);
* "ste":    noise for the rate, straight-through rounding for the distortion;
* "soft_round": ỹ = s_α(y) + u with the soft rounding s_α of Agustsson & Theis (2020),
  the synthesis sees E[y | ỹ]; α is annealed from 1 to `alpha_max`.

g_a and g_s are MLPs (NTC: 3 softplus layers of 100 units and a linear one, §III-B) or
single affine maps (LTC).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from zoo import tfc_adapter
from zoo.registry import register_model
from zoo.toy.sources import get_source

PROXIES = ("noise", "dither", "ste", "soft_round")
OFFSET_METHODS = ("search", "mode")
LIKELIHOOD_BOUND = 1e-9


class DeepFactorizedDensity(tf.keras.layers.Layer):
    """One learned univariate density per channel, convolved with U(−½, ½).

    The cumulative F = sigmoid(f_K ∘ … ∘ f_1) is a composition of monotone maps
    f(v) = h(H v + b), h(v) = v + a ⊙ tanh(v), with H ≥ 0 (softplus) and a > −1 (tanh),
    so p̃(y) = F(y + ½) − F(y − ½) is exact and differentiable (Ballé et al. 2018, 6.1).
    """

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        dims = (1, *filters, 1)
        # Makes the initial density about `init_scale` wide, as broad as the latents.
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices, self.biases, self.factors = [], [], []
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            shape = [self.channels, dims[i + 1]]
            self.matrices.append(
                self.add_weight(
                    f"matrix_{i}", [*shape, dims[i]], initializer=tf.constant_initializer(init)
                )
            )
            self.biases.append(
                self.add_weight(
                    f"bias_{i}", [*shape, 1], initializer=tf.random_uniform_initializer(-0.5, 0.5)
                )
            )
            if i < len(filters):
                self.factors.append(
                    self.add_weight(f"factor_{i}", [*shape, 1], initializer="zeros")
                )

    def cdf_logits(self, y: tf.Tensor) -> tf.Tensor:
        """logit F(y) for y [B, C]."""
        v = tf.transpose(y)[:, None, :]  # [C, 1, B]
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            v = tf.matmul(tf.nn.softplus(matrix), v) + bias
            if i < len(self.factors):
                v += tf.tanh(self.factors[i]) * tf.tanh(v)
        return tf.transpose(v[:, 0, :])

    def likelihood(self, y: tf.Tensor) -> tf.Tensor:
        """p̃(y) per element, [B, C]."""
        lower = self.cdf_logits(y - 0.5)
        upper = self.cdf_logits(y + 0.5)
        # Subtract in the tail where the sigmoids are small, so the difference keeps
        # its precision (1 − F rather than F in the right tail).
        sign = tf.stop_gradient(tf.where(lower + upper > 0.0, -1.0, 1.0))
        return tf.abs(tf.sigmoid(sign * upper) - tf.sigmoid(sign * lower))

    def bits(self, y: tf.Tensor) -> tf.Tensor:
        """−log2 p̃(y), summed over channels, [B]."""
        p = tfc_adapter.lower_bound(self.likelihood(y), LIKELIHOOD_BOUND)
        return tf.reduce_sum(tf.math.log(p), axis=-1) / -math.log(2.0)


class TransformCoder(tf.keras.Model):
    """Analysis, uniform scalar quantization with offset, synthesis, learned entropy model.

    Args:
      analysis: g_a, a Keras layer mapping [B, N] to [B, M].
      synthesis: g_s, mapping [B, M] to [B, N].
      latent_dims: M.
      lmbda: the loss is rate (bits) + λ · squared error, per sample vector.
      proxy: one of `PROXIES` (see the module docstring).
      alpha_max: soft rounding sharpness at the end of annealing.
    """

    def __init__(
        self,
        analysis: tf.keras.layers.Layer,
        synthesis: tf.keras.layers.Layer,
        latent_dims: int,
        lmbda: float = 1.0,
        proxy: str = "noise",
        alpha_max: float = 8.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if proxy not in PROXIES:
            raise ValueError(f"proxy must be one of {PROXIES}, got {proxy!r}")
        if not lmbda > 0:
            raise ValueError(f"lmbda must be positive, got {lmbda}")
        self.analysis = analysis
        self.synthesis = synthesis
        self.latent_dims = int(latent_dims)
        self.lmbda = float(lmbda)
        self.proxy = proxy
        self.alpha_max = float(alpha_max)
        self.prior = DeepFactorizedDensity(self.latent_dims, name="prior")
        self.offset = tf.Variable(tf.zeros([self.latent_dims]), trainable=False, name="offset")
        self.alpha = tf.Variable(1.0, trainable=False, name="soft_round_alpha")
        self.registry_name, self.build_kwargs = "toy_ntc", {}

    def set_registry_info(self, name: str, kwargs: dict) -> None:
        self.registry_name, self.build_kwargs = name, dict(kwargs)

    def alpha_schedule(self, progress: tf.Tensor) -> tf.Tensor:
        """Soft rounding sharpness: linear from 1 to `alpha_max` over 3/4 of training."""
        ramp = tf.minimum(progress / 0.75, 1.0)
        return 1.0 + (self.alpha_max - 1.0) * ramp

    def train_loss(self, x: tf.Tensor, rng: tf.random.Generator, progress: tf.Tensor) -> dict:
        """Batch means of the proxy rate, distortion and Lagrangian."""
        y = self.analysis(x)
        u = rng.uniform(tf.shape(y), -0.5, 0.5)
        if self.proxy == "soft_round":
            alpha = self.alpha_schedule(progress)
            self.alpha.assign(alpha)
            y_tilde = tfc_adapter.soft_round(y, alpha) + u
            y_synth = tfc_adapter.soft_round_conditional_mean(y_tilde, alpha)
        else:
            y_tilde = y + u
            # The straight-through proxy quantizes with the fixed offset 0 in training.
            y_synth = tfc_adapter.round_st(y) if self.proxy == "ste" else y_tilde
        rate = self.prior.bits(y_tilde)
        distortion = tf.reduce_sum(tf.square(x - self.synthesis(y_synth)), axis=-1)
        loss = rate + self.lmbda * distortion
        return {
            "loss": tf.reduce_mean(loss),
            "rate": tf.reduce_mean(rate),
            "distortion": tf.reduce_mean(distortion),
        }

    def quantize(self, y: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
        return tf.round(y - offset) + offset

    def rd_terms(
        self, x: tf.Tensor, rng: tf.random.Generator | None = None, offset: tf.Tensor | None = None
    ) -> dict:
        """Per-sample rate, squared error and Lagrangian of the hard-quantized code.

        The offset is `self.offset` (or `offset`), except for the "dither" proxy, which
        draws one per sample from `rng` (encoder and decoder share the seed).
        """
        y = self.analysis(x)
        if self.proxy == "dither":
            if rng is None:
                raise ValueError("dithered quantization needs the shared random generator")
            offset = rng.uniform(tf.shape(y), -0.5, 0.5)
        elif offset is None:
            offset = self.offset
        y_hat = self.quantize(y, offset)
        rate = self.prior.bits(y_hat)
        distortion = tf.reduce_sum(tf.square(x - self.synthesis(y_hat)), axis=-1)
        return {"rate": rate, "distortion": distortion, "loss": rate + self.lmbda * distortion}

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.synthesis(self.quantize(self.analysis(x), self.offset))

    # Choosing the quantization offset after training (§III-A) ------------------------

    def offset_losses(self, x: tf.Tensor, offsets) -> np.ndarray:
        """L_NTC,o on samples x for each row of `offsets` [C, M], with P(k; o) = p̃(k + o).

        No entropy model is re-estimated: p̃ already is the density of y + u (eq. 11).
        """
        offsets = tf.constant(offsets, tf.float32)
        y = self.analysis(x)
        y_hat = self.quantize(y[None], offsets[:, None, :])  # [C, B, M]
        flat = tf.reshape(y_hat, [-1, self.latent_dims])
        x_hat = tf.reshape(self.synthesis(flat), [len(offsets), -1, x.shape[-1]])
        rate = tf.reshape(self.prior.bits(flat), [len(offsets), -1])
        distortion = tf.reduce_sum(tf.square(x[None] - x_hat), axis=-1)
        return tf.reduce_mean(rate + self.lmbda * distortion, axis=1).numpy()

    def mode_offset(self, x: tf.Tensor, resolution: float = 1e-3) -> np.ndarray:
        """Offsets that centre a quantization bin on the mode of p̃, per latent dim."""
        y = self.analysis(x).numpy()
        grid = np.arange(y.min() - 1.0, y.max() + 1.0, resolution, dtype=np.float32)
        grid = np.repeat(grid[:, None], self.latent_dims, axis=1)
        modes = grid[np.argmax(self.prior.likelihood(tf.constant(grid)).numpy(), axis=0), 0]
        return (modes - np.round(modes)).astype(np.float32)

    def search_offset(self, x: tf.Tensor, candidates: int = 20, sweeps: int = 2) -> np.ndarray:
        """Offsets minimizing L_NTC,o on x by a grid search, one latent dim at a time."""
        grid = np.arange(candidates, dtype=np.float32) / candidates - 0.5
        best = np.zeros(self.latent_dims, np.float32)
        for _ in range(sweeps if self.latent_dims > 1 else 1):
            for d in range(self.latent_dims):
                trials = np.repeat(best[None], candidates, axis=0)
                trials[:, d] = grid
                best[d] = grid[int(np.argmin(self.offset_losses(x, trials)))]
        return best

    def choose_offset(self, x: tf.Tensor, method: str = "search") -> np.ndarray:
        """Sets `self.offset` by `method` ("search" or "mode") and returns it."""
        if method not in OFFSET_METHODS:
            raise ValueError(f"offset method must be one of {OFFSET_METHODS}, got {method!r}")
        offset = self.search_offset(x) if method == "search" else self.mode_offset(x)
        self.offset.assign(offset)
        return offset


def mlp(out_dims: int, units: int = 100, layers: int = 4, name: str | None = None):
    """`layers` dense layers, softplus on all but the last (§III-B)."""
    hidden = [tf.keras.layers.Dense(units, activation="softplus") for _ in range(layers - 1)]
    return tf.keras.Sequential([*hidden, tf.keras.layers.Dense(out_dims)], name=name)


@register_model(
    "toy_ntc",
    family="toy",
    description="NTC with MLP transforms on a toy source (Ballé et al. 2021, §III)",
)
def toy_ntc(
    source: str = "laplace",
    lmbda: float = 1.0,
    proxy: str = "noise",
    units: int = 100,
    layers: int = 4,
    alpha_max: float = 8.0,
) -> TransformCoder:
    """NTC for `source`: MLP analysis and synthesis, M = N latent dims."""
    dims = get_source(source).dims
    return TransformCoder(
        mlp(dims, units, layers, name="analysis"),
        mlp(dims, units, layers, name="synthesis"),
        latent_dims=dims,
        lmbda=lmbda,
        proxy=proxy,
        alpha_max=alpha_max,
        name="ntc",
    )


@register_model(
    "toy_ltc",
    family="toy",
    description="Linear (affine) transform coding on a toy source (Ballé et al. 2021, §III)",
)
def toy_ltc(
    source: str = "laplace", lmbda: float = 1.0, proxy: str = "noise", alpha_max: float = 8.0
) -> TransformCoder:
    """LTC for `source`: affine analysis and synthesis (not constrained to the KLT)."""
    dims = get_source(source).dims
    return TransformCoder(
        tf.keras.Sequential([tf.keras.layers.Dense(dims)], name="analysis"),
        tf.keras.Sequential([tf.keras.layers.Dense(dims)], name="synthesis"),
        latent_dims=dims,
        lmbda=lmbda,
        proxy=proxy,
        alpha_max=alpha_max,
        name="ltc",
    )
