"""Deep hierarchical latents (HCAE): Srivastava, Pyla, "Hierarchical Modeling for Image
Compression" (UC Irvine, seed 002 §3), a 6-level VAE with bidirectional inference built
from the ResNet VAE of Kingma, Salimans, Jozefowicz, Chen, Sutskever, Welling, "Improved
Variational Inference with Inverse Autoregressive Flow", NeurIPS 2016,
https://arxiv.org/abs/1606.04934 (§6, "bidirectional inference"), on top of the scale
hyperprior of Ballé et al. 2018 (GDN first-level transforms, the same entropy models).

    bottom-up, deterministic:
      x ─analysis (GDN, /16)─> f₁ ─down₂─> f₂ ─down₃─> … ─down_L─> f_L     (stride 2 or 1)
    top-down, level L first:
      y_L = posterior_L(f_L) ─Q─> ŷ_L   p(ŷ_L): factorized prior          h_L = top(ŷ_L)
      for l = L−1 … 1:
        h_l = up_l(h_{l+1})                        transposed conv + ResNet block, cropped
        (μ_l, σ_l) = prior_l(h_l)                  p(ŷ_l | ŷ_{>l}) = N(μ_l, σ_l) ⊛ U(−½, ½)
        y_l = posterior_l([f_l, h_l]) ─Q(y_l − μ_l) + μ_l─> ŷ_l
        h_l ← h_l + merge_l(h_l, ŷ_l)              ŷ_l joins the residual's hidden layer
      x̂ = synthesis(h₁)                            (IGDN, ×16)

The posterior of every level sees both the bottom-up features and the top-down state
(Kingma et al. Fig. 3b); priors see only the levels above, so a decoder holding ŷ_{>l}
computes exactly the encoder's (μ_l, σ_l). Levels are coded at their own resolution:
latent sizes are nested ceilings of the image size, so any image size works without
padding (transposed convolutions are cropped to the level below).

Payloads: one string per level, level 1 first (the decoder reads the top level first),
then the index guard of levels 1 … L−1 (`zoo.index_guard`).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from zoo import layers, tfc_adapter
from zoo.latent_codecs import DECODE, ENCODE, Payloads
from zoo.latent_codecs.hierarchy import HierarchyCodec
from zoo.models.base import TrainingDefaults, ceil_div
from zoo.models.factorized import filters_for
from zoo.models.latent import LatentCodecModel
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256,
    batchsize=8,
    learning_rate=1e-4,
    # 30 epochs of COCO 2017 train (118,287 images) at batch 8; the report gives the
    # epochs only, patch/batch/learning rate follow tensorflow-compression's defaults.
    num_steps=30 * 118_287 // 8,
    decay_at=0.9,
    source="Srivastava & Pyla §4 (30 epochs of COCO 2017); tfc bmshj2018.py patch/batch/lr",
)


def default_strides(num_levels: int) -> tuple[int, ...]:
    """Strides of levels 2..L: halve, keep, halve, … (two latent levels per resolution,
    as the ResNet VAE stacks several stochastic layers per stage)."""
    return tuple(2 if i % 2 == 0 else 1 for i in range(num_levels - 1))


class ResidualBlock(tf.keras.layers.Layer):
    """x + conv(elu(conv(elu(x)))): Kingma et al.'s ResNet block (3×3, ELU)."""

    def __init__(self, filters: int, name: str = "residual"):
        super().__init__(name=name)
        self.conv_0 = layers.conv(filters, 3, name="conv_0")
        self.conv_1 = layers.conv(filters, 3, name="conv_1")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x + self.conv_1(tf.nn.elu(self.conv_0(tf.nn.elu(x))))

    def call_float64(self, x: tf.Tensor) -> tf.Tensor:
        inner = layers.run_float64(self.conv_0, tf.nn.elu(x))
        return x + layers.run_float64(self.conv_1, tf.nn.elu(inner))


