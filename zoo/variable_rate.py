"""λ-conditioning: one set of transforms for a whole range of rate-distortion trade-offs.

Ballé, Chou, Minnen, Singh, Johnston, Agustsson, Hwang, Toderici, "Nonlinear Transform
Coding", IEEE JSTSP 2021, §V, eq. (18), https://arxiv.org/abs/2007.03034:

    w = h_f(λ) ⊙ v + h_b(λ)        v: a layer's output, w: the next layer's input

with h_f, h_b first-order splines of λ (piecewise linear over log λ, 25 knots, learned
knot values) or, for comparison, a small MLP. Parameterizations of a transform:

    latent_scaling   x ─g_a─> ·h(λ) ─> y ... ŷ ─> ·h'(λ) ─g_s─> x̂    (one scalar each)
    latent_affine    the same, per channel, with a bias
    layer_scaling    x ─conv─> ⊙h_1(λ) ─GDN─> ─conv─> ⊙h_2(λ) ... (every layer, per channel)
    layer_affine     the same with biases
    gdn              no insertions; every GDN's β and γ are functions of λ

The entropy model stays independent of λ (the paper finds conditioning it brings little);
`condition_entropy=True` also conditions the hyper transforms.

How λ reaches the layers: a model owns one `LambdaContext`; its `rd_losses`, `_encode`
and `_decode` set the per-example λ [B] for the duration of the call, and every
`ConditionedTransform` reads it. So a family's own `forward`/`_encode`/`_decode` run
unchanged, and `VariableRateMixin` turns any family whose transforms are Sequentials of
convolutions, GDN and pointwise layers into a variable-rate one.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from zoo.lambda_layers import (
    DEFAULT_RANGE,
    FUNCTIONS,
    PARAMETERIZATIONS,
    ConditionedTransform,
    LambdaContext,
    check_range,
    geometric_mean,
)
from zoo.rates import RateSpec
from zoo.weights import copy_variables

__all__ = ["DEFAULT_RANGE", "FUNCTIONS", "PARAMETERIZATIONS", "VariableRateMixin", "check_range", "geometric_mean"]


class VariableRateMixin:
    """Makes a `CompressionModel` family variable-rate; put it first among the bases.

    The subclass calls `_make_variable_rate(...)` at the end of `__init__`. Training
    takes a per-example λ [B] (`rd_losses(x, lmbda=...)`, used in the transforms and in
    the loss); without one the model runs at its default `self.lmbda`. Coding takes λ
    as the `rate` of `compress`/`decompress`, which the container records.
    """

    def _make_variable_rate(
        self,
        lmbda_range: Sequence[float],
        parameterization: str,
        function: str = "spline",
        num_knots: int = 25,
        condition_entropy: bool = False,
        transforms: Sequence[tuple[str, str]] = (("analysis", "analysis"), ("synthesis", "synthesis")),
        hyper_transforms: Sequence[str] = (),
        lr_multiplier: float = 1.0,
    ) -> None:
        """Replaces the named Sequential attributes by their λ-conditioned versions.

        Args:
          transforms: (attribute, role) of the main transforms.
          hyper_transforms: attributes conditioned only with `condition_entropy`.
          lr_multiplier: how much faster the functions of λ learn than the rest
            (`LambdaFunction`); 1 trains from scratch, ~30 fine-tunes a fixed-rate model.
        """
        self.lmbda_range = check_range(lmbda_range)
        low, high = self.lmbda_range
        if not low * (1 - 1e-9) <= self.lmbda <= high * (1 + 1e-9):
            raise ValueError(f"default lmbda {self.lmbda:g} is outside lmbda_range [{low:g}, {high:g}]")
        if function not in FUNCTIONS:
            raise ValueError(f"function must be one of {FUNCTIONS}, got {function!r}")
        self.rate_spec = RateSpec("lmbda", low, high, default=self.lmbda)
        self.parameterization = parameterization
        self.condition_entropy = bool(condition_entropy)
        self.lambda_context = LambdaContext()
        args = {"lmbda_range": self.lmbda_range, "function": function, "num_knots": num_knots,
                "lr_multiplier": lr_multiplier}
        conditioned = [attribute for attribute, _ in transforms]
        for attribute, role in transforms:
            setattr(self, attribute, ConditionedTransform(
                getattr(self, attribute), role, parameterization, self.lambda_context, **args))
        if condition_entropy:
            if not hyper_transforms:
                raise ValueError(
                    "condition_entropy needs a model with hyper transforms (e.g. hyperprior_vr); "
                    "a factorized prior has no λ-dependent input"
                )
            # Hyper transforms use ReLU, not GDN: give them per-channel affine maps instead.
            hyper = "layer_affine" if parameterization == "gdn" else parameterization
            for attribute in hyper_transforms:  # parts of the latent codec (zoo.latent_codecs)
                codec = self.latent_codec
                setattr(codec, attribute, ConditionedTransform(
                    getattr(codec, attribute), "hyper", hyper, self.lambda_context, **args))
            conditioned += list(hyper_transforms)
        self.conditioned_attributes = tuple(conditioned)

    def initialize_from_fixed_rate(self, source) -> None:
        """Starts this (built) model as the trained fixed-rate model `source`, at every λ.

        `source` is the same family without λ-conditioning, built with the same filter
        counts (e.g. `hyperprior` for `hyperprior_vr`). Its transforms go into the
        conditioned ones (`ConditionedTransform.copy_from`), everything else (hyper
        transforms, entropy models) is copied as is; the functions of λ then learn to move
        the model along the rate axis (seed 004 §V) in a fraction of a full training.
        """
        if getattr(source, "conditioned_attributes", None):
            raise ValueError(f"{source.registry_name} is variable-rate already; copy it whole")
        for attribute in self.conditioned_attributes:
            getattr(self, attribute).copy_from(getattr(source, attribute))

        def rest(model):
            skip = {v.ref() for a in self.conditioned_attributes
                    for v in getattr(model, a).trainable_variables}
            return [v for v in model.trainable_variables if v.ref() not in skip]

        copy_variables(rest(source), rest(self), "entropy model and hyper transforms")

    # λ -------------------------------------------------------------------------------

    def _lambdas(self, x: tf.Tensor, lmbda: tf.Tensor | float | None) -> tf.Tensor:
        """Per-example λ [B]: given (scalar or [B]) or the default."""
        batch = tf.shape(x)[0]
        value = self.lmbda if lmbda is None else lmbda
        return tf.broadcast_to(tf.reshape(tf.cast(value, tf.float32), [-1]), [batch])

    # Training ------------------------------------------------------------------------

    def rd_losses(self, x, training: bool = True, lmbda=None):
        per_example = self._lambdas(x, lmbda)
        with self.lambda_context.use(per_example):
            return super().rd_losses(x, training=training, lmbda=None if lmbda is None else per_example)

    def forward(self, x, training):
        if self.lambda_context.active:
            return super().forward(x, training)
        with self.lambda_context.use(self._lambdas(x, None)):
            return super().forward(x, training)

    # Coding --------------------------------------------------------------------------

    def coding_context(self, rate: tf.Tensor):
        return self.lambda_context.use(self._coding_lambda(rate))

    def _coding_lambda(self, rate: tf.Tensor) -> tf.Tensor:
        # The coding graphs get a checked λ (`rate_tensor`, the servable's default).
        return tf.reshape(tf.cast(rate, tf.float32), [1])

    def _encode(self, x, rate):
        with self.lambda_context.use(self._coding_lambda(rate)):
            return super()._encode(x, rate)

    def _decode(self, strings, shape, rate, dtype=tf.float32):
        with self.lambda_context.use(self._coding_lambda(rate)):
            return super()._decode(strings, shape, rate, dtype)
