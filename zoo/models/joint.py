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
one masked convolution; encoder and decoder run it as a wavefront (`zoo.models.context`)
over 3·H + W steps with identical shapes, so their scale indexes agree bit for bit.

Payloads: [y string (coding order: wavefront steps, then channels), z string, index
guard (`zoo.index_guard`, positions in the same order)].
"""

from __future__ import annotations

import tensorflow as tf

from zoo import index_guard, layers, tfc_adapter
from zoo.errors import UnsupportedError
from zoo.models import context
from zoo.models.base import ceil_div
from zoo.models.mean_scale import TRAINING, MeanScaleHyperprior  # same paper, same schedule
from zoo.registry import register_model


def clip_index(index: tf.Tensor, num_scales: int) -> tf.Tensor:
    """Clips continuous scale indexes to the table, letting gradients push them back."""
    index = tfc_adapter.lower_bound(index, 0.0)
    return -tfc_adapter.lower_bound(-index, -(num_scales - 1.0))


class JointAutoregressive(MeanScaleHyperprior):
    """Mean-scale hyperprior plus a masked 5×5 spatial context model."""

    num_payloads = 3  # y, z, index guard
    index_guarded = True

    def __init__(self, num_filters: int, num_latents: int, context_kernel: int = 5, **kw):
        super().__init__(num_filters, num_latents, **kw)
        m = num_latents
        self.num_latents = m
        # Built now so no variable is first created inside the decoder's while loop.
        self.context_model = context.MaskedConv2D(
            2 * m, context_kernel, input_channels=m, name="context_model"
        )
        dense = tf.keras.layers.Dense
        self.entropy_parameters = tf.keras.Sequential(
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
        self.entropy_parameters.build([None, 4 * m])

    def _make_hyper_synthesis(self, num_filters, num_latents):
        # Features for the entropy parameters, not parameters themselves: no index offset.
        return layers.hyper_synthesis_transform(
            num_filters, 2 * num_latents, "leaky_relu", middle_filters=num_filters * 3 // 2)

    def _no_symbol_interface(self, *args, **kwargs):
        """The integer-latent interface of the base class does not apply: ŷ's parameters
        depend on ŷ itself, so only the codec (`compress`/`decompress`) can code it."""
        raise UnsupportedError(
            f"{self.registry_name} has no integer-latent interface; use its codec servable")

    symbol_specs = side_to_params = analysis_to_symbols = _no_symbol_interface
    synthesis_from_symbols = _no_symbol_interface

    # Entropy parameters ---------------------------------------------------------------

    def _hyper_features(self, z_hat, y_shape):
        return self.tiled(lambda t: self.run(self.hyper_synthesis, t), z_hat, 1, 4, y_shape)

    def _params(self, ctx, hyper):
        """(μ, continuous σ index) from context and hyperprior features (any leading shape)."""
        params = self.run(self.entropy_parameters, tf.concat([ctx, hyper], axis=-1))
        loc, index = tf.split(params, 2, axis=-1)
        return loc, index

    def _wavefront(self, y_shape, hyper, quantize_fn, state):
        """The encoder's and decoder's shared autoregressive loop."""
        hyper_grid = tf.transpose(hyper, [1, 2, 0, 3])

        def params_fn(ctx, positions):
            h = tf.transpose(tf.gather_nd(hyper_grid, positions), [1, 0, 2])
            return self._params(ctx, h)

        return context.wavefront(
            self.context_model,
            y_shape,
            tf.shape(hyper)[0],
            self.num_latents,
            params_fn,
            quantize_fn,
            state,
            tf.float64 if self._float64 else tf.float32,
        )

    def _quantize_in_order(self, y, state=()):
        """Rounds y around the predicted means, step by step (the encoder's side)."""

        def quantize_fn(state, loc, index, positions):
            return state, tf.round(context.gather_positions(y, positions) - loc) + loc

        return quantize_fn, state

    # Training ---------------------------------------------------------------------------

    def forward(self, x, training):
        y = self.analysis(x / 255.0)
        z = self.hyper_analysis(self._hyper_input(y))
        z_hat, side_bits = self.side_entropy_model(z, training)
        hyper = self._hyper_features(z_hat, tf.shape(y)[1:3])
        if training:
            y_hat, bits = self._noisy_bottleneck(y, hyper)
        else:
            # Exactly the encoder's quantization; bits with the coder's integer indexes.
            fn, state = self._quantize_in_order(y)
            y_hat, loc, index, positions, _ = self._wavefront(tf.shape(y)[1:3], hyper, fn, state)
            bits = self._coded_bits(context.gather_positions(y_hat, positions), loc, index)
        return self.synthesis(y_hat) * 255.0, bits + side_bits

    def _coded_bits(self, y_ordered, loc, index):
        """Information content under the coder's integer indexes (tensors in coding order)."""
        indexes = self.conditional.coding_indexes(index)
        return self.conditional.coded_bits(y_ordered[:, None], indexes[:, None], loc[:, None])

    def _noisy_bottleneck(self, y, hyper):
        """Training: the context model sees the same perturbed latents the rate is measured on."""
        noise = tf.random.uniform(tf.shape(y), -0.5, 0.5)
        if self.proxy == "soft_round":
            # Soft rounding is centred on the integers: the mean is not known before
            # the context model has seen the latents.
            y_tilde = tfc_adapter.soft_round(y, self.soft_round_alpha) + noise
        else:
            y_tilde = y + noise
        loc, index = self._params(self.context_model(y_tilde), hyper)
        index = clip_index(index, self.conditional.num_scales)
        bits = self.conditional.coded_bits(y_tilde, index, loc)
        if self.proxy == "ste":
            return tfc_adapter.round_st(y - loc) + loc, bits
        if self.proxy == "soft_round":
            return tfc_adapter.soft_round_conditional_mean(y_tilde, self.soft_round_alpha), bits
        return y_tilde, bits

    # Coding -----------------------------------------------------------------------------

    def _encode_latents(self, y, z, rate):
        """The hyperprior's `_encode` calls this: codes y in wavefront order, and z."""
        y_shape = tf.shape(y)[1:3]
        side = self.side_entropy_model.compress(z)
        z_hat = self.side_entropy_model.quantize(z)
        hyper = self._hyper_features(z_hat, y_shape)
        fn, state = self._quantize_in_order(y)
        _, loc, index, positions, _ = self._wavefront(y_shape, hyper, fn, state)
        y_ordered = context.gather_positions(y, positions)  # [1, H·W, M], coding order
        indexes = self.conditional.coding_indexes(index)
        strings = self.conditional.compress(y_ordered, indexes, loc)
        guard = self.conditional.guard_payload(index)  # flat over coding order × channels
        bits = self._coded_bits(tf.round(y_ordered - loc) + loc, loc, index)
        bits += self.side_entropy_model.coded_bits(z_hat) + index_guard.bits(guard)
        return [strings[0], side[0], guard], bits[0]

    def _decode(self, strings, shape, rate):
        y_shape = ceil_div(shape, 16)
        z_hat = self.side_entropy_model.decompress(strings[1][None], ceil_div(y_shape, 4))
        hyper = self._hyper_features(z_hat, y_shape)
        cond = self.conditional
        handle = tfc_adapter.start_decoding(strings[0][None], cond.tables_cdf)
        guard = index_guard.decode(strings[2])

        def decode_fn(state, loc, index, positions):
            handle, start = state  # start: this step's first flat position in coding order
            handle, symbols = tfc_adapter.decode_indexed_step(
                handle, cond.guarded_indexes(index, guard, start), cond.tables_cdf_offset
            )
            return (handle, start + tf.size(index)), tf.cast(symbols, loc.dtype) + loc

        y_hat, _, _, _, (handle, _) = self._wavefront(
            y_shape, hyper, decode_fn, (handle, tf.constant(0))
        )
        with tf.control_dependencies([tfc_adapter.finish_decoding(handle)]):
            y_hat = tf.identity(y_hat)
        return self.synthesize(y_hat)


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
