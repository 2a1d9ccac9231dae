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

from zoo import index_guard, layers, tfc_adapter
from zoo.models.base import CompressionModel, TrainingDefaults, ceil_div
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256,
    batchsize=8,
    learning_rate=1e-4,
    num_steps=1_000_000,
    decay_at=0.9,
    source="tensorflow-compression ms2020.py defaults (batch 8, 256×256, 1000 × 1000 steps)",
)


def _stack(widths, kernels, name, final_activation=None, transpose_strides=None):
    """Convolutions with ReLU between them (and `final_activation` after the last)."""
    stack = []
    for i, (width, kernel) in enumerate(zip(widths, kernels)):
        last = i == len(widths) - 1
        activation = final_activation if last else "relu"
        if transpose_strides is None:
            stack.append(layers.conv(width, kernel, name=f"conv_{i}", activation=activation))
        else:
            stack.append(
                layers.deconv(
                    width, kernel, transpose_strides[i], name=f"deconv_{i}", activation=activation
                )
            )
    return tf.keras.Sequential(stack, name=name)


class TwinHyperSynthesis(tf.keras.layers.Layer):
    """Two hyper synthesis transforms, for the means and for the scales."""

    def __init__(self, hyper_latents: int, middle: int, features: int, name="hyper_synthesis"):
        super().__init__(name=name)
        # The outputs stay features (ReLU), not means or scales: slice transforms read them.
        widths, kernels, strides = (hyper_latents, middle, features), (5, 5, 3), (2, 2, 1)
        self.mean = _stack(widths, kernels, "mean", "relu", strides)
        self.scale = _stack(widths, kernels, "scale", "relu", strides)

    def call(self, z_hat):
        return self.mean(z_hat), self.scale(z_hat)

    def call_float64(self, z_hat):
        return layers.run_float64(self.mean, z_hat), layers.run_float64(self.scale, z_hat)


