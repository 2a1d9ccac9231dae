"""Mean-scale hyperprior: Minnen, Ballé, Toderici, "Joint Autoregressive and Hierarchical
Priors for Learned Image Compression", NeurIPS 2018, https://arxiv.org/abs/1809.02736,
without the context model (the paper's "mean & scale hyperprior" ablation).

    x ─analysis─> y ─Q(y − μ) + μ─> ŷ ─synthesis─> x̂
                  │                 ↑ N(μ, σ) ⊛ U
                  └─hyper_analysis─> z ─Q─> ẑ ─hyper_synthesis─> (μ, σ index)

Payloads: [y string, z string].
"""

from __future__ import annotations

import tensorflow as tf

from zoo import layers
from zoo.models.base import TrainingDefaults
from zoo.models.factorized import filters_for
from zoo.models.hyperprior import ScaleHyperprior
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Minnen et al. 2018 §4 (batch 8, 256×256 crops, Adam)",
)


class MeanScaleHyperprior(ScaleHyperprior):
    """The hyperprior predicts both the mean and the scale of each latent's Gaussian."""

    means = True

    def _make_hyper_analysis(self, num_filters, hyper):
        return layers.hyper_analysis_transform(num_filters, hyper, "leaky_relu")

    def _make_hyper_synthesis(self, num_filters, num_latents):
        # Means start at 0, scale indexes at the hyperprior's initial scale.
        bias = [0.0] * num_latents + [self._initial_index()] * num_latents
        return layers.hyper_synthesis_transform(
            num_filters, 2 * num_latents, "leaky_relu", middle_filters=num_filters * 3 // 2,
            bias_initializer=tf.keras.initializers.Constant(bias),
        )


@register_model("mean_scale", training=TRAINING)
def mean_scale(
    lmbda: float = 0.0130,
    metric: str = "mse",
    num_filters: int | None = None,
    num_latents: int | None = None,
    **kw,
) -> MeanScaleHyperprior:
    """Minnen et al. 2018 without context: Gaussian with predicted mean and scale."""
    n, m = filters_for(lmbda, metric, high_from=5)
    return MeanScaleHyperprior(num_filters or n, num_latents or m, lmbda=lmbda, metric=metric, **kw)


@register_model("mean_scale_tiny", family="mean_scale", tiny=True, training=TRAINING)
def mean_scale_tiny(lmbda: float = 0.0130, **kw) -> MeanScaleHyperprior:
    """Tiny mean-scale hyperprior for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return mean_scale(lmbda=lmbda, **kw)
