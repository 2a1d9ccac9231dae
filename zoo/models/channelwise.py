"""Channel-wise autoregressive entropy model: Minnen & Singh, "Channel-wise
Autoregressive Entropy Models for Learned Image Compression", ICIP 2020,
https://arxiv.org/abs/2007.08739 (seed 004 §IV, "FA + channel BA"; tensorflow-
compression's `ms2020.py`).

    x ─analysis─> y ──split into S slices── y₀ y₁ … y_{S−1} ─> … ─concat ŷ─synthesis─> x̂
                  │                          │
                  └─hyper_analysis─> z ─Q─> ẑ ─hyper_synthesis─> (μ features, σ features)
                                                         │
    for slice s:  μ_s = mean_s(μ feat, ŷ_<s)   σ_s = scale_s(σ feat, ŷ_<s)   (σ as table index)
                  ŷ_s = Q(y_s − μ_s) + μ_s,  coded with N(μ_s, σ_s) ⊛ U
                  ŷ_s += 0.5·tanh(lrp_s(μ support, ŷ_s))      (latent residual prediction)

ŷ_<s is at most the first `max_support_slices` slices (5 in the paper). Slice
transforms are three convolutions (5×5, 5×5, 3×3; widths 224, 128, M/S for M = 320).
Decoding runs S steps of full-image convolutions: no spatial recursion.

`channelwise_paper` keeps the paper's hyper transforms (widths M and 4M/5: 320, 256).
The default `channelwise` is lighter where the time goes, the 3·S slice transforms (their
first convolution reads the hyper features plus up to five slices): 3×3 instead of 5×5
kernels, widths M/2 and M/4 (160, 80) instead of 224 and 128, and M/2 hyper features for
means and for scales instead of M; its hyper transforms are N wide (192) like the scale
hyperprior's. On a 768×512 image on 2 cores that takes encoding/decoding from 0.87/0.98 s
(paper) to 0.38/0.38 s (`python -m recipes.benchmark`). The slices, their conditioning
on the hyperprior and on earlier slices, and LRP are the paper's.

Payloads: [y string (slice after slice), z string, index guard (`zoo.index_guard`,
positions slice after slice)].
"""

from __future__ import annotations

import tensorflow as tf

from zoo import layers, tfc_adapter
from zoo.latent_codecs import ChannelSlicesCodec
from zoo.models.base import TrainingDefaults
from zoo.models.latent import LatentCodecModel
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256,
    batchsize=8,
    learning_rate=1e-4,
    num_steps=1_000_000,
    decay_at=0.9,
    source="tensorflow-compression ms2020.py defaults (batch 8, 256×256, 1000 × 1000 steps)",
)


class TwinHyperSynthesis(tf.keras.layers.Layer):
    """Two hyper synthesis transforms, for the means and for the scales."""

    def __init__(self, hyper_latents: int, middle: int, features: int, name="hyper_synthesis"):
        super().__init__(name=name)
        # The outputs stay features (ReLU), not means or scales: slice transforms read them.
        widths, kernels, strides = (hyper_latents, middle, features), (5, 5, 3), (2, 2, 1)
        self.mean = layers.conv_stack(widths, kernels, "mean", "relu", strides)
        self.scale = layers.conv_stack(widths, kernels, "scale", "relu", strides)

    def call(self, z_hat):
        return self.mean(z_hat), self.scale(z_hat)

    def call_float64(self, z_hat):
        return layers.run_float64(self.mean, z_hat), layers.run_float64(self.scale, z_hat)


