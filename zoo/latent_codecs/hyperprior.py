"""Hyperprior latent codecs: side latents z carry the parameters of y's conditional.

`HyperpriorCodec` (Ballé et al. 2018; Minnen et al. 2018 without context):

    y ─hyper_input─hyper_analysis─> z ─FactorizedCodec "z"─> ẑ ─hyper_synthesis─> (μ,) σ index
    y ───────────────────────────────ConditionalStream "y" + "guard" (one piece)──> ŷ

`ChannelSlicesCodec` (Minnen & Singh 2020): the same side path, then y in slices, each
conditioned on the hyper features and on earlier slices, with latent residual prediction:

    for slice s:  μ_s = mean_s(μ features, ŷ_<s)   σ_s = scale_s(σ features, ŷ_<s)
                  ŷ_s = stream piece s,  ŷ_s += 0.5·tanh(lrp_s(μ support, ŷ_s))

Payloads of both: [y (piece after piece), z, index guard].
"""

from __future__ import annotations

import tensorflow as tf

from zoo import tfc_adapter
from zoo.latent_codecs.core import LatentCodec, Latents, Step, add_bits
from zoo.latent_codecs.entropy import ConditionalStream, FactorizedCodec

#: What a hyperprior's scale output is (`HyperpriorCodec`).
SCALE_OUTPUTS = ("index", "scale")


def ceil_div(value, factor: int):
    return (value + factor - 1) // factor


class _SideLatents(LatentCodec):
    """The side path every hyperprior shares: z from y, coded under a factorized density."""

    layout = ("y", "z", "guard")
    factor = 4
    index_guarded = True

    def _make_side(self, hyper_analysis, hyper_synthesis, side_entropy_model):
        # Attribute order is variable order is the weights files' keys: keep it.
        self.hyper_analysis = hyper_analysis
        self.hyper_synthesis = hyper_synthesis
        self.side = FactorizedCodec(side_entropy_model, "z", proxy=False, key=1, name="side")

    def hyper_input(self, y: tf.Tensor) -> tf.Tensor:
        return y

    def side_latents(self, step: Step, y: tf.Tensor) -> list[tf.Tensor]:
        return [step.side(lambda t: self.hyper_analysis(self.hyper_input(t)), y, 4, 1)]

    def _side(self, step: Step, y, shape, side):
        """(ẑ, its bits) in any mode; z is computed from y unless given."""
        z = None
        if y is not None:
            z = self.side_latents(step, y)[0] if side is None else side[0]
        return self.side.code(step, z, ceil_div(shape, 4))

    @property
    def side_entropy_model(self):
        return self.side.entropy_model


