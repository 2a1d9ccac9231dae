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

import math
from collections.abc import Callable, Sequence

import tensorflow as tf

from zoo import index_guard, layers, tfc_adapter
from zoo.models.base import CompressionModel, TrainingDefaults, ceil_div
from zoo.models.factorized import filters_for
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


#: (level, y or None, μ, σ index) -> (ŷ, anything to collect); y is None when decoding.
CodeLevel = Callable[[int, "tf.Tensor | None", tf.Tensor, tf.Tensor], tuple[tf.Tensor, object]]


class HierarchicalModel(CompressionModel):
    """`num_levels` latent levels; Gaussian conditionals below a factorized top level.

    Args:
      num_filters: width of every feature map (transforms and ResNet blocks).
      num_latents: channels of the level-1 latent (M of the hyperprior).
      num_hyper_latents: channels of the latents of levels 2..L (default `num_filters`).
      num_levels: number of latent levels L ≥ 2 (6 in the paper).
      level_strides: downsampling (1 or 2) into each of levels 2..L; default alternates
        2, 1, 2, … so a 6-level model codes its top level at 1/128 of the image size.
      num_scales, scale_min, scale_max: the Gaussian conditional's scale table.
    """

    index_guarded = True

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
        self.num_payloads = num_levels + 1  # a string per level, then the index guard
        self.level_strides = strides
        self.latent_channels = (int(num_latents),) + (hyper,) * (num_levels - 1)
        # Level 1 keeps the hyperprior's GDN transforms; its latent is a function of the
        # analysis features *and* the top-down state, so the analysis outputs features.
        self.analysis = layers.analysis_transform(n, n, "gdn")
        self.synthesis = layers.synthesis_transform(n, "gdn")
        # hyper_analysis[i] maps f_{i+1} to f_{i+2}; hyper_synthesis[i] maps h_{i+2} to h_{i+1}
        # (1-based levels), i.e. both are indexed by the lower of the two levels.
        self.hyper_analysis = [
            _resample(n, s, up=False, name=f"hyper_analysis_{i + 2}") for i, s in enumerate(strides)
        ]
        self.hyper_synthesis = [
            _resample(n, s, up=True, name=f"hyper_synthesis_{i + 1}") for i, s in enumerate(strides)
        ]
        self.posteriors = [
            _head([c], name=f"posterior_{i + 1}") for i, c in enumerate(self.latent_channels)
        ]
        self.priors = [
            _head([n, 2 * c], name=f"prior_{i + 1}") for i, c in enumerate(self.latent_channels[:-1])
        ]
        self.merges = [Merge(n, name=f"merge_{i + 1}") for i in range(num_levels - 1)]
        self.top = tf.keras.Sequential(
            [layers.conv(n, 3, name="conv"), ResidualBlock(n)], name=f"top_{num_levels}"
        )
        self.side_entropy_model = tfc_adapter.FactorizedEntropyModel(hyper, name="side_bottleneck")
        # One scale table serves every Gaussian level: the tables are the same.
        self.conditional = tfc_adapter.GaussianConditional(num_scales, scale_min, scale_max)

    # Shapes and the two passes ----------------------------------------------------------

    @property
    def stride(self) -> int:
        return 16 * math.prod(self.level_strides)

    def level_shapes(self, shape: tf.Tensor) -> list[tf.Tensor]:
        """Spatial sizes [2] of the latents of levels 1..L for an image of size `shape`."""
        shapes = [ceil_div(shape, 16)]
        for stride in self.level_strides:
            shapes.append(ceil_div(shapes[-1], stride))
        return shapes

    def _bottom_up(self, x: tf.Tensor, coding: bool = False) -> list[tf.Tensor]:
        features = [self.analyze(x) if coding else self.analysis(self.to_unit(x))]
        for block in self.hyper_analysis:
            features.append(block(features[-1]))
        return features

    def _top_down(
        self,
        shapes: list[tf.Tensor],
        code_top: Callable[[tf.Tensor | None], tuple[tf.Tensor, object]],
        code_level: CodeLevel,
        features: list[tf.Tensor] | None = None,
        coding: bool = False,
    ) -> tuple[tf.Tensor, list[object], list[tf.Tensor]]:
        """Runs levels L … 1, shared by training, encoding and decoding.

        Args:
          shapes: `level_shapes` of the image.
          code_top: y_L (None when decoding) -> (ŷ_L, collected).
          code_level: see `CodeLevel`; perturbs, quantizes and codes, or decodes a level.
          features: bottom-up features f_1..f_L; None when decoding.
          coding: run the top-down networks in float64 (encoding and decoding files).

        Returns:
          (reconstruction: on 0..255 in training, uint8 pixels when coding; collected
          values of levels 1..L, ŷ of levels 1..L).
        """
        top = self.num_levels - 1
        # Coding (bits are not trained) runs the top-down pass in float64, so encoder and
        # decoder graphs compute the same tables' indexes (`layers.run_float64`).
        if coding:
            def run(layer, *args):
                if isinstance(layer, Merge):
                    return layer.call_float64(tf.cast(args[0], tf.float64), args[1])
                return layers.run_float64(layer, args[0])
        else:
            def run(layer, *args):
                return layer(*args)
        y = None if features is None else self.posteriors[top](features[top])
        y_hat, extra = code_top(y)
        collected, latents = [extra], [y_hat]
        h = run(self.top, y_hat)
        for level in reversed(range(top)):
            shape = shapes[level]
            h = run(self.hyper_synthesis[level], h)[:, : shape[0], : shape[1], :]
            loc, index = tf.split(run(self.priors[level], h), 2, axis=-1)
            y = None
            if features is not None:
                h32 = tf.cast(h, tf.float32)
                y = self.posteriors[level](tf.concat([features[level], h32], axis=-1))
            if coding:  # the coder takes float32 means; both sides round them alike
                loc = tf.cast(loc, tf.float32)
            y_hat, extra = code_level(level, y, loc, index)
            collected.insert(0, extra)
            latents.insert(0, y_hat)
            h = run(self.merges[level], h, y_hat)
        if coding:  # uint8 pixels, in tiles; float64 in the portable decoder
            return self.synthesize(h if self._float64 else tf.cast(h, tf.float32)), collected, latents
        return self.from_unit(self.synthesis(tf.cast(h, tf.float32))), collected, latents

    # Training ---------------------------------------------------------------------------

    def forward(self, x, training):
        features = self._bottom_up(x)

        def code_top(y):
            return self.bottleneck(y, lambda v: self.side_entropy_model(v, training), training)

        def code_level(level, y, loc, index):
            return self.bottleneck(
                y, lambda v: self.conditional(v, index, loc, training=training), training, loc
            )

        shapes = self.level_shapes(tf.shape(x)[1:3])
        x_hat, bits, _ = self._top_down(shapes, code_top, code_level, features)
        return x_hat, tf.add_n(bits)

    # Coding -----------------------------------------------------------------------------

    def encode_levels(
        self, x: tf.Tensor, with_guard: bool = False
    ) -> tuple[list[tf.Tensor], list[tf.Tensor], list[tf.Tensor]]:
        """Codes images [B, H, W, 3] on 0..255 level by level.

        Returns:
          (strings [B] per level, bits [B] per level, quantized latents ŷ per level),
          each list ordered level 1 … L; `with_guard` (one image) appends the index guard
          of levels 1 … L−1 (`zoo.index_guard`, positions level after level) to strings.
        """
        side, cond = self.side_entropy_model, self.conditional
        continuous = {}

        def code_top(y):
            y_hat = side.quantize(y)
            return y_hat, (side.compress(y), side.coded_bits(y_hat))

        def code_level(level, y, loc, index):
            indexes = cond.coding_indexes(index)
            continuous[level] = tf.reshape(index, [-1])
            y_hat = tf.round(y - loc) + loc
            return y_hat, (cond.compress(y, indexes, loc), cond.coded_bits(y_hat, indexes, loc))

        features = self._bottom_up(x, coding=True)
        # Shapes from the image, not from the features: reading a fused op's output shape
        # makes grappler's remapper give up on the encoder graph only.
        shape = tf.shape(x)[1:3]  # in a coding graph, x is padded by `analyze`'s tiles
        shapes = self.level_shapes(self.coded_shape(shape) if self._tiled else shape)
        _, collected, latents = self._top_down(shapes, code_top, code_level, features, coding=True)
        strings, bits = (list(c) for c in zip(*collected))
        if with_guard:
            guard = cond.guard_payload(tf.concat([continuous[k] for k in sorted(continuous)], 0))
            strings.append(guard[None])
        return strings, bits, latents

    def decode_levels(
        self, strings: Sequence[tf.Tensor], shape: tf.Tensor, guard=None
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """Decodes one string [B] per level (level 1 first), the top level first, with the
        encoder's index guard (decoded, `zoo.index_guard.decode`) if given.

        Returns:
          (reconstruction [B, H', W', 3] in uint8, decoded ŷ of levels 1 … L).
        """
        shapes = self.level_shapes(shape)
        side, cond = self.side_entropy_model, self.conditional
        sizes = [tf.reduce_prod(s) * c for s, c in zip(shapes, self.latent_channels)]

        def code_top(_):
            return side.decompress(strings[-1], shapes[-1]), None

        def code_level(level, _, loc, index):
            if guard is None:
                indexes = cond.coding_indexes(index)
            else:
                indexes = cond.guarded_indexes(index, guard, sum(sizes[:level], tf.constant(0)))
            return cond.decompress(strings[level], indexes, loc), None

        x_hat, _, latents = self._top_down(shapes, code_top, code_level, coding=True)
        return x_hat, latents

    def _encode(self, x, rate):
        strings, bits, _ = self.encode_levels(x, with_guard=True)
        return [s[0] for s in strings], (tf.add_n(bits) + index_guard.bits(strings[-1]))[0]

    def _decode(self, strings, shape, rate):
        guard = index_guard.decode(strings[-1])
        x_hat, _ = self.decode_levels([s[None] for s in strings[:-1]], shape, guard)
        return x_hat


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
