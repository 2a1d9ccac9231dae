"""Scale hyperprior: Ballé, Minnen, Singh, Hwang, Johnston,
"Variational image compression with a scale hyperprior", ICLR 2018,
https://arxiv.org/abs/1802.01436 (tensorflow-compression's `bmshj2018.py`).

    x ─analysis─> y ─Q─> ŷ ─synthesis─> x̂
                  │      ↑ N(0, σ) ⊛ U, σ from a log-spaced scale table
                  └─|·|─hyper_analysis─> z ─Q─> ẑ ─hyper_synthesis─> scale index
                                              └── factorized prior p(ẑ)

Payloads: [y string, z string, index guard (`zoo.index_guard`)].
"""

from __future__ import annotations

import math

import tensorflow as tf

from zoo import index_guard, layers, tfc_adapter
from zoo.models.base import CompressionModel, TrainingDefaults, ceil_div
from zoo.models.factorized import filters_for
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Ballé et al. 2018 §4; tensorflow-compression bmshj2018.py defaults",
)


class ScaleHyperprior(CompressionModel):
    """GDN transforms; a hyperprior predicts the scale of a zero-mean Gaussian per latent."""

    num_payloads = 3  # y, z, index guard (zoo.index_guard)
    index_guarded = True
    stride = 64  # 16 to y, 4 more to z

    def __init__(
        self,
        num_filters: int,
        num_latents: int,
        nonlinearity: str = "gdn",
        num_hyper_latents: int | None = None,
        num_scales: int = 64,
        scale_min: float = 0.11,
        scale_max: float = 256.0,
        **kw,
    ):
        super().__init__(**kw)
        hyper = num_hyper_latents or num_filters
        self.num_latents = int(num_latents)
        # The table's scales, for `_initial_index` (the conditional is created last: the
        # order in which variables are created is part of the weights' keys).
        self._scale_table = (num_scales, scale_min, scale_max)
        self.analysis = layers.analysis_transform(num_filters, num_latents, nonlinearity)
        self.synthesis = layers.synthesis_transform(num_filters, nonlinearity)
        self.hyper_analysis = self._make_hyper_analysis(num_filters, hyper)
        self.hyper_synthesis = self._make_hyper_synthesis(num_filters, num_latents)
        self.side_entropy_model = tfc_adapter.FactorizedEntropyModel(hyper, name="side_bottleneck")
        self.conditional = tfc_adapter.GaussianConditional(num_scales, scale_min, scale_max)

    #: The scale every latent's Gaussian starts training with. The hyper synthesis predicts
    #: an index into a log-spaced table (σ = 0.11·e^(0.123·index) by default); a zero
    #: initial index would start every σ at 0.11, far below the analysis' output, and the
    #: rate term would spend thousands of steps shrinking y before the distortion can
    #: learn (results/cpu_recipe/). Only a fresh model's initialization: weights load as
    #: they are.
    initial_scale = 1.0

    def _initial_index(self) -> float:
        """The continuous scale index of `initial_scale` (`GaussianConditional.scale_fn`)."""
        num_scales, low, high = self._scale_table
        return (math.log(self.initial_scale) - math.log(low)) / (
            (math.log(high) - math.log(low)) / (num_scales - 1.0))

    # The parts mean-scale and context models change -------------------------------------

    def _make_hyper_analysis(self, num_filters, hyper):
        return layers.hyper_analysis_transform(num_filters, hyper, "relu")

    def _make_hyper_synthesis(self, num_filters, num_latents):
        return layers.hyper_synthesis_transform(
            num_filters, num_latents, "relu",
            bias_initializer=tf.keras.initializers.Constant(self._initial_index()))

    def _hyper_input(self, y):
        return tf.abs(y)

    def _hyper_params(self, z_hat, y_shape):
        """(loc or None, continuous scale index) for every latent, from decoded side info."""
        index = self.tiled(lambda t: self.run(self.hyper_synthesis, t), z_hat, 1, 4, y_shape)
        return None, index

    # Training ---------------------------------------------------------------------------

    def forward(self, x, training):
        y = self.analysis(x / 255.0)
        z = self.hyper_analysis(self._hyper_input(y))
        z_hat, side_bits = self.side_entropy_model(z, training)
        loc, index = self._hyper_params(z_hat, tf.shape(y)[1:3])
        y_hat, bits = self.bottleneck(
            y, lambda v: self.conditional(v, index, loc, training=training), training, loc
        )
        return self.synthesis(y_hat) * 255.0, bits + side_bits

    # Coding -----------------------------------------------------------------------------

    def _encode(self, x, rate):
        y = self.analyze(x)
        z = self.tiled(lambda t: self.hyper_analysis(self._hyper_input(t)), y, 4, 1)
        return self._encode_latents(y, z, rate)

    def _encode_latents(self, y, z, rate):
        """Codes given latents y and side latents z (`zoo.effort` refines them)."""
        side = self.side_entropy_model.compress(z)
        z_hat = self.side_entropy_model.quantize(z)
        loc, index = self._hyper_params(z_hat, tf.shape(y)[1:3])
        indexes = self.conditional.coding_indexes(index)
        strings = self.conditional.compress(y, indexes, loc)
        guard = self.conditional.guard_payload(index)
        y_hat = tf.round(y if loc is None else y - loc) + (0.0 if loc is None else loc)
        bits = self.conditional.coded_bits(y_hat, indexes, loc)
        bits += self.side_entropy_model.coded_bits(z_hat) + index_guard.bits(guard)
        return [strings[0], side[0], guard], bits[0]

    def _decode(self, strings, shape, rate):
        y_shape = ceil_div(shape, 16)
        z_hat = self.side_entropy_model.decompress(strings[1][None], ceil_div(y_shape, 4))
        loc, index = self._hyper_params(z_hat, y_shape)
        guard = index_guard.decode(strings[2])
        y_hat = self.conditional.decompress(
            strings[0][None], self.conditional.guarded_indexes(index, guard), loc
        )
        return self.synthesize(y_hat)

    # Integer-latent interface (the core-ops "transform" SavedModel) ---------------------

    def symbol_specs(self) -> dict[str, tf.TensorSpec]:
        """Integer latents `synthesis_from_symbols` takes, for a fixed input signature."""
        y_channels = self.num_latents
        z_channels = self.side_entropy_model.channels
        return {
            "y_symbols": tf.TensorSpec([1, None, None, y_channels], tf.int32, name="y_symbols"),
            "z_symbols": tf.TensorSpec([1, None, None, z_channels], tf.int32, name="z_symbols"),
        }

    def side_to_params(self, z_symbols: tf.Tensor, y_shape: tf.Tensor) -> dict[str, tf.Tensor]:
        """Integer scale indexes (and means, if any) of y, from decoded side symbols, and
        the continuous indexes they floor (`y_scale_index`, for the index guard)."""
        z_hat = tf.cast(z_symbols, tf.float32) + self.side_entropy_model.tables_qoffset
        loc, index = self._hyper_params(z_hat, y_shape)
        params = {"y_indexes": self.conditional.coding_indexes(index), "y_scale_index": index}
        if loc is not None:
            params["y_loc"] = loc
        return params

    def analysis_to_symbols(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        """Integers and coding parameters for images [1, H, W, 3] on 0..255.

        Returns `y_symbols` = round(y − μ), `y_indexes` (scale table rows), `y_loc`
        (μ, mean-scale models only) and `z_symbols` (coded per channel).
        """
        y = self.analysis(x / 255.0)
        z = self.hyper_analysis(self._hyper_input(y))
        z_symbols = tf.cast(tf.round(z - self.side_entropy_model.tables_qoffset), tf.int32)
        params = self.side_to_params(z_symbols, tf.shape(y)[1:3])
        centred = y - params["y_loc"] if "y_loc" in params else y
        return {"y_symbols": tf.cast(tf.round(centred), tf.int32), "z_symbols": z_symbols, **params}

    def synthesis_from_symbols(self, symbols: dict[str, tf.Tensor], shape: tf.Tensor) -> tf.Tensor:
        """Reconstruction [1, H', W', 3] (0..255 floats) from decoded y and z symbols."""
        y_hat = tf.cast(symbols["y_symbols"], tf.float32)
        # y's own grid: the image's padded to the stride (format v3) or not (v1/v2).
        params = self.side_to_params(symbols["z_symbols"], tf.shape(y_hat)[1:3])
        if "y_loc" in params:
            y_hat += params["y_loc"]
        return self.synthesis(y_hat) * 255.0


@register_model("hyperprior", training=TRAINING)
def hyperprior(
    lmbda: float = 0.0130,
    metric: str = "mse",
    num_filters: int | None = None,
    num_latents: int | None = None,
    **kw,
) -> ScaleHyperprior:
    """Ballé et al. 2018: scale hyperprior, Gaussian conditional."""
    n, m = filters_for(lmbda, metric, high_from=6)
    return ScaleHyperprior(num_filters or n, num_latents or m, lmbda=lmbda, metric=metric, **kw)


@register_model("hyperprior_tiny", family="hyperprior", tiny=True, training=TRAINING)
def hyperprior_tiny(lmbda: float = 0.0130, **kw) -> ScaleHyperprior:
    """Tiny scale hyperprior for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return hyperprior(lmbda=lmbda, **kw)