class HyperpriorCodec(_SideLatents):
    """y under a zero-mean (scale hyperprior) or mean-scale Gaussian from side latents.

    Args:
      hyper_analysis, hyper_synthesis: the side transforms; the synthesis outputs the
        continuous scale index per latent, or means and indexes (`means=True`).
      side_entropy_model: the factorized density of z.
      conditional: the scale-indexed conditional of y (`tfc_adapter.GaussianConditional`).
      means: whether the hyperprior predicts means (Minnen et al. 2018).
      magnitude: whether the hyper analysis reads |y| (Ballé et al. 2018) or y.
      scale_output: what the hyper synthesis' scale half outputs: "index", the continuous
        index into the conditional's log-spaced table (tensorflow-compression's form), or
        "scale", σ itself, bounded below by the table's smallest scale (CompressAI's
        form); coding converts σ to its continuous index either way.
    """

    has_symbols = True

    def __init__(self, hyper_analysis, hyper_synthesis, side_entropy_model, conditional,
                 means: bool = False, magnitude: bool = True, scale_output: str = "index",
                 **kwargs):
        super().__init__(**kwargs)
        if scale_output not in SCALE_OUTPUTS:
            raise ValueError(f"scale_output must be one of {SCALE_OUTPUTS}, got {scale_output!r}")
        self._make_side(hyper_analysis, hyper_synthesis, side_entropy_model)
        self.conditional = conditional
        self.means, self.magnitude = bool(means), bool(magnitude)
        self.scale_output = scale_output

    def hyper_input(self, y):
        return tf.abs(y) if self.magnitude else y

    def params(self, step: Step, z_hat: tf.Tensor, shape) -> tuple[tf.Tensor | None, tf.Tensor]:
        """(means or None, continuous scale indexes) of y on its grid `shape`, from ẑ."""
        out = step.side(lambda t: step.run(self.hyper_synthesis, t), z_hat, 1, 4, shape)
        loc, index = tf.split(out, 2, axis=-1) if self.means else (None, out)
        if self.scale_output == "scale":
            cond = self.conditional
            index = cond.index_for_scale(tfc_adapter.lower_bound(index, cond.scale_min))
        return loc, index

    def code(self, step, y, shape, side=None) -> Latents:
        z_hat, side_bits = self._side(step, y, shape, side)
        loc, index = self.params(step, z_hat, shape)
        stream = ConditionalStream(step, self.conditional)
        y_hat, bits = stream.code(y, index, loc)
        y_hat, guard_bits = stream.finish(y_hat)
        return Latents(y_hat, add_bits(bits, side_bits, guard_bits))

    # The integer-latent interface (the core-ops transform servable) -------------------

    def symbol_specs(self, num_latents: int) -> dict[str, tf.TensorSpec]:
        return {
            "y_symbols": tf.TensorSpec([1, None, None, num_latents], tf.int32, name="y_symbols"),
            **self.side.symbol_specs(self.side.channels),
        }

    def symbol_layout(self, factor: int) -> list[dict]:
        """y under the scale indexes `side_params` gives, guarded; z per channel."""
        return [
            {"payload": "y", "symbols": "y_symbols", "tables": "y", "indexes": "y_indexes",
             "factor": factor},
            *self.side.symbol_layout(factor * self.factor),
            {"payload": "guard", "guards": "y"},
        ]

    def side_to_params(self, step: Step, z_symbols, shape) -> dict[str, tf.Tensor]:
        """Integer scale indexes (and means) of y from decoded side symbols, and the
        continuous indexes they floor (`y_scale_index`, for the index guard)."""
        loc, index = self.params(step, self.side.from_integers(z_symbols), shape)
        params = {"y_indexes": self.conditional.coding_indexes(index), "y_scale_index": index}
        if loc is not None:
            params["y_loc"] = loc
        return params

    def to_symbols(self, step: Step, y) -> dict[str, tf.Tensor]:
        z_symbols = self.side.integers(self.side_latents(step, y)[0])
        params = self.side_to_params(step, z_symbols, tf.shape(y)[1:3])
        centred = y - params["y_loc"] if "y_loc" in params else y
        return {"y_symbols": tf.cast(tf.round(centred), tf.int32), "z_symbols": z_symbols,
                **params}

    def from_symbols(self, step: Step, symbols) -> tf.Tensor:
        y_hat = tf.cast(symbols["y_symbols"], tf.float32)
        # y's own grid: the image's padded to the stride (format v3) or not (v1/v2).
        params = self.side_to_params(step, symbols["z_symbols"], tf.shape(y_hat)[1:3])
        return y_hat + params["y_loc"] if "y_loc" in params else y_hat

    def coding_tables(self) -> dict[str, tf.Tensor]:
        cond = self.conditional
        return {"y_cdf": cond.tables_cdf, "y_cdf_offset": cond.tables_cdf_offset,
                **self.side.coding_tables()}


class ChannelSlicesCodec(_SideLatents):
    """y in `num_slices` channel slices, each conditioned on the hyperprior and on at most
    `max_support_slices` earlier slices (all when negative), with LRP.

    Args:
      hyper_synthesis: a layer with `mean` and `scale` branches (hyper features).
      mean_transforms, scale_transforms, lrp_transforms: one network per slice.
    """

    def __init__(self, hyper_analysis, hyper_synthesis, mean_transforms, scale_transforms,
                 lrp_transforms, side_entropy_model, conditional, max_support_slices: int,
                 **kwargs):
        super().__init__(**kwargs)
        # In the order the family always created them (the weights files' keys).
        self.hyper_analysis = hyper_analysis
        self.hyper_synthesis = hyper_synthesis
        self.mean_transforms = list(mean_transforms)
        self.scale_transforms = list(scale_transforms)
        self.lrp_transforms = list(lrp_transforms)
        self.side = FactorizedCodec(side_entropy_model, "z", proxy=False, key=1, name="side")
        self.conditional = conditional
        self.num_slices = len(self.mean_transforms)
        self.max_support_slices = int(max_support_slices)

    def code(self, step, y, shape, side=None) -> Latents:
        z_hat, side_bits = self._side(step, y, shape, side)
        twins = self.hyper_synthesis
        means, scales = (step.side(lambda t, b=branch: step.run(b, t), z_hat, 1, 4, shape)
                         for branch in (twins.mean, twins.scale))
        y_slices = [None] * self.num_slices if y is None else tf.split(y, self.num_slices, -1)
        stream = ConditionalStream(step, self.conditional)
        y_hat_slices, bits = [], [side_bits]
        for s in range(self.num_slices):
            support = (y_hat_slices[: self.max_support_slices]
                       if self.max_support_slices >= 0 else y_hat_slices)
            mean_support = tf.concat([means, *support], axis=-1)
            loc = step.run(self.mean_transforms[s], mean_support)
            index = step.run(self.scale_transforms[s], tf.concat([scales, *support], axis=-1))
            y_hat_slice, slice_bits = stream.code(y_slices[s], index, loc)
            bits.append(slice_bits)
            lrp = step.run(self.lrp_transforms[s], tf.concat([mean_support, y_hat_slice], -1))
            y_hat_slices.append(y_hat_slice + 0.5 * tf.math.tanh(lrp))
        y_hat, guard_bits = stream.finish(tf.concat(y_hat_slices, axis=-1))
        return Latents(y_hat, add_bits(*bits, guard_bits))
