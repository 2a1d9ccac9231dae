"""Vector quantization with optimized entropy (seed 000): k learned embeddings of size m,
a learned categorical q_c over them, and its range coder.

    z ─split into vectors of size m─> nearest embedding (code c; forward, hard: ẑ)
                                      softmax(−σ‖z − e‖) (backward, soft: z̃, p̂)
    codes ── range coded under q_c = softmax(logits); one payload `y`

Training bits: α·S + β·H (soft and hard cross-entropy, `zoo.models.vq`'s docstring);
evaluation and coding: H, the real rate.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from zoo import tfc_adapter
from zoo.errors import UnsupportedError
from zoo.latent_codecs.core import DECODE, ENCODE, RELAX, TRAIN, LatentCodec, Latents, Step

#: Bits of the quantized CDF of q_c; the range coder's maximum, so rare codes stay cheap.
CODER_PRECISION = tfc_adapter.RANGE_CODER_PRECISION
_LN2 = math.log(2.0)


class VectorQuantizer(tf.keras.layers.Layer):
    """k learned embeddings of size m, a learned categorical q_c over them, and its coder.

    Latents [B, h, w, C] are read as [B, h, w, C/m] vectors of size m (channel groups).
    """

    def __init__(self, num_codes: int, vector_size: int, sigma: float = 1.0,
                 name: str = "quantizer", **kw):
        super().__init__(name=name, **kw)
        self.num_codes = int(num_codes)
        self.vector_size = int(vector_size)
        self.sigma = float(sigma)
        # Created here, not in build(): encoding calls methods other than call().
        self.codebook = self.add_weight(
            "codebook", [self.num_codes, self.vector_size],
            initializer=tf.keras.initializers.RandomUniform(-1.0, 1.0),
        )
        self.logits = self.add_weight("logits", [self.num_codes], initializer="zeros")

    def _vectors(self, z: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(z)
        groups = z.shape[-1] // self.vector_size
        return tf.reshape(z, tf.concat([shape[:3], [groups, self.vector_size]], 0))

    def squared_distances(self, vectors: tf.Tensor) -> tf.Tensor:
        """‖z⁽ⁱ⁾ − e⁽ʲ⁾‖² for vectors [..., m] -> [..., k]."""
        cross = tf.einsum("...m,km->...k", vectors, self.codebook)
        d2 = (tf.reduce_sum(tf.square(vectors), -1, keepdims=True) - 2.0 * cross
              + tf.reduce_sum(tf.square(self.codebook), -1))
        return tf.maximum(d2, 0.0)  # expansion round-off can go slightly negative

    def codes(self, z: tf.Tensor) -> tf.Tensor:
        """Index of the nearest embedding per vector: int32 [B, h, w, C/m]."""
        return tf.argmin(self.squared_distances(self._vectors(z)), -1, output_type=tf.int32)

    def soft_assignments(self, vectors: tf.Tensor) -> tf.Tensor:
        """p̂ = softmax(−σ‖z − e‖) over the k embeddings (eq. 9)."""
        # ε keeps the gradient of the norm finite when z sits on an embedding.
        dist = tf.sqrt(self.squared_distances(vectors) + 1e-9)
        return tf.nn.softmax(-self.sigma * dist, axis=-1)

    def embed(self, codes: tf.Tensor) -> tf.Tensor:
        """Codes [B, h, w, G] -> dequantized latents ẑ [B, h, w, G·m]."""
        vectors = tf.gather(self.codebook, codes)
        shape = tf.shape(codes)
        return tf.reshape(vectors, tf.concat([shape[:3], [shape[3] * self.vector_size]], 0))

    def log2_q(self) -> tf.Tensor:
        return tf.nn.log_softmax(self.logits) / _LN2

    def hard_bits(self, codes: tf.Tensor) -> tf.Tensor:
        """H = −Σ log₂ q_c(c) per image [B] (eq. 11 before averaging); trains q_c."""
        return -tf.reduce_sum(tf.gather(self.log2_q(), codes), axis=(1, 2, 3))

    def soft_bits(self, p_soft: tf.Tensor) -> tf.Tensor:
        """S = −Σ p̂ · log₂ sg(q_c) per image [B] (eq. 12); trains the encoder and E."""
        log2_q = tf.stop_gradient(self.log2_q())
        return -tf.reduce_sum(p_soft * log2_q, axis=(1, 2, 3, 4))

    def call(self, z: tf.Tensor, training: bool = False):
        """Returns (latents for the synthesis, codes, hard bits [B], soft bits [B])."""
        vectors = self._vectors(z)
        codes = tf.argmin(self.squared_distances(vectors), -1, output_type=tf.int32)
        z_hard = self.embed(codes)
        p_soft = self.soft_assignments(vectors)
        soft_bits = self.soft_bits(p_soft)
        if training:
            z_soft = tf.reshape(tf.einsum("...k,km->...m", p_soft, self.codebook), tf.shape(z))
            # Forward: the hard choice; backward: the soft relaxation (eq. 4).
            z_hard = tf.stop_gradient(z_hard - z_soft) + z_soft
        return z_hard, codes, self.hard_bits(codes), soft_bits

    # Range coding ------------------------------------------------------------------------

    def build_coder(self, compute: bool = True) -> None:
        """Quantized CDF of q_c, stored as variables (saved with the weights); idempotent."""
        if hasattr(self, "tables_cdf"):
            return
        if compute:
            pmf = tf.nn.softmax(tf.cast(self.logits, tf.float64)).numpy()
            cdf, offset = tfc_adapter.categorical_tables(pmf[None], precision=CODER_PRECISION)
        else:
            cdf = offset = np.zeros([0], np.int32)
        # Shape [None]: loading weights replaces tables of any length.
        self.tables_cdf = tf.Variable(cdf, trainable=False, shape=[None], name="tables_cdf")
        self.tables_cdf_offset = tf.Variable(
            offset, trainable=False, shape=[None], name="tables_cdf_offset"
        )

    @property
    def coder_ready(self) -> bool:
        return hasattr(self, "tables_cdf")

    def compress(self, codes: tf.Tensor) -> tf.Tensor:
        """Codes [B, h, w, G] -> one string per image, every code under the one table q_c."""
        return tfc_adapter.encode_indexed(
            codes, tf.zeros_like(codes), self.tables_cdf, self.tables_cdf_offset
        )

    def decompress(self, strings: tf.Tensor, grid: tf.Tensor) -> tf.Tensor:
        """Strings [B] and the code grid [B, h, w, G] -> codes; fails on invalid codes."""
        codes = tfc_adapter.decode_indexed(
            strings, tf.zeros(grid, tf.int32), self.tables_cdf, self.tables_cdf_offset
        )
        # The coder's escape mechanism can yield any integer from a foreign string.
        checks = [
            tf.debugging.assert_non_negative(codes, message="code index out of range"),
            tf.debugging.assert_less(codes, self.num_codes, message="code index out of range"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(codes)


class VQCodec(LatentCodec):
    """Latents coded as the indexes of their nearest embeddings (`VectorQuantizer`).

    Args:
      quantizer: the `VectorQuantizer` (its variables keep their names and order).
      groups: codes per latent position (channels / vector size).
      alpha, beta: weights of the soft and hard cross-entropy in training.
    """

    #: Codes are discrete choices; `zoo.effort`'s relaxed rounding does not apply.
    relaxable = False

    def __init__(self, quantizer: VectorQuantizer, groups: int, alpha: float = 1.0,
                 beta: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.quantizer = quantizer
        self.groups = int(groups)
        self.alpha, self.beta = float(alpha), float(beta)

    def code(self, step: Step, y, shape, side=None) -> Latents:
        quantizer, (name,) = self.quantizer, self.layout
        if step.mode == TRAIN:
            y_hat, _, hard, soft = quantizer(y, training=step.training)
            return Latents(y_hat, self.alpha * soft + self.beta * hard if step.training else hard)
        if step.mode == RELAX:
            raise UnsupportedError("vector quantization has no relaxed pass")
        if step.mode == ENCODE:
            codes = quantizer.codes(y)
            step.payloads.put(name, quantizer.compress(codes)[0])
            return Latents(quantizer.embed(codes), quantizer.hard_bits(codes))
        assert step.mode == DECODE
        codes = quantizer.decompress(step.payloads.get(name)[None],
                                     tf.concat([[1], shape, [self.groups]], 0))
        return Latents(quantizer.embed(codes), None)
