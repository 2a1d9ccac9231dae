"""The one module that touches tensorflow-compression.

Everything else in the project calls the names defined here: GDN layers, rounding
proxies, the two continuous entropy models (a learned factorized prior and a
Gaussian conditional indexed by a scale table), and range coding of integer symbols
under explicit probability tables. Moving to another range coder means rewriting
this file only.

Range coding tables are built once (`build_coder()`), stored as variables, and saved
with the weights, so an encoder and a decoder on different machines share them
exactly instead of recomputing them from floating-point priors.

Mixed precision (`recipes.train --precision=mixed_bfloat16`): the transforms compute in
bfloat16, but the entropy models are float32 layers whatever the Keras policy: they cast
half-precision inputs to float32, add the training noise and evaluate likelihoods and
bits in float32, and hand the latents back in the caller's dtype (the next Keras layer
would cast them to its compute dtype anyway). The rounding proxies do the same. Every
tensorflow-compression entropy model is made with `bottleneck_dtype=float32` (its default
is the global policy's compute dtype). In a float32 process nothing changes.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow_compression.python.ops import gen_ops

from zoo import index_guard

RANGE_CODER_PRECISION = 12
TAIL_MASS = 2**-8

#: Compute dtypes of Keras mixed-precision policies; computed in float32 here.
HALF_DTYPES = (tf.bfloat16, tf.float16)


def at_least_float32(x: tf.Tensor | None) -> tf.Tensor | None:
    """`x` cast to float32 if it is bfloat16 or float16 (mixed precision); else as is."""
    return tf.cast(x, tf.float32) if getattr(x, "dtype", None) in HALF_DTYPES else x


def like(value: tf.Tensor, reference: tf.Tensor) -> tf.Tensor:
    """`value` (computed in float32) back in `reference`'s dtype if that is a half type."""
    dtype = getattr(reference, "dtype", None)
    return tf.cast(value, dtype) if dtype in HALF_DTYPES else value


def _float32_layer(kwargs: dict) -> dict:
    """Keras arguments of an entropy layer: float32 under any global policy, inputs cast
    by the layer itself (`at_least_float32`) so that it knows the caller's dtype."""
    kwargs.setdefault("dtype", "float32")
    kwargs.setdefault("autocast", False)
    return kwargs


def gdn(inverse: bool = False, name: str | None = None, full: bool = False
        ) -> tf.keras.layers.Layer:
    """Generalized divisive normalization (Ballé et al. 2016), or its inverse.

    The default is tensorflow-compression's simplified form x / (β + Σ γ|x|) (Johnston et
    al. 2019, every shipped model's); `full` is the paper's x / sqrt(β + Σ γx²), the form
    CompressAI uses. Both have the same variables, β and γ.
    """
    if full:
        return tfc.GDN(inverse=inverse, name=name, alpha_parameter=2.0, epsilon_parameter=0.5)
    return tfc.GDN(inverse=inverse, name=name)


def is_gdn(layer: tf.keras.layers.Layer) -> bool:
    return isinstance(layer, tfc.GDN)


def _fixed(parameter) -> float | None:
    """A GDN's constant parameter as a Python float (None if it is trained).

    Under a mixed-precision policy tfc stores constants as bfloat16 tensors, which
    `np.asarray` cannot convert directly (their `.numpy()` it can).
    """
    if callable(parameter):
        return None
    value = parameter.numpy() if hasattr(parameter, "numpy") else parameter
    return float(np.asarray(value).astype(np.float64))


def gdn_form(layer: tf.keras.layers.Layer) -> dict[str, float]:
    """{"alpha", "epsilon"} of an (unbuilt or built) GDN with constant α and ε, not rectified."""
    alpha, epsilon = _fixed(layer.alpha_parameter), _fixed(layer.epsilon_parameter)
    if alpha is None or epsilon is None or layer.rectify:
        raise ValueError(f"{layer.name}: only GDN with constant alpha and epsilon, not rectified, "
                         "can be made a function of λ")
    return {"alpha": alpha, "epsilon": epsilon}


