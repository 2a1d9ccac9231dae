"""Learned quantization steps: Dumas, Roumy, Guillemot, "Autoencoder based image
compression: can the learning be quantization independent?", ICASSP 2018,
https://arxiv.org/abs/1802.09371 (seed 001).

    x ─analysis (GDN)─> y ─(y − μ) / (β·Δ)─> z ─round─> q ─q·β·Δ + μ─> ŷ ─synthesis (IGDN)─> x̂
                                                        └── p(q) = Laplace(0, s/β) ⊛ U(−½, ½)

Δ is one learned positive step per latent channel (exp of a variable), μ the channel
means of y estimated on training images (`estimate_mean`), s a learned scale per channel
and β ≥ 1 a test-time multiplier of the steps: the model's rate parameter.

Training (eq. 4) uses β = 1 and uniform noise scaled by the step, ỹ = y + Δ·τ. Its
step-aware rate −log₂Δ − log₂ p̃_y(ỹ) equals −log₂ p̃_z((ỹ − μ)/Δ) for the density p_z
of the scaled latents z = (y − μ)/Δ, so the entropy model sees z + τ with unit noise
and the bits reflect Δ; gradients reach Δ through both terms.

Coding at any β without refitting: if z ~ Laplace(0, s) then z/β ~ Laplace(0, s/β), so
the learned density, moved to the step β·Δ, is the same family with scale s/β. The scale
is snapped to a fixed log-spaced table (`tfc_adapter.LaplaceConditional`), whose range
coding tables are built once and saved with the weights: encoder and decoder compute
the same integer table index per channel from β (carried by the container) and s.

`gdn_fixed_step` is the paper's third case: Δ = 1 is not learned, a GDN after the
analysis and an IGDN before the synthesis allocate bits instead (Ballé et al. 2017),
and β scales the unit step at test time exactly as above.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf

from zoo import layers, tfc_adapter
from zoo.models.base import CompressionModel, TrainingDefaults, ceil_div
from zoo.rates import RateSpec
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Dumas et al. 2018 §3 (256×256 patches); schedule of bls2017, the paper "
    "leaves its heuristics to its code",
)

#: The paper's test-time multipliers span 1 to 10 (§4, set B).
BETA_RANGE = (1.0, 10.0)


class LearnedStep(CompressionModel):
    """GDN transforms, one quantization step per channel, steps scaled by β at test time.

    Args:
      num_filters: channels of the hidden layers.
      num_latents: channels of y (one step, mean and scale each).
      learn_step: learn Δ (seed 001 case 2); if False Δ = 1 (case 3).
      normalization: a GDN after the analysis and an IGDN before the synthesis
        (seed 001 case 3, the bit allocation of Ballé et al. 2017).
      beta_range: the β a file may use; (1, 10) as in the paper.
      num_scales, scale_min, scale_max: the Laplace scale table of the coder.
    """

    num_payloads = 1

    def __init__(
        self,
        num_filters: int,
        num_latents: int,
        learn_step: bool = True,
        normalization: bool = False,
        beta_range: tuple[float, float] = BETA_RANGE,
        num_scales: int = 64,
        scale_min: float = 0.04,
        scale_max: float = 64.0,
        **kw: Any,
    ):
        super().__init__(**kw)
        low, high = (float(b) for b in beta_range)
        if not 0 < low <= 1.0 <= high:
            raise ValueError(f"beta_range must satisfy 0 < low <= 1 <= high, got {beta_range}")
        # β = 1: the steps as learned, the model's highest rate.
        self.rate_spec = RateSpec("beta", low, high, default=1.0)
        self.num_latents = int(num_latents)
        self.learn_step = bool(learn_step)
        self.analysis = layers.analysis_transform(num_filters, num_latents, "gdn")
        self.synthesis = layers.synthesis_transform(num_filters, "gdn")
        # Seed 001 case 3: the normalizations φ_e, φ_d around the quantizer.
        self.normalization = self.denormalization = None
        if normalization:
            self.normalization = layers.nonlinearity("gdn", name="normalization")
            self.denormalization = layers.nonlinearity("gdn", inverse=True, name="denormalization")
            # Built here, outside any call: variable names (weights-file keys) then do not
            # carry the model's process-unique name ("learned_step_3/normalization/...").
            with tf.name_scope(""):
                for gdn in (self.normalization, self.denormalization):
                    gdn(tf.zeros([1, 1, 1, self.num_latents]))
        zeros = tf.zeros([self.num_latents])
        # exp keeps Δ positive and makes its updates relative (a step is a scale).
        self.log_step = tf.Variable(zeros, trainable=self.learn_step, name="log_step")
        self.log_scale = tf.Variable(zeros, name="log_scale")
        # Centering (§3.1): estimated on training images, stored with the weights, so
        # it costs nothing in the file.
        self.latent_mean = tf.Variable(zeros, trainable=False, name="latent_mean")
        self.conditional = tfc_adapter.LaplaceConditional(num_scales, scale_min, scale_max)

    # Pieces -----------------------------------------------------------------------------

    @property
    def step_sizes(self) -> tf.Tensor:
        """The quantization steps Δ [num_latents] at β = 1."""
        return tf.exp(self.log_step)

    def latents(self, x: tf.Tensor) -> tf.Tensor:
        """y for images on 0..255 (after the normalization, if any)."""
        y = self.analyze(x)
        return self.normalization(y) if self.normalization is not None else y

    def _synthesize(self, y_hat: tf.Tensor) -> tf.Tensor:
        """The training reconstruction on 0..255 (coding uses the tiled `synthesize`)."""
        return self.synthesis(self._denormalize(y_hat)) * 255.0

    def _denormalize(self, y_hat: tf.Tensor) -> tf.Tensor:
        if self.denormalization is not None:
            y_hat = self.run(self.denormalization, y_hat)
        return y_hat

    def _scale_index(self, beta) -> tf.Tensor:
        """Continuous scale-table index per channel of the density of y/(βΔ)."""
        return self.conditional.index_for_scale(tf.exp(self.log_scale) / beta)

    def _coding_indexes(self, beta: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
        # Nearest table scale (`coding_indexes` floors): the least biased snap of s/β.
        indexes = self.conditional.coding_indexes(self._scale_index(beta) + 0.5)
        return tf.broadcast_to(indexes, shape)

    def estimate_mean(self, images: Any) -> np.ndarray:
        """Sets μ to the channel means of y over `images`; returns them.

        Args:
          images: a batch [B, H, W, 3] on 0..255, or an iterable of such batches
            (e.g. a `tf.data.Dataset` of training patches).
        """
        if isinstance(images, (np.ndarray, tf.Tensor)):
            images = [images]
        total = np.zeros(self.num_latents, np.float64)
        count = 0
        for batch in _as_batches(images):
            y = self.latents(tf.cast(batch, tf.float32)).numpy().astype(np.float64)
            total += y.sum(axis=(0, 1, 2))
            count += y.shape[0] * y.shape[1] * y.shape[2]
        if not count:
            raise ValueError("estimate_mean needs at least one image")
        mean = total / count
        self.latent_mean.assign(mean.astype(np.float32))
        return mean

    # Training ---------------------------------------------------------------------------

    def forward(self, x, training):
        y = self.latents(x)
        z = (y - self.latent_mean) / self.step_sizes
        index = tf.broadcast_to(self._scale_index(1.0), tf.shape(z))
        z_hat, bits = self.bottleneck(
            z, lambda v: self.conditional(v, index, training=training), training
        )
        return self._synthesize(z_hat * self.step_sizes + self.latent_mean), bits

    # Coding -----------------------------------------------------------------------------

    def _encode(self, x, rate):
        z = (self.latents(x) - self.latent_mean) / (rate * self.step_sizes)
        indexes = self._coding_indexes(rate, tf.shape(z))
        strings = self.conditional.compress(z, indexes)
        bits = self.conditional.coded_bits(tf.round(z), indexes)
        return [strings[0]], bits[0]

    def _decode(self, strings, shape, rate):
        z_shape = tf.concat([[1], ceil_div(shape, 16), [self.num_latents]], 0)
        z_hat = self.conditional.decompress(strings[0][None], self._coding_indexes(rate, z_shape))
        if self._float64:
            step = tf.cast(rate, tf.float64) * tf.cast(self.step_sizes, tf.float64)
            y_hat = tf.cast(z_hat, tf.float64) * step + tf.cast(self.latent_mean, tf.float64)
            return self.synthesize(self._denormalize(y_hat))
        return self.synthesize(self._denormalize(z_hat * (rate * self.step_sizes) + self.latent_mean))


def _as_batches(images: Iterable[Any]) -> Iterable[Any]:
    for batch in images:
        batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        yield batch if len(np.shape(batch)) == 4 else np.asarray(batch)[None]


@register_model("learned_step", training=TRAINING)
def learned_step(
    lmbda: float = 0.0483,
    num_filters: int = 128,
    num_latents: int = 192,
    **kw,
) -> LearnedStep:
    """Dumas et al. 2018: GDN transforms, learned per-channel steps scaled by β ∈ [1, 10]."""
    # Trained once at a high rate (the paper: its smallest γ); β only lowers the rate.
    return LearnedStep(num_filters, num_latents, lmbda=lmbda, **kw)


@register_model("learned_step_tiny", family="learned_step", tiny=True, training=TRAINING)
def learned_step_tiny(lmbda: float = 0.0483, **kw) -> LearnedStep:
    """Tiny learned-step model for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return learned_step(lmbda=lmbda, **kw)


@register_model("gdn_fixed_step", family="learned_step", training=TRAINING)
def gdn_fixed_step(lmbda: float = 0.0483, **kw) -> LearnedStep:
    """Dumas et al. 2018 case 3: GDN normalizations, fixed unit step scaled by β at test time."""
    kw.setdefault("learn_step", False)
    kw.setdefault("normalization", True)
    return learned_step(lmbda=lmbda, **kw)


@register_model("gdn_fixed_step_tiny", family="learned_step", tiny=True, training=TRAINING)
def gdn_fixed_step_tiny(lmbda: float = 0.0483, **kw) -> LearnedStep:
    """Tiny fixed-step model for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return gdn_fixed_step(lmbda=lmbda, **kw)
