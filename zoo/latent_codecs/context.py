"""`SpatialContextCodec`: a mean-scale hyperprior plus a masked spatial context model
(Minnen, Ballé, Toderici 2018, "joint autoregressive and hierarchical priors").

    y ─hyper_input─hyper_analysis─> z ─FactorizedCodec "z"─> ẑ ─hyper_synthesis─> features
    ŷ<(i,j) ─masked conv (context)─┐                                                  │
                                   ├─concat─entropy_parameters (1×1 convs)─> (μ, σ index)
    features ──────────────────────┘

Encoder and decoder run the context as a wavefront (`wavefront`): 3·H + W steps with
identical shapes, the decoder range decoding each step's latents from one stream (the
encoder codes them all after the loop, in the same order). Training runs the masked
convolution once on the perturbed latents, so the context sees what the rate is
measured on.

Payloads: [y (coding order: wavefront steps, then channels), z, index guard].
"""

from __future__ import annotations

import tensorflow as tf

from zoo import tfc_adapter
from zoo.latent_codecs import wavefront
from zoo.latent_codecs.core import RELAX, TRAIN, Latents, Step, add_bits
from zoo.latent_codecs.entropy import ConditionalStream, clip_index
from zoo.latent_codecs.hyperprior import _SideLatents


class SpatialContextCodec(_SideLatents):
    """y coded position by position under means and scales from its causal context and
    the hyperprior's features.

    Args:
      hyper_analysis, hyper_synthesis, side_entropy_model, conditional: as in
        `HyperpriorCodec` (the synthesis outputs features, not parameters).
      context_model: the `wavefront.MaskedConv2D` over ŷ.
      entropy_parameters: 1×1 networks (Dense) from [context, features] to (μ, σ index).
    """

    def __init__(self, hyper_analysis, hyper_synthesis, side_entropy_model, conditional,
                 context_model, entropy_parameters, **kwargs):
        super().__init__(**kwargs)
        self._make_side(hyper_analysis, hyper_synthesis, side_entropy_model)
        self.conditional = conditional
        self.context_model = context_model
        self.entropy_parameters = entropy_parameters

    def features(self, step: Step, z_hat, shape) -> tf.Tensor:
        return step.side(lambda t: step.run(self.hyper_synthesis, t), z_hat, 1, 4, shape)

    def params(self, step: Step, ctx, features) -> tuple[tf.Tensor, tf.Tensor]:
        """(μ, continuous σ index) from context and features (any leading shape)."""
        out = step.run(self.entropy_parameters, tf.concat([ctx, features], axis=-1))
        loc, index = tf.split(out, 2, axis=-1)
        return loc, index

    def code(self, step, y, shape, side=None) -> Latents:
        z_hat, side_bits = self._side(step, y, shape, side)
        features = self.features(step, z_hat, shape)
        if step.mode == TRAIN and step.training:
            y_hat, bits = self._perturbed(step, y, features)
        elif step.mode == RELAX:
            y_hat, bits = self._relaxed(step, y, features)
        else:  # encoding, decoding and evaluation: the decoder's order
            y_hat, bits = self._in_order(step, y, shape, features)
        return Latents(y_hat, add_bits(bits, side_bits))

    def _in_order(self, step, y, shape, features):
        stream = ConditionalStream(step, self.conditional)
        grid = tf.transpose(features, [1, 2, 0, 3])

        def params_fn(ctx, positions):
            return self.params(step, ctx, tf.transpose(tf.gather_nd(grid, positions), [1, 0, 2]))

        def piece(state, loc, index, positions):
            y_at = None if y is None else wavefront.gather_positions(y, positions)
            return stream.loop_piece(state, y_at, index, loc)

        y_hat, loc, index, positions, state = wavefront.wavefront(
            self.context_model, shape, tf.shape(features)[0], self.conditional_channels,
            params_fn, piece, stream.loop_state(), step.dtype)
        y_ordered = None if y is None else wavefront.gather_positions(y, positions)
        bits = stream.loop_end(state, y_ordered, index, loc)
        y_hat, guard_bits = stream.finish(y_hat)
        return y_hat, add_bits(bits, guard_bits)

    @property
    def conditional_channels(self) -> int:
        return self.context_model.kernel.shape[2]

    def _perturbed(self, step, y, features):
        """Training: the context model reads the same perturbed latents the rate is
        measured on; the proxy is centred on the integers (means come after)."""
        noise = tf.random.uniform(tf.shape(y), -0.5, 0.5)
        if step.proxy_kind == "soft_round":
            y_tilde = tfc_adapter.soft_round(y, step.alpha) + noise
        else:
            y_tilde = y + noise
        loc, index = self.params(step, self.context_model(y_tilde), features)
        cond = self.conditional
        bits = cond.coded_bits(y_tilde, clip_index(index, cond.num_scales), loc)
        if step.proxy_kind == "ste":
            return tfc_adapter.round_st(y - loc) + loc, bits
        if step.proxy_kind == "soft_round":
            return tfc_adapter.soft_round_conditional_mean(y_tilde, step.alpha), bits
        return y_tilde, bits

    def _relaxed(self, step, y, features):
        """`zoo.effort`: one fixed-point pass, means from the context of a first relaxed
        sample, then the sample around those means."""
        loc, _ = self.params(step, self.context_model(y), features)
        y_first = step.relax(y, loc, 2)
        loc, index = self.params(step, self.context_model(y_first), features)
        return ConditionalStream(step, self.conditional).code(y, index, loc)