def gdn_parameters(layer: tf.keras.layers.Layer,
                   form: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A built GDN's (β [C], γ [C, C]), γ[i, j] weighting input j in output i.

    `form` (α, ε) is what the caller computes with; a GDN of another form is refused.
    """
    have = gdn_form(layer)
    if (have["alpha"], have["epsilon"]) != tuple(form):
        raise ValueError(f"{layer.name}: GDN with alpha={have['alpha']}, epsilon={have['epsilon']}, "
                         f"expected alpha={form[0]}, epsilon={form[1]}")
    return np.asarray(layer.beta), np.asarray(layer.gamma).T  # tfc's γ is [input, output]


def gdn_float64(layer: tf.keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """A built GDN/IGDN layer applied in float64 (its parameters cast), channels last."""
    x = tf.cast(x, tf.float64)
    if layer.rectify:
        x = tf.nn.relu(x)
    alpha, epsilon = _fixed(layer.alpha_parameter), _fixed(layer.epsilon_parameter)
    if alpha == 1 and layer.rectify:
        pool = x
    elif alpha == 1:
        pool = tf.abs(x)
    elif alpha == 2:
        pool = tf.square(x)
    else:
        pool = x ** tf.cast(layer.alpha, tf.float64)
    gamma = tf.cast(layer.gamma, tf.float64)
    pool = tf.nn.convolution(pool, tf.reshape(gamma, [1, 1, *gamma.shape]), padding="VALID")
    pool = tf.nn.bias_add(pool, tf.cast(layer.beta, tf.float64))
    if epsilon == 0.5:
        pool = tf.sqrt(pool)
    elif epsilon != 1:
        pool = pool ** tf.cast(layer.epsilon, tf.float64)
    return x * pool if layer.inverse else x / pool


def round_st(x: tf.Tensor, offset: tf.Tensor | None = None) -> tf.Tensor:
    """Rounds to integers (plus `offset`) with a straight-through gradient."""
    if x.dtype in HALF_DTYPES:
        return like(tfc.round_st(at_least_float32(x), at_least_float32(offset)), x)
    return tfc.round_st(x, offset)


def soft_round(x: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """Differentiable rounding of Agustsson & Theis (2020)."""
    if x.dtype in HALF_DTYPES:
        return like(tfc.soft_round(at_least_float32(x), alpha), x)
    return tfc.soft_round(x, alpha)


def soft_round_conditional_mean(y: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """E[x | soft_round(x) + noise = y], the decoder-side inverse of soft rounding."""
    if y.dtype in HALF_DTYPES:
        return like(tfc.soft_round_conditional_mean(at_least_float32(y), alpha), y)
    return tfc.soft_round_conditional_mean(y, alpha)


def lower_bound(x: tf.Tensor, bound: float) -> tf.Tensor:
    """max(x, bound) with a gradient that can push values back above the bound."""
    return tfc.lower_bound(x, bound)


def _table_variables(module: tf.Module, name: str, cdf, cdf_offset, qoffset=None):
    """Turns computed tables into variables owned by `module` (saved with weights).

    The tables' lengths depend on the trained prior, so the variables accept any
    length: loading weights replaces tables computed from a fresh prior.
    """

    def variable(value, suffix):
        value = tf.convert_to_tensor(value)
        shape = tf.TensorShape([None] * value.shape.rank)
        var = tf.Variable(value, trainable=False, shape=shape, name=f"{name}_{suffix}")
        setattr(module, f"{name}_{suffix}", var)

    variable(cdf, "cdf")
    variable(cdf_offset, "cdf_offset")
    if qoffset is not None:
        variable(qoffset, "qoffset")


class FactorizedEntropyModel(tf.keras.layers.Layer):
    """A learned, non-parametric density per channel (Ballé et al. 2018, appendix 6.1).

    Latents are [batch, height, width, channels]; each image is one coding unit.
    """

    def __init__(self, channels: int, name: str = "entropy_bottleneck",
                 num_filters: tuple[int, ...] = (3, 3), **kwargs):
        """`num_filters`: hidden widths of the per-channel density network
        (tensorflow-compression's default (3, 3); CompressAI's EntropyBottleneck uses
        (3, 3, 3, 3)). Another value adds variables: weights record it."""
        super().__init__(name=name, **_float32_layer(kwargs))
        self.channels = int(channels)
        self.prior = tfc.NoisyDeepFactorized(batch_shape=[self.channels],
                                             num_filters=tuple(int(f) for f in num_filters))

    def call(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns (noisy or quantized latents, bits per image).

        Noise, likelihoods and bits are float32; the latents come back in `x`'s dtype
        when that is a half type (mixed precision), else float32.
        """
        model = tfc.ContinuousBatchedEntropyModel(
            self.prior, coding_rank=3, compression=False, tail_mass=TAIL_MASS,
            bottleneck_dtype=tf.float32,
        )
        x_tilde, bits = model(tf.cast(x, tf.float32), training=training)
        return like(x_tilde, x), bits

    def build_coder(self, compute: bool = True) -> None:
        """Builds range coding tables from the current prior; idempotent.

        Args:
          compute: if False, creates empty tables to be filled by loading weights.
        """
        if hasattr(self, "tables_cdf"):
            return
        if not compute:
            empty = tf.zeros([0], tf.int32)
            _table_variables(self, "tables", empty, empty, tf.zeros([0], tf.float32))
            return

        # Traced: tail estimation runs thousands of tiny ops, ~8× slower eagerly.
        @tf.function(autograph=False)
        def tables():
            model = tfc.ContinuousBatchedEntropyModel(
                self.prior,
                coding_rank=3,
                compression=True,
                stateless=True,
                tail_mass=TAIL_MASS,
                range_coder_precision=RANGE_CODER_PRECISION,
                bottleneck_dtype=tf.float32,
            )
            return model.cdf, model.cdf_offset, model.quantization_offset

        _table_variables(self, "tables", *tables())

    @property
    def coder_ready(self) -> bool:
        return hasattr(self, "tables_cdf")

    def _coder_model(self) -> tfc.ContinuousBatchedEntropyModel:
        # Built per call: the wrapper is cheap, and caching it would leak tensors
        # between tf.function graphs.
        return tfc.ContinuousBatchedEntropyModel(
            prior_shape=[self.channels],
            coding_rank=3,
            compression=True,
            stateless=True,
            tail_mass=TAIL_MASS,
            range_coder_precision=RANGE_CODER_PRECISION,
            cdf=self.tables_cdf,
            cdf_offset=self.tables_cdf_offset,
            quantization_offset=self.tables_qoffset,
            decode_sanity_check=True,
            bottleneck_dtype=tf.float32,
        )

    def quantize(self, x: tf.Tensor) -> tf.Tensor:
        """Rounds to the coding grid (integers shifted by the per-channel offsets)."""
        x = at_least_float32(x)
        return tf.round(x - self.tables_qoffset) + self.tables_qoffset

    def coded_bits(self, x_hat: tf.Tensor) -> tf.Tensor:
        """Information content of quantized latents under the prior, bits per image."""
        log_probs = self.prior.log_prob(at_least_float32(x_hat))
        return tf.reduce_sum(log_probs, axis=(1, 2, 3)) / -math.log(2.0)

    def compress(self, x: tf.Tensor) -> tf.Tensor:
        return self._coder_model().compress(x)

    def decompress(self, strings: tf.Tensor, spatial_shape: tf.Tensor) -> tf.Tensor:
        return self._coder_model().decompress(strings, spatial_shape)


class GaussianConditional(tf.keras.layers.Layer):
    """Gaussian (convolved with unit noise) whose scale is looked up in a log-spaced table.

    Networks predict a continuous *scale index* s; the scale is
    exp(log(scale_min) + s * step). In training s is used as is; for coding it is
    floored to an integer index (`coding_indexes`), and encoder and decoder compute
    the same integer from the same decoded side information.
    """

    def __init__(
        self,
        num_scales: int = 64,
        scale_min: float = 0.11,
        scale_max: float = 256.0,
        name: str = "conditional_bottleneck",
        **kwargs,
    ):
        super().__init__(name=name, **_float32_layer(kwargs))
        self.num_scales = int(num_scales)
        self.scale_min = float(scale_min)
        self.scale_max = float(scale_max)
        self._offset = math.log(scale_min)
        self._factor = (math.log(scale_max) - math.log(scale_min)) / (num_scales - 1.0)

    def scale_fn(self, index: tf.Tensor) -> tf.Tensor:
        return tf.math.exp(self._offset + self._factor * index)

    def index_for_scale(self, scale: tf.Tensor) -> tf.Tensor:
        """The continuous index whose table scale is `scale` (inverse of `scale_fn`)."""
        return (tf.math.log(tf.maximum(scale, 1e-9)) - self._offset) / self._factor

    #: The density (convolved with unit uniform noise) of every table entry.
    distribution = tfc.NoisyNormal

    def _model(self, compression: bool = False) -> tfc.LocationScaleIndexedEntropyModel:
        return tfc.LocationScaleIndexedEntropyModel(
            type(self).distribution,
            self.num_scales,
            self.scale_fn,
            coding_rank=3,
            compression=compression,
            stateless=True,
            tail_mass=TAIL_MASS,
            range_coder_precision=RANGE_CODER_PRECISION,
            bottleneck_dtype=tf.float32,
        )

    def call(
        self, y: tf.Tensor, scale_index: tf.Tensor, loc: tf.Tensor | None = None, training=True
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns (noisy or quantized y, bits per image) for continuous scale indexes.

        Computed in float32 (see `FactorizedEntropyModel.call`); y comes back in its dtype.
        """
        y_tilde, bits = self._model()(
            tf.cast(y, tf.float32), at_least_float32(scale_index), loc=at_least_float32(loc),
            training=training,
        )
        return like(y_tilde, y), bits

    def coding_indexes(self, scale_index: tf.Tensor) -> tf.Tensor:
        """Integer table indexes used by the range coder (floor of the clipped index)."""
        return self._floor(scale_index)

    def _floor(self, scale_index: tf.Tensor) -> tf.Tensor:
        clipped = tf.clip_by_value(scale_index, 0.0, float(self.num_scales - 1))
        return tf.cast(tf.math.floor(clipped), tf.int32)

    def guard_payload(self, scale_index: tf.Tensor) -> tf.Tensor:
        """The encoder's index guard (`zoo.index_guard`) for these continuous indexes, flat."""
        flat = tf.reshape(scale_index, [-1])
        return index_guard.encode(flat, self._floor(flat), self.num_scales)

    def guarded_indexes(self, scale_index: tf.Tensor, guard, start=0) -> tf.Tensor:
        """The decoder's integer indexes: `coding_indexes` with the encoder's guard applied
        to positions start … start + size − 1 of the flat coding order."""
        indexes = self._floor(scale_index)
        flat = index_guard.apply(
            tf.reshape(indexes, [-1]), tf.reshape(scale_index, [-1]), guard, start,
            self.num_scales,
        )
        return tf.reshape(flat, tf.shape(indexes))

    def coded_bits(self, y_hat: tf.Tensor, indexes: tf.Tensor, loc=None) -> tf.Tensor:
        """Information content of quantized y under integer-indexed scales, bits per image."""
        y_hat = at_least_float32(y_hat)
        loc = 0.0 if loc is None else at_least_float32(loc)
        dist = type(self).distribution(loc=loc, scale=self.scale_fn(tf.cast(indexes, y_hat.dtype)))
        return tf.reduce_sum(dist.log_prob(y_hat), axis=(1, 2, 3)) / -math.log(2.0)

    def build_coder(self, compute: bool = True) -> None:
        """Builds the tables of every scale in the table; idempotent (see above)."""
        if hasattr(self, "tables_cdf"):
            return
        if not compute:
            empty = tf.zeros([0], tf.int32)
            _table_variables(self, "tables", empty, empty)
            return

        @tf.function(autograph=False)
        def tables():
            model = self._model(compression=True)
            return model.cdf, model.cdf_offset

        _table_variables(self, "tables", *tables())

    @property
    def coder_ready(self) -> bool:
        return hasattr(self, "tables_cdf")

    def compress(self, y: tf.Tensor, indexes: tf.Tensor, loc=None) -> tf.Tensor:
        """Range codes round(y - loc) with integer `indexes`; one string per image."""
        if loc is not None:
            y = y - loc
        symbols = tf.cast(tf.round(y), tf.int32)
        return encode_indexed(symbols, indexes, self.tables_cdf, self.tables_cdf_offset)

    def decompress(self, strings: tf.Tensor, indexes: tf.Tensor, loc=None) -> tf.Tensor:
        symbols = decode_indexed(strings, indexes, self.tables_cdf, self.tables_cdf_offset)
        values = tf.cast(symbols, tf.float32 if loc is None else loc.dtype)
        return values if loc is None else values + loc


# Range coding of integer symbols under explicit tables --------------------------------


def encode_indexed(symbols, indexes, cdf, cdf_offset) -> tf.Tensor:
    """Codes `symbols` [batch, ...] with per-element table `indexes`; a string per batch row."""
    symbols = tf.convert_to_tensor(symbols, tf.int32) - tf.gather(cdf_offset, indexes)
    handle = gen_ops.create_range_encoder(tf.shape(indexes)[:1], cdf)
    handle = gen_ops.entropy_encode_index(handle, indexes, symbols)
    return gen_ops.entropy_encode_finalize(handle)


def decode_indexed(strings, indexes, cdf, cdf_offset) -> tf.Tensor:
    """Inverse of `encode_indexed`; fails (InvalidArgumentError) on inconsistent input."""
    handle = gen_ops.create_range_decoder(strings, cdf)
    handle, symbols = gen_ops.entropy_decode_index(
        handle, indexes, tf.shape(indexes)[1:], tf.int32
    )
    sanity = gen_ops.entropy_decode_finalize(handle)
    with tf.control_dependencies(
        [tf.debugging.assert_equal(sanity, True, message="range decoder sanity check failed")]
    ):
        symbols = tf.identity(symbols)
    return symbols + tf.gather(cdf_offset, indexes)


def categorical_tables(
    pmfs: np.ndarray, precision: int = RANGE_CODER_PRECISION
) -> tuple[np.ndarray, np.ndarray]:
    """Range coding tables for categorical distributions over {0, ..., K-1}.

    Args:
      pmfs: [num_distributions, K] probabilities (rows need not be normalized).
      precision: bits of the quantized CDF. Keep the default: with 16-bit tables,
        tensorflow-compression 2.14's decoder was seen to loop forever on a truncated
        string (a vq_tiny payload cut to 32 bytes), while 12-bit tables decode or fail.

    Returns:
      (cdf, cdf_offset) for `encode_indexed` / `decode_indexed`. Values outside
      [0, K) remain codable through the coder's escape mechanism, at a high cost.
    """
    pmfs = np.asarray(pmfs, np.float64)
    pmfs = pmfs / pmfs.sum(axis=-1, keepdims=True)
    pieces = []
    for pmf in pmfs:
        p = tf.constant(np.concatenate([pmf, [0.0]]), tf.float32)
        cdf = gen_ops.pmf_to_quantized_cdf(p, precision=precision)
        pieces.append(np.concatenate([[-precision], cdf.numpy()]))
    cdf = np.concatenate(pieces).astype(np.int32)
    return cdf, np.zeros(len(pmfs), np.int32)


def encode_categorical(symbols: np.ndarray, pmf_index: np.ndarray, tables) -> bytes:
    """Range codes a 1-D array of symbols, each under table `pmf_index[i]`."""
    cdf, cdf_offset = tables
    s = tf.constant(np.asarray(symbols, np.int32).reshape(1, -1))
    i = tf.constant(np.asarray(pmf_index, np.int32).reshape(1, -1))
    return encode_indexed(s, i, cdf, cdf_offset).numpy()[0]


def decode_categorical(data: bytes, pmf_index: np.ndarray, tables) -> np.ndarray:
    """Inverse of `encode_categorical`."""
    cdf, cdf_offset = tables
    i = tf.constant(np.asarray(pmf_index, np.int32).reshape(1, -1))
    return decode_indexed(tf.constant([data]), i, cdf, cdf_offset).numpy()[0]


# Incremental range decoding, for autoregressive models ------------------------------
# An autoregressive decoder learns each symbol's table only after decoding earlier
# symbols, so it decodes one string in pieces: start, any number of steps (in exactly
# the order `encode_indexed` coded the symbols), finish. The handle is a tensor and
# may be carried through `tf.while_loop`.


def start_decoding(strings: tf.Tensor, cdf: tf.Tensor) -> tf.Tensor:
    """Opens range decoders on `strings` [batch]; returns the decoder handle."""
    return gen_ops.create_range_decoder(strings, cdf)


def decode_indexed_step(handle, indexes, cdf_offset) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes the next `indexes.shape[1:]` symbols per string; returns (handle, symbols)."""
    handle, symbols = gen_ops.entropy_decode_index(
        handle, indexes, tf.shape(indexes)[1:], tf.int32
    )
    return handle, symbols + tf.gather(cdf_offset, indexes)


def finish_decoding(handle: tf.Tensor) -> tf.Tensor:
    """Closes the decoders; the returned op fails if a string was inconsistent."""
    sanity = gen_ops.entropy_decode_finalize(handle)
    return tf.debugging.assert_equal(sanity, True, message="range decoder sanity check failed")


# Laplace scale-indexed conditional (learned_step family, seed 001) -------------------
# Seed 001 §3.1 finds the learned latents Laplacian; the same log-spaced scale table as
# `GaussianConditional`, with a Laplace density convolved with unit uniform noise.


class LaplaceConditional(GaussianConditional):
    """`GaussianConditional` with a Laplace density (heavier tails than a Gaussian)."""

    distribution = tfc.NoisyLaplace
