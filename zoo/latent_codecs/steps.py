"""Learned quantization steps (Dumas et al. 2018, seed 001): latents scaled by one step
per channel, times a test-time multiplier β, under a Laplace density of learned scale.

    y ─(φ_e)─> (y − μ)/(βΔ) = z ─round─> ẑ ─ẑ·βΔ + μ─> (φ_d) ─> ŷ
                                 └── p(ẑ) = Laplace(0, s/β) ⊛ U(−½, ½), one table per channel

β is the step's `rate` (1 in training); s/β is snapped to the conditional's scale table,
so encoder and decoder compute the same integer table index per channel from β and s.
φ_e, φ_d are the optional GDN/IGDN around the quantizer (the paper's case 3).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from zoo import layers, tfc_adapter
from zoo.errors import UnsupportedError
from zoo.latent_codecs.core import DECODE, ENCODE, RELAX, TRAIN, LatentCodec, Latents, Step


class QuantizationStepCodec(LatentCodec):
    """One payload `y` of step-scaled latents under a per-channel Laplace conditional.

    The codec owns the normalizations (if any) and the conditional, in that order in a
    weights file. Δ, s and μ stay variables of the family, after all of its parts, where
    the weights files of the first learned-step models keep them; the codec reads them
    through `parameters`, a callable returning (log Δ, log s, μ) [num_latents] each.

    Args:
      num_latents: channels of y.
      parameters: () -> (log_step, log_scale, latent_mean).
      normalization: a GDN before and an IGDN after the quantizer.
      num_scales, scale_min, scale_max: the Laplace scale table.
    """

    #: The multiplier β moves the rate; `zoo.effort`'s relaxed objective has no λ for it.
    relaxable = False

    def __init__(self, num_latents: int, parameters: Callable[[], tuple[tf.Tensor, ...]],
                 normalization: bool = False, num_scales: int = 64, scale_min: float = 0.04,
                 scale_max: float = 64.0, **kwargs):
        super().__init__(**kwargs)
        self.num_latents = int(num_latents)
        self._parameters = parameters
        self.normalization = self.denormalization = None
        if normalization:
            self.normalization = layers.nonlinearity("gdn", name="normalization")
            self.denormalization = layers.nonlinearity("gdn", inverse=True, name="denormalization")
            # Built here, outside any call: variable names (weights-file keys) then do not
            # carry a process-unique model name ("learned_step_3/normalization/...").
            with tf.name_scope(""):
                for gdn in (self.normalization, self.denormalization):
                    gdn(tf.zeros([1, 1, 1, self.num_latents]))
        self.conditional = tfc_adapter.LaplaceConditional(num_scales, scale_min, scale_max)

    @property
    def step_sizes(self) -> tf.Tensor:
        """The quantization steps Δ [num_latents] at β = 1."""
        return tf.exp(self._parameters()[0])

    def normalize(self, y: tf.Tensor) -> tf.Tensor:
        """φ_e(y): the latents the steps apply to."""
        return self.normalization(y) if self.normalization is not None else y

    def scale_index(self, beta) -> tf.Tensor:
        """Continuous scale-table index per channel of the density of z at multiplier β."""
        return self.conditional.index_for_scale(tf.exp(self._parameters()[1]) / beta)

    def _indexes(self, beta, shape) -> tf.Tensor:
        # Nearest table scale (`coding_indexes` floors): the least biased snap of s/β.
        return tf.broadcast_to(self.conditional.coding_indexes(self.scale_index(beta) + 0.5), shape)

    def _scaled(self, y: tf.Tensor, beta) -> tf.Tensor:
        """z = (φ_e(y) − μ) / (βΔ)."""
        return (self.normalize(y) - self._parameters()[2]) / (beta * self.step_sizes)

    def _rescale(self, step: Step, z_hat: tf.Tensor, beta) -> tf.Tensor:
        """ŷ = φ_d(ẑ·βΔ + μ), in the step's dtype."""
        mean = self._parameters()[2]
        if step.dtype == tf.float64:
            scale = tf.cast(beta, tf.float64) * tf.cast(self.step_sizes, tf.float64)
            y_hat = tf.cast(z_hat, tf.float64) * scale + tf.cast(mean, tf.float64)
        else:
            y_hat = z_hat * (beta * self.step_sizes) + mean
        return step.run(self.denormalization, y_hat) if self.denormalization is not None else y_hat

    def code(self, step: Step, y, shape, side=None) -> Latents:
        cond, (name,) = self.conditional, self.layout
        if step.mode == TRAIN:  # β = 1: the steps as learned
            z = self._scaled(y, 1.0)
            index = tf.broadcast_to(self.scale_index(1.0), tf.shape(z))
            z_hat, bits = step.proxy(z, lambda v: cond(v, index, training=step.training), step.training)
            return Latents(self._rescale(step, z_hat, 1.0), bits)
        if step.mode == RELAX:
            raise UnsupportedError("learned quantization steps have no relaxed pass")
        beta = 1.0 if step.rate is None else step.rate
        if step.mode == ENCODE:
            z = self._scaled(y, beta)
            indexes = self._indexes(beta, tf.shape(z))
            step.payloads.put(name, cond.compress(z, indexes)[0])
            z_hat = tf.round(z)
            return Latents(self._rescale(step, z_hat, beta), cond.coded_bits(z_hat, indexes))
        assert step.mode == DECODE
        z_shape = tf.concat([[1], shape, [self.num_latents]], 0)
        z_hat = cond.decompress(step.payloads.get(name)[None], self._indexes(beta, z_shape))
        return Latents(self._rescale(step, z_hat, beta), None)