class ChannelwiseAutoregressive(LatentCodecModel):
    """Slices of the latent conditioned on the hyperprior and on earlier slices, with LRP."""

    stride = 64  # 16 to y, 4 more to z

    def __init__(
        self,
        num_filters: int = 192,
        num_latents: int = 320,
        num_hyper_latents: int = 192,
        num_slices: int = 10,
        max_support_slices: int = 5,
        slice_widths: tuple[int, int] | None = None,
        hyper_widths: tuple[int, int] | None = None,
        slice_kernels: tuple[int, int, int] = (5, 5, 3),
        hyper_features: int | None = None,
        num_scales: int = 64,
        scale_min: float = 0.11,
        scale_max: float = 256.0,
        **kw,
    ):
        super().__init__(**kw)
        if num_latents % num_slices:
            raise ValueError(f"{num_slices} slices do not divide {num_latents} latents")
        m = num_latents
        self.num_latents, self.num_slices = m, num_slices
        self.max_support_slices = max_support_slices
        depth = m // num_slices
        first, middle = hyper_widths or (m, 4 * m // 5)  # paper: 320, 256 for M = 320
        widths = slice_widths or (7 * m // 10, 2 * m // 5)  # 224, 128 for M = 320
        self.analysis = layers.analysis_transform(num_filters, m, "gdn")
        self.synthesis = layers.synthesis_transform(num_filters, "gdn")
        hyper_analysis = tf.keras.Sequential(
            [
                layers.conv(first, 3, 1, name="conv_0", activation="relu"),
                layers.conv(middle, 5, 2, name="conv_1", activation="relu"),
                layers.conv(num_hyper_latents, 5, 2, name="conv_2", use_bias=False),
            ],
            name="hyper_analysis",
        )
        hyper_synthesis = TwinHyperSynthesis(num_hyper_latents, middle, hyper_features or m)

        def slice_stacks(kind):
            return [layers.conv_stack((*widths, depth), tuple(slice_kernels), f"{kind}_{s}")
                    for s in range(num_slices)]

        # Built in this order since the first weights file: the order is the files' keys.
        mean, scale, lrp = slice_stacks("mean"), slice_stacks("scale"), slice_stacks("lrp")
        self.latent_codec = ChannelSlicesCodec(
            hyper_analysis, hyper_synthesis, mean, scale, lrp,
            tfc_adapter.FactorizedEntropyModel(num_hyper_latents, name="side_bottleneck"),
            tfc_adapter.GaussianConditional(num_scales, scale_min, scale_max),
            max_support_slices, name="latent_codec",
        )

    @property
    def conditional(self):
        return self.latent_codec.conditional

    @property
    def side_entropy_model(self):
        return self.latent_codec.side_entropy_model


@register_model("channelwise_paper", family="channelwise", training=TRAINING)
def channelwise_paper(
    lmbda: float = 0.0130, metric: str = "mse", **kw
) -> ChannelwiseAutoregressive:
    """Minnen & Singh 2020 as published: hyper transforms M and 4M/5 wide."""
    # The paper trains with rounded latents (straight-through) for the synthesis input.
    kw.setdefault("proxy", "ste")
    return ChannelwiseAutoregressive(lmbda=lmbda, metric=metric, **kw)


@register_model("channelwise", training=TRAINING)
def channelwise(lmbda: float = 0.0130, metric: str = "mse", **kw) -> ChannelwiseAutoregressive:
    """Minnen & Singh 2020's slices and LRP with lighter slice and hyper transforms."""
    n = kw.setdefault("num_filters", 192)
    m = kw.setdefault("num_latents", 320)
    kw.setdefault("hyper_widths", (n, n))
    kw.setdefault("hyper_features", m // 2)
    kw.setdefault("slice_widths", (m // 2, m // 4))
    kw.setdefault("slice_kernels", (3, 3, 3))
    return channelwise_paper(lmbda=lmbda, metric=metric, **kw)


@register_model("channelwise_tiny", family="channelwise", tiny=True, training=TRAINING)
def channelwise_tiny(lmbda: float = 0.0130, **kw) -> ChannelwiseAutoregressive:
    """Tiny channel-wise model for tests: 4 slices of 3 latents."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    kw.setdefault("num_hyper_latents", 8)
    kw.setdefault("num_slices", 4)
    kw.setdefault("max_support_slices", 2)
    kw.setdefault("slice_widths", (8, 8))
    return channelwise(lmbda=lmbda, **kw)
