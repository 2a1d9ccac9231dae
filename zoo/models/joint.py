"""Joint autoregressive and hierarchical priors: Minnen, Ballé, Toderici, "Joint
Autoregressive and Hierarchical Priors for Learned Image Compression", NeurIPS 2018,
https://arxiv.org/abs/1809.02736 (seed 004 §IV, "FA + spatial BA").

    x ─analysis─> y ─Q(y − μ) + μ─> ŷ ─synthesis─> x̂
                  │                 │ N(μ, σ) ⊛ U
                  │                 └─masked 5×5 conv (context)──┐
                  │                                              ├─concat─1×1 convs─> (μ, σ index)
                  └─hyper_analysis─> z ─Q─> ẑ ─hyper_synthesis───┘
                                           └── factorized prior p(ẑ)

Entropy parameters: 1×1 convolutions 4M → 10M/3 → 8M/3 → 2M (640 → 512 → 384 for
M = 192, as in the paper), leaky ReLU between. The context model runs in training as
one masked convolution; encoder and decoder run it as a wavefront (`zoo.latent_codecs.wavefront`)
over 3·H + W steps with identical shapes, so their scale indexes agree bit for bit.

Payloads: [y string (coding order: wavefront steps, then channels), z string, index
guard (`zoo.index_guard`, positions in the same order)].
"""

from __future__ import annotations

import tensorflow as tf

from zoo import layers
from zoo.latent_codecs.context import SpatialContextCodec
from zoo.latent_codecs.wavefront import MaskedConv2D
from zoo.models.mean_scale import TRAINING, MeanScaleHyperprior  # same paper, same schedule
from zoo.registry import register_model


class JointAutoregressive(MeanScaleHyperprior):
    """Mean-scale hyperprior plus a masked 5×5 spatial context model."""

    def __init__(self, num_filters: int, num_latents: int, context_kernel: int = 5, **kw):
        if kw.get("scale_output", "index") != "index":
            raise ValueError("the entropy parameters output scale indexes only "
                             "(scale_output='index')")
        self.context_kernel = int(context_kernel)  # read by `_make_latent_codec`
        super().__init__(num_filters, num_latents, **kw)

    def _make_latent_codec(self, hyper_analysis, hyper_synthesis, side, conditional):
        m = self.num_latents
        # Built now so no variable is first created inside the decoder's while loop.
        context_model = MaskedConv2D(2 * m, self.context_kernel, input_channels=m,
                                     name="context_model")
        dense = tf.keras.layers.Dense
        entropy_parameters = tf.keras.Sequential(
            [
                dense(10 * m // 3, name="dense_0"),
                layers.nonlinearity("leaky_relu", name="act_0"),
                dense(8 * m // 3, name="dense_1"),
                layers.nonlinearity("leaky_relu", name="act_1"),
                # Means start at 0, scale indexes at the initial scale (the hyperprior's).
                dense(2 * m, name="dense_2", bias_initializer=tf.keras.initializers.Constant(
                    [0.0] * m + [self._initial_index()] * m)),
            ],
            name="entropy_parameters",
        )
        entropy_parameters.build([None, 4 * m])
        return SpatialContextCodec(hyper_analysis, hyper_synthesis, side, conditional,
                                   context_model, entropy_parameters, name="latent_codec")

    def _make_hyper_synthesis(self, num_filters, num_latents):
        # Features for the entropy parameters, not parameters themselves: no index offset.
        return layers.hyper_synthesis_transform(
            num_filters, 2 * num_latents, "leaky_relu", middle_filters=num_filters * 3 // 2)

    @property
    def context_model(self):
        return self.latent_codec.context_model


@register_model("joint", training=TRAINING)
def joint(
    lmbda: float = 0.0130,
    metric: str = "mse",
    num_filters: int | None = None,
    num_latents: int | None = None,
    **kw,
) -> JointAutoregressive:
    """Minnen et al. 2018: mean-scale hyperprior with a masked 5×5 spatial context model."""
    from zoo.models.base import quality_index

    # N = 192 throughout; M = 192 at low rates, 320 from quality 5 on (as published).
    m = 320 if quality_index(lmbda, metric) >= 5 else 192
    return JointAutoregressive(
        num_filters or 192, num_latents or m, lmbda=lmbda, metric=metric, **kw
    )


@register_model("joint_tiny", family="joint", tiny=True, training=TRAINING)
def joint_tiny(lmbda: float = 0.0130, **kw) -> JointAutoregressive:
    """Tiny joint autoregressive model for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return joint(lmbda=lmbda, **kw)
