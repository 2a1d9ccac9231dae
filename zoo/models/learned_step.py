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
the same integer table index per channel from β (carried by the container) and s. The
coding path is `zoo.latent_codecs.steps.QuantizationStepCodec`.

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
from zoo.latent_codecs.steps import QuantizationStepCodec
from zoo.models.base import TrainingDefaults
from zoo.models.latent import LatentCodecModel
from zoo.rates import RateSpec
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Dumas et al. 2018 §3 (256×256 patches); schedule of bls2017, the paper "
    "leaves its heuristics to its code",
)

#: The paper's test-time multipliers span 1 to 10 (§4, set B).
BETA_RANGE = (1.0, 10.0)


class LearnedStep(LatentCodecModel):
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
        self.latent_codec = QuantizationStepCodec(
            num_latents, self._step_parameters, normalization, num_scales, scale_min, scale_max,
            name="latent_codec")
        zeros = tf.zeros([self.num_latents])
        # The codec's Δ (exp keeps it positive and its updates relative), s, and μ, the
        # channel means of y (§3.1, stored with the weights, so free in the file).
        self.log_step = tf.Variable(zeros, trainable=self.learn_step, name="log_step")
        self.log_scale = tf.Variable(zeros, name="log_scale")
        self.latent_mean = tf.Variable(zeros, trainable=False, name="latent_mean")

    def _step_parameters(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return self.log_step, self.log_scale, self.latent_mean

    @property
    def conditional(self) -> tfc_adapter.LaplaceConditional:
        return self.latent_codec.conditional

    @property
    def normalization(self):
        return self.latent_codec.normalization

    @property
    def step_sizes(self) -> tf.Tensor:
        """The quantization steps Δ [num_latents] at β = 1."""
        return self.latent_codec.step_sizes

    def latents(self, x: tf.Tensor) -> tf.Tensor:
        """y for images on 0..255 (after the normalization, if any)."""
        return self.latent_codec.normalize(self.analyze(x))

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