class ChannelwiseAutoregressive(CompressionModel):
    """Slices of the latent conditioned on the hyperprior and on earlier slices, with LRP."""

    num_payloads = 3  # y, z, index guard
    stride = 64  # 16 to y, 4 more to z
    index_guarded = True

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
        self.hyper_analysis = tf.keras.Sequential(
            [
                layers.conv(first, 3, 1, name="conv_0", activation="relu"),
                layers.conv(middle, 5, 2, name="conv_1", activation="relu"),
                layers.conv(num_hyper_latents, 5, 2, name="conv_2", use_bias=False),
            ],
            name="hyper_analysis",
        )
        self.hyper_synthesis = TwinHyperSynthesis(num_hyper_latents, middle, hyper_features or m)

        def slice_stack(kind, s):
            return _stack((*widths, depth), tuple(slice_kernels), f"{kind}_{s}")

        self.mean_transforms = [slice_stack("mean", s) for s in range(num_slices)]
        self.scale_transforms = [slice_stack("scale", s) for s in range(num_slices)]
        self.lrp_transforms = [slice_stack("lrp", s) for s in range(num_slices)]
        self.side_entropy_model = tfc_adapter.FactorizedEntropyModel(
            num_hyper_latents, name="side_bottleneck"
        )
        self.conditional = tfc_adapter.GaussianConditional(num_scales, scale_min, scale_max)

    # The slice recursion, shared by training, encoding and decoding ----------------------

    def _hyper(self, z_hat, y_shape):
        twins = self.hyper_synthesis
        return tuple(self.tiled(lambda t, branch=branch: self.run(branch, t), z_hat, 1, 4, y_shape)
                     for branch in (twins.mean, twins.scale))

    def _slices(self, hyper, code_slice):
        """Runs the slices in order.

        Args:
          hyper: (mean features, scale features) from the decoded side information.
          code_slice: (s, μ, σ index) -> (ŷ_s before LRP, anything to collect); quantizes,
            perturbs, or range decodes slice s.

        Returns:
          (ŷ after LRP [B, H, W, M], the collected values per slice).
        """
        means, scales = hyper
        y_hat_slices, collected = [], []
        for s in range(self.num_slices):
            support = (
                y_hat_slices[: self.max_support_slices]
                if self.max_support_slices >= 0
                else y_hat_slices
            )
            mean_support = tf.concat([means, *support], axis=-1)
            loc = self.run(self.mean_transforms[s], mean_support)
            index = self.run(self.scale_transforms[s], tf.concat([scales, *support], axis=-1))
            y_hat_slice, extra = code_slice(s, loc, index)
            collected.append(extra)
            lrp = self.run(self.lrp_transforms[s], tf.concat([mean_support, y_hat_slice], axis=-1))
            y_hat_slices.append(y_hat_slice + 0.5 * tf.math.tanh(lrp))
        return tf.concat(y_hat_slices, axis=-1), collected

    def _split(self, y):
        return tf.split(y, self.num_slices, axis=-1)

    # Training ---------------------------------------------------------------------------

    def forward(self, x, training):
        y = self.analysis(x / 255.0)
        z = self.hyper_analysis(y)
        z_hat, side_bits = self.side_entropy_model(z, training)
        y_slices = self._split(y)

        def code_slice(s, loc, index):
            return self.bottleneck(
                y_slices[s],
                lambda v: self.conditional(v, index, loc, training=training),
                training,
                loc,
            )

        y_hat, bits = self._slices(self._hyper(z_hat, tf.shape(y)[1:3]), code_slice)
        return self.synthesis(y_hat) * 255.0, tf.add_n(bits) + side_bits

    # Coding -----------------------------------------------------------------------------

    def _flat(self, t):
        return tf.reshape(t, [tf.shape(t)[0], -1])

    def _encode(self, x, rate):
        y = self.analyze(x)
        return self._encode_latents(y, self.tiled(self.hyper_analysis, y, 4, 1), rate)

    def _encode_latents(self, y, z, rate):
        """Codes given latents y and side latents z (`zoo.effort` refines them)."""
        side = self.side_entropy_model.compress(z)
        z_hat = self.side_entropy_model.quantize(z)
        y_slices = self._split(y)
        cond = self.conditional

        def code_slice(s, loc, index):
            y_hat_slice = tf.round(y_slices[s] - loc) + loc
            indexes = cond.coding_indexes(index)
            bits = cond.coded_bits(y_hat_slice, indexes, loc)
            return y_hat_slice, (
                self._flat(y_slices[s]),
                self._flat(indexes),
                self._flat(loc),
                self._flat(index),
                bits,
            )

        _, collected = self._slices(self._hyper(z_hat, tf.shape(y)[1:3]), code_slice)
        values, indexes, locs, continuous, bits = (list(c) for c in zip(*collected))
        # One string, slice after slice: the decoder reads it in the same pieces.
        strings = cond.compress(tf.concat(values, 1), tf.concat(indexes, 1), tf.concat(locs, 1))
        guard = cond.guard_payload(tf.concat(continuous, 1))
        bits = tf.add_n(bits) + self.side_entropy_model.coded_bits(z_hat) + index_guard.bits(guard)
        return [strings[0], side[0], guard], bits[0]

    def _decode(self, strings, shape, rate):
        y_shape = ceil_div(shape, 16)
        z_hat = self.side_entropy_model.decompress(strings[1][None], ceil_div(y_shape, 4))
        cond = self.conditional
        handle = [tfc_adapter.start_decoding(strings[0][None], cond.tables_cdf)]
        guard = index_guard.decode(strings[2])

        def code_slice(s, loc, index):
            start = s * tf.size(index)  # slices are equal: slice s starts at s·size
            indexes = cond.guarded_indexes(self._flat(index), guard, start)
            handle[0], symbols = tfc_adapter.decode_indexed_step(
                handle[0], indexes, cond.tables_cdf_offset
            )
            return tf.reshape(tf.cast(symbols, loc.dtype), tf.shape(loc)) + loc, None

        y_hat, _ = self._slices(self._hyper(z_hat, y_shape), code_slice)
        with tf.control_dependencies([tfc_adapter.finish_decoding(handle[0])]):
            y_hat = tf.identity(y_hat)
        return self.synthesize(y_hat)


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