class Merge(tf.keras.layers.Layer):
    """h + conv(elu([conv(elu(h)), ŷ])): the latent becomes part of the hidden layer of
    the top-down residual function (seed 002 Fig. 5)."""

    def __init__(self, filters: int, name: str = "merge"):
        super().__init__(name=name)
        self.conv_0 = layers.conv(filters, 3, name="conv_0")
        self.conv_1 = layers.conv(filters, 3, name="conv_1")

    def call(self, h: tf.Tensor, y_hat: tf.Tensor) -> tf.Tensor:
        hidden = tf.concat([self.conv_0(tf.nn.elu(h)), y_hat], axis=-1)
        return h + self.conv_1(tf.nn.elu(hidden))

    def call_float64(self, h: tf.Tensor, y_hat: tf.Tensor) -> tf.Tensor:
        hidden = tf.concat([layers.run_float64(self.conv_0, tf.nn.elu(h)),
                            tf.cast(y_hat, tf.float64)], axis=-1)
        return h + layers.run_float64(self.conv_1, tf.nn.elu(hidden))


def _resample(filters: int, stride: int, up: bool, name: str) -> tf.keras.Sequential:
    """ELU, a 3×3 (transposed) convolution with `stride`, then a ResNet block."""
    make = layers.deconv if up and stride > 1 else layers.conv
    return tf.keras.Sequential(
        [
            layers.nonlinearity("elu", name="act"),
            make(filters, 3, stride, name="deconv" if up else "conv"),
            ResidualBlock(filters),
        ],
        name=name,
    )


def _head(widths: Sequence[int], name: str) -> tf.keras.Sequential:
    """3×3 convolutions, each after an ELU: posteriors (one) and priors (two)."""
    stack = []
    for i, width in enumerate(widths):
        stack += [layers.nonlinearity("elu", name=f"act_{i}"), layers.conv(width, 3, name=f"conv_{i}")]
    return tf.keras.Sequential(stack, name=name)


class HierarchicalModel(LatentCodecModel):
    """`num_levels` latent levels; Gaussian conditionals below a factorized top level.

    The levels' networks and entropy models form the latent codec
    (`zoo.latent_codecs.hierarchy.HierarchyCodec`); the model is the first-level GDN
    transforms around it.

    Args:
      num_filters: width of every feature map (transforms and ResNet blocks).
      num_latents: channels of the level-1 latent (M of the hyperprior).
      num_hyper_latents: channels of the latents of levels 2..L (default `num_filters`).
      num_levels: number of latent levels L ≥ 2 (6 in the paper).
      level_strides: downsampling (1 or 2) into each of levels 2..L; default alternates
        2, 1, 2, … so a 6-level model codes its top level at 1/128 of the image size.
      num_scales, scale_min, scale_max: the Gaussian conditional's scale table.
    """

    def __init__(
        self,
        num_filters: int,
        num_latents: int,
        num_hyper_latents: int | None = None,
        num_levels: int = 6,
        level_strides: Sequence[int] | None = None,
        num_scales: int = 64,
        scale_min: float = 0.11,
        scale_max: float = 256.0,
        **kw,
    ):
        super().__init__(**kw)
        num_levels = int(num_levels)
        if num_levels < 2:
            raise ValueError(f"a hierarchy needs num_levels >= 2, got {num_levels}")
        strides = default_strides(num_levels) if level_strides is None else tuple(
            int(s) for s in level_strides
        )
        if len(strides) != num_levels - 1 or any(s not in (1, 2) for s in strides):
            raise ValueError(
                f"level_strides must be {num_levels - 1} values of 1 or 2, got {level_strides}"
            )
        n = int(num_filters)
        hyper = int(num_hyper_latents or n)
        self.num_levels = num_levels
        self.level_strides = strides
        self.latent_channels = (int(num_latents),) + (hyper,) * (num_levels - 1)
        # Level 1 keeps the hyperprior's GDN transforms; its latent is a function of the
        # analysis features *and* the top-down state, so the analysis outputs features.
        self.analysis = layers.analysis_transform(n, n, "gdn")
        self.synthesis = layers.synthesis_transform(n, "gdn")
        # hyper_analysis[i] maps f_{i+1} to f_{i+2}; hyper_synthesis[i] maps h_{i+2} to h_{i+1}
        # (1-based levels), i.e. both are indexed by the lower of the two levels.
        self.latent_codec = HierarchyCodec(
            strides,
            self.latent_channels,
            hyper_analysis=[_resample(n, s, up=False, name=f"hyper_analysis_{i + 2}")
                            for i, s in enumerate(strides)],
            hyper_synthesis=[_resample(n, s, up=True, name=f"hyper_synthesis_{i + 1}")
                             for i, s in enumerate(strides)],
            posteriors=[_head([c], name=f"posterior_{i + 1}")
                        for i, c in enumerate(self.latent_channels)],
            priors=[_head([n, 2 * c], name=f"prior_{i + 1}")
                    for i, c in enumerate(self.latent_channels[:-1])],
            merges=[Merge(n, name=f"merge_{i + 1}") for i in range(num_levels - 1)],
            top=tf.keras.Sequential([layers.conv(n, 3, name="conv"), ResidualBlock(n)],
                                    name=f"top_{num_levels}"),
            side_entropy_model=tfc_adapter.FactorizedEntropyModel(hyper, name="side_bottleneck"),
            # One scale table serves every Gaussian level: the tables are the same.
            conditional=tfc_adapter.GaussianConditional(num_scales, scale_min, scale_max),
            name="latent_codec",
        )

    @property
    def stride(self) -> int:
        return 16 * self.latent_codec.factor

    def level_shapes(self, shape: tf.Tensor) -> list[tf.Tensor]:
        """Spatial sizes [2] of the latents of levels 1..L for an image of size `shape`."""
        return self.latent_codec.level_shapes(ceil_div(shape, 16))

    # Coding -----------------------------------------------------------------------------

    def _encode(self, x, rate):
        # The grid from the image, not from the features: reading a fused op's output
        # shape makes grappler's remapper give up on the encoder graph only.
        shape = tf.shape(x)[1:3]  # in a coding graph, x is padded by `analyze`'s tiles
        grid = ceil_div(self.coded_shape(shape) if self._tiled else shape, 16)
        return self.encode_latents(self.analyze(x), None, rate, grid)

    def encode_levels(self, x: tf.Tensor, with_guard: bool = False):
        """Codes one image [1, H, W, 3] on 0..255 (any size: levels are nested ceilings).

        Returns:
          (strings [1] per level, bits [1] per level, quantized latents ŷ per level),
          each list ordered level 1 … L; `with_guard` appends the index guard of levels
          1 … L−1 (`zoo.index_guard`) to the strings.
        """
        if x.shape[0] is not None and x.shape[0] != 1:
            raise ValueError(f"encode_levels codes one image at a time, got a batch of {x.shape[0]}")
        codec = self.latent_codec
        layout = codec.layout if with_guard else codec.layout[:-1]
        payloads = Payloads(layout)
        _, latents, bits, _ = codec.levels(self.step(ENCODE, payloads), self.analyze(x),
                                           ceil_div(tf.shape(x)[1:3], 16))
        return [s[None] for s in payloads.ordered()], bits, latents

    def decode_levels(self, strings: Sequence[tf.Tensor], shape: tf.Tensor):
        """Decodes one string [1] per level (level 1 first, no index guard), the top level
        first. Returns (uint8 reconstruction [1, H', W', 3], decoded ŷ of levels 1 … L)."""
        payloads = Payloads(self.latent_codec.layout[:-1], [s[0] for s in strings])
        h, latents, _, _ = self.latent_codec.levels(self.step(DECODE, payloads), None,
                                                    ceil_div(shape, 16))
        return self.synthesize(h), latents


# The codec's parts, as the model's attributes (tests and recipes read them).
for _part in ("hyper_analysis", "hyper_synthesis", "posteriors", "priors", "merges", "top",
              "side_entropy_model", "conditional"):
    setattr(HierarchicalModel, _part, property(lambda self, name=_part: getattr(self.latent_codec, name)))
del _part


@register_model("hierarchical", training=TRAINING)
def hierarchical(
    lmbda: float = 0.0130,
    metric: str = "mse",
    num_filters: int | None = None,
    num_latents: int | None = None,
    **kw,
) -> HierarchicalModel:
    """Srivastava & Pyla: 6-level hierarchical VAE (HCAE), bidirectional inference."""
    n, m = filters_for(lmbda, metric, high_from=6)
    return HierarchicalModel(num_filters or n, num_latents or m, lmbda=lmbda, metric=metric, **kw)


@register_model("hierarchical_tiny", family="hierarchical", tiny=True, training=TRAINING)
def hierarchical_tiny(lmbda: float = 0.0130, **kw) -> HierarchicalModel:
    """Tiny 3-level hierarchical model for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    kw.setdefault("num_hyper_latents", 6)
    kw.setdefault("num_levels", 3)
    return hierarchical(lmbda=lmbda, **kw)
