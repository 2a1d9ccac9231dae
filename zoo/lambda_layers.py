"""λ-conditioned layers (Ballé et al., "Nonlinear Transform Coding", IEEE JSTSP 2021,
§V, eq. (18), https://arxiv.org/abs/2007.03034):

    w = h_f(λ) ⊙ v + h_b(λ)        v: a layer's output, w: the next layer's input

`LambdaFunction` is h (a first-order spline over log λ, or a small MLP),
`LambdaModulation` inserts it after a layer, `LambdaGDN` makes GDN's β and γ functions
of λ, and `ConditionedTransform` rebuilds a Sequential transform with the insertions of
one parameterization. `zoo.variable_rate.VariableRateMixin` puts them into a family.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from zoo import layers, tfc_adapter
from zoo.weights import copy_variables

PARAMETERIZATIONS = ("latent_scaling", "latent_affine", "layer_scaling", "layer_affine", "gdn")
FUNCTIONS = ("spline", "mlp")
DEFAULT_RANGE = (0.0018, 0.0483)


def check_range(lmbda_range: Sequence[float]) -> tuple[float, float]:
    """(low, high) as floats; refuses anything but 0 < low < high."""
    try:
        low, high = (float(v) for v in lmbda_range)
    except (TypeError, ValueError):
        raise ValueError(f"lmbda_range must be two numbers (low, high), got {lmbda_range!r}") from None
    if not 0 < low < high or not math.isfinite(high):
        raise ValueError(f"lmbda_range must satisfy 0 < low < high, got ({low:g}, {high:g})")
    return low, high


class LambdaFunction(tf.keras.layers.Layer):
    """A vector-valued function of λ: [B] -> [B, num_outputs].

    "spline": piecewise linear in log λ between `num_knots` evenly spaced knots spanning
    `lmbda_range`, constant beyond it. Written as a sum of hat functions so that every
    knot value gets a (dense) gradient and values at knots are exact.
    "mlp": log λ (scaled to [-1, 1]) -> tanh layer of `hidden` units -> linear.
    Both start as the constant `initial`, so a conditioned model starts as the
    unconditioned one.

    `lr_multiplier` m stores the output parameters divided by m and multiplies them back:
    under Adam (whose steps do not depend on the gradient's scale) the functions of λ then
    learn m times faster than the transforms around them, which is what a short
    fine-tuning of a trained fixed-rate model into a variable-rate one needs.
    """

    def __init__(
        self,
        num_outputs: int,
        lmbda_range: Sequence[float] = DEFAULT_RANGE,
        function: str = "spline",
        num_knots: int = 25,
        hidden: int = 32,
        initial: float | np.ndarray = 0.0,
        lr_multiplier: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if function not in FUNCTIONS:
            raise ValueError(f"function must be one of {FUNCTIONS}, got {function!r}")
        if num_knots < 2:
            raise ValueError(f"a spline needs at least 2 knots, got {num_knots}")
        self.num_outputs = int(num_outputs)
        self.low, self.high = check_range(lmbda_range)
        self.function = function
        self.num_knots = int(num_knots)
        self.hidden = int(hidden)
        if not lr_multiplier > 0:
            raise ValueError(f"lr_multiplier must be positive, got {lr_multiplier}")
        self.lr_multiplier = float(lr_multiplier)
        self.initial = np.broadcast_to(np.asarray(initial, np.float32), [self.num_outputs]).copy()

    def build(self, input_shape):
        initial = tf.constant_initializer(self.initial / self.lr_multiplier)
        if self.function == "spline":
            tiled = np.tile(self.initial[None] / self.lr_multiplier, [self.num_knots, 1])
            self.knot_values = self.add_weight(
                "knot_values", [self.num_knots, self.num_outputs],
                initializer=tf.constant_initializer(tiled),
            )
        else:
            self.hidden_kernel = self.add_weight(
                "hidden_kernel", [1, self.hidden],
                initializer=tf.keras.initializers.RandomUniform(-3.0, 3.0, seed=0),
            )
            self.hidden_bias = self.add_weight(
                "hidden_bias", [self.hidden],
                initializer=tf.keras.initializers.RandomUniform(-3.0, 3.0, seed=1),
            )
            self.output_kernel = self.add_weight(
                "output_kernel", [self.hidden, self.num_outputs], initializer="zeros"
            )
            self.output_bias = self.add_weight("output_bias", [self.num_outputs], initializer=initial)
        super().build(input_shape)

    def unit_position(self, lmbda: tf.Tensor) -> tf.Tensor:
        """log λ mapped affinely so that the range becomes [0, 1]."""
        lmbda = tf.cast(lmbda, tf.float32)
        log_low, log_high = math.log(self.low), math.log(self.high)
        return (tf.math.log(lmbda) - log_low) / (log_high - log_low)

    def knot_lambdas(self) -> np.ndarray:
        """The λ at each knot (log-spaced over the range)."""
        return np.exp(np.linspace(math.log(self.low), math.log(self.high), self.num_knots))

    def call(self, lmbda: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
        u = tf.cast(tf.reshape(self.unit_position(lmbda), [-1, 1]), dtype)

        def w(variable):
            return tf.cast(variable, dtype)

        if self.function == "spline":
            t = tf.clip_by_value(u * (self.num_knots - 1), 0.0, self.num_knots - 1.0)
            knots = tf.range(self.num_knots, dtype=dtype)[None]
            hats = tf.nn.relu(1.0 - tf.abs(t - knots))  # [B, K]; rows sum to 1
            return tf.matmul(hats, w(self.knot_values)) * self.lr_multiplier
        h = tf.tanh(tf.matmul(2.0 * u - 1.0, w(self.hidden_kernel)) + w(self.hidden_bias))
        return (tf.matmul(h, w(self.output_kernel)) + w(self.output_bias)) * self.lr_multiplier

    def set_constant(self, values: np.ndarray) -> None:
        """Makes the (built) function the constant `values` [num_outputs] for every λ."""
        values = np.broadcast_to(np.asarray(values, np.float32), [self.num_outputs]) / self.lr_multiplier
        if self.function == "spline":
            self.knot_values.assign(np.tile(values[None], [self.num_knots, 1]))
        else:
            self.output_kernel.assign(tf.zeros_like(self.output_kernel))
            self.output_bias.assign(values)


class LambdaContext:
    """Carries the per-example λ [B] of the current call to the λ-dependent layers.

    Not a layer (nothing to save); set only inside `use`, within one call or trace.
    """

    def __init__(self):
        self._value: tf.Tensor | None = None

    @contextlib.contextmanager
    def use(self, lmbda: tf.Tensor) -> Iterator[tf.Tensor]:
        previous, self._value = self._value, tf.reshape(tf.cast(lmbda, tf.float32), [-1])
        try:
            yield self._value
        finally:
            self._value = previous

    @property
    def active(self) -> bool:
        return self._value is not None

    def get(self) -> tf.Tensor:
        if self._value is None:
            raise RuntimeError("a λ-conditioned layer was called outside LambdaContext.use()")
        return self._value


def _per_example(values: tf.Tensor) -> tf.Tensor:
    """[B, C] -> broadcastable against feature maps [B, H, W, C]."""
    return values[:, None, None, :]


class LambdaModulation(tf.keras.layers.Layer):
    """Eq. (18): w = h_f(λ) ⊙ v (+ h_b(λ)), per channel or one scalar for all channels."""

    def __init__(self, per_channel: bool = True, bias: bool = False, lmbda_range=DEFAULT_RANGE,
                 function: str = "spline", num_knots: int = 25, lr_multiplier: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.per_channel = per_channel
        self.bias = bias
        self.fn_args = {"lmbda_range": lmbda_range, "function": function, "num_knots": num_knots,
                        "lr_multiplier": lr_multiplier}

    def build(self, input_shape):
        channels = int(input_shape[-1])
        n = channels if self.per_channel else 1
        self.scale_fn = LambdaFunction(n, initial=1.0, name="scale", **self.fn_args)
        self.shift_fn = LambdaFunction(n, initial=0.0, name="shift", **self.fn_args) if self.bias else None
        super().build(input_shape)

    def call(self, v: tf.Tensor, lmbda: tf.Tensor) -> tf.Tensor:
        w = v * _per_example(self.scale_fn(lmbda))
        if self.shift_fn is not None:
            w += _per_example(self.shift_fn(lmbda))
        return w

    def call_float64(self, v: tf.Tensor, lmbda: tf.Tensor) -> tf.Tensor:
        w = tf.cast(v, tf.float64) * _per_example(self.scale_fn.call(lmbda, tf.float64))
        if self.shift_fn is not None:
            w += _per_example(self.shift_fn.call(lmbda, tf.float64))
        return w


class LambdaGDN(tf.keras.layers.Layer):
    """GDN (Ballé et al. 2016) whose β [C] and γ [C, C] are functions of λ.

        y_i = x_i / (β_i(λ) + Σ_j γ_ij(λ) |x_j|^α)^ε      (inverse: × instead of /)

    α and ε are those of the GDN it replaces (tensorflow-compression's default is the
    simplified GDN of Johnston et al. 2019, α = ε = 1; α = 2, ε = ½ is the original), so
    a trained fixed-rate model's GDNs carry over exactly (`set_from_gdn`).
    β and γ are kept non-negative as squares of lower-bounded raw values; they start
    as tensorflow-compression's defaults (β = 1, γ = 0.1·I).
    """

    def __init__(self, inverse: bool = False, alpha: float = 1.0, epsilon: float = 1.0,
                 lmbda_range=DEFAULT_RANGE, function: str = "spline",
                 num_knots: int = 25, beta_min: float = 1e-6, gamma_init: float = 0.1,
                 lr_multiplier: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if (alpha, epsilon) not in ((1.0, 1.0), (2.0, 0.5), (2.0, 1.0), (1.0, 0.5)):
            raise ValueError(f"GDN form alpha={alpha}, epsilon={epsilon} is not supported")
        self.inverse = bool(inverse)
        self.alpha, self.epsilon = float(alpha), float(epsilon)
        self.beta_min = float(beta_min)
        self.gamma_init = float(gamma_init)
        self.fn_args = {"lmbda_range": lmbda_range, "function": function, "num_knots": num_knots,
                        "lr_multiplier": lr_multiplier}

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.channels = c
        self.beta_fn = LambdaFunction(c, initial=1.0, name="beta", **self.fn_args)
        gamma = math.sqrt(self.gamma_init) * np.eye(c, dtype=np.float32)
        self.gamma_fn = LambdaFunction(c * c, initial=gamma.reshape(-1), name="gamma", **self.fn_args)
        super().build(input_shape)

    def call(self, x: tf.Tensor, lmbda: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
        c = self.channels
        x = tf.cast(x, dtype)
        if dtype == tf.float32:  # the bounds pass gradients (tfc's lower_bound)
            beta = tf.square(tfc_adapter.lower_bound(self.beta_fn(lmbda), math.sqrt(self.beta_min)))
            gamma = tf.square(tfc_adapter.lower_bound(self.gamma_fn(lmbda), 0.0))
        else:  # the portable decoder
            beta = tf.maximum(self.beta_fn.call(lmbda, dtype), math.sqrt(self.beta_min)) ** 2
            gamma = tf.maximum(self.gamma_fn.call(lmbda, dtype), 0.0) ** 2
        gamma = tf.reshape(gamma, [-1, c, c])
        pool = tf.abs(x) if self.alpha == 1 else tf.square(x)
        norm = tf.einsum("bhwj,bij->bhwi", pool, gamma) + _per_example(beta)
        if self.epsilon == 0.5:
            return x * tf.sqrt(norm) if self.inverse else x * tf.math.rsqrt(norm)
        return x * norm if self.inverse else x / norm

    def set_from_gdn(self, layer: tf.keras.layers.Layer) -> None:
        """Makes this layer the trained (fixed) GDN `layer` at every λ."""
        if bool(layer.inverse) != self.inverse:
            raise ValueError(f"{self.name}: cannot take the parameters of {layer.name} "
                             f"(inverse={layer.inverse}, this layer inverse={self.inverse})")
        beta, gamma = tfc_adapter.gdn_parameters(layer, (self.alpha, self.epsilon))
        self.beta_fn.set_constant(np.sqrt(np.maximum(beta, self.beta_min)))
        self.gamma_fn.set_constant(np.sqrt(np.maximum(gamma, 0.0)).reshape(-1))

    def call_float64(self, x: tf.Tensor, lmbda: tf.Tensor) -> tf.Tensor:
        return self.call(x, lmbda, tf.float64)


def _is_conv(layer: tf.keras.layers.Layer) -> bool:
    return isinstance(layer, (tf.keras.layers.Conv2D, tf.keras.layers.Dense))


class ConditionedTransform(tf.keras.layers.Layer):
    """The layers of a Sequential transform with λ-dependent pieces inserted or swapped in.

    Args:
      transform: a Sequential (unbuilt) of convolutions, GDN and pointwise layers.
      role: "analysis" (latents are its output), "synthesis" (latents are its input) or
        "hyper" (condition after every convolution, output included).
      parameterization: one of `PARAMETERIZATIONS`.
      context: the model's `LambdaContext`.
    """

    def __init__(self, transform: tf.keras.Sequential, role: str, parameterization: str,
                 context: LambdaContext, lmbda_range=DEFAULT_RANGE, function: str = "spline",
                 num_knots: int = 25, lr_multiplier: float = 1.0, **kwargs):
        kwargs.setdefault("name", transform.name)
        super().__init__(**kwargs)
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}, got {parameterization!r}"
            )
        if role not in ("analysis", "synthesis", "hyper"):
            raise ValueError(f"unknown role {role!r}")
        self.context = context
        self.parameterization = parameterization
        args = {"lmbda_range": lmbda_range, "function": function, "num_knots": num_knots,
                "lr_multiplier": lr_multiplier}
        kind, _, _ = parameterization.partition("_")
        affine = parameterization.endswith("_affine")

        def modulation(i):
            return LambdaModulation(per_channel=parameterization != "latent_scaling",
                                    bias=affine, name=f"lambda_{i}", **args)

        source = list(transform.layers)
        stages: list[tf.keras.layers.Layer] = []
        if parameterization == "gdn":
            for layer in source:
                if tfc_adapter.is_gdn(layer):
                    stages.append(LambdaGDN(inverse=layer.inverse, **tfc_adapter.gdn_form(layer),
                                            name=layer.name, **args))
                else:
                    stages.append(layer)
            if not any(isinstance(s, LambdaGDN) for s in stages):
                raise ValueError(
                    f"parameterization 'gdn' needs GDN layers, and {transform.name} has none; "
                    "use a layer_* or latent_* parameterization"
                )
        elif kind == "latent" and role == "synthesis":
            stages = [modulation(0)] + source
        elif kind == "latent":
            stages = source + [modulation(len(source))]
        else:  # layer-wise: after every convolution (synthesis: before the first, not after the last)
            if role == "synthesis":
                stages.append(modulation(0))
            for i, layer in enumerate(source):
                stages.append(layer)
                last = i == len(source) - 1
                if _is_conv(layer) and not (last and role == "synthesis"):
                    stages.append(modulation(i + 1))
        self.stages = stages

    def __call__(self, *args, **kwargs):
        # From the root name scope: variable names (the keys of weights files) must not
        # depend on whether the model was first built inside its own `__call__` (which
        # opens the model's scope) or by `rd_losses`.
        with tf.name_scope(""):
            return super().__call__(*args, **kwargs)

    def copy_from(self, transform: tf.keras.Sequential) -> None:
        """Takes the trained layers of the fixed-rate `transform` this one was made from.

        Both must be built. Convolutions and pointwise layers are copied; λ-conditioned GDNs
        become the trained GDN at every λ; inserted modulations keep their identity start,
        so the result computes exactly what `transform` does, at every λ.
        """
        kept = [s for s in self.stages if not isinstance(s, LambdaModulation)]
        source = list(transform.layers)
        if len(kept) != len(source):
            raise ValueError(f"{self.name}: {len(source)} layers to copy into {len(kept)}")
        for stage, layer in zip(kept, source):
            if isinstance(stage, LambdaGDN):
                stage.set_from_gdn(layer)
            else:
                copy_variables(layer.trainable_variables, stage.trainable_variables,
                               f"{self.name}/{layer.name}")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        lmbda = self.context.get()
        for stage in self.stages:
            if isinstance(stage, (LambdaModulation, LambdaGDN)):
                x = stage(x, lmbda)
            else:
                x = stage(x)
        return x

    def call_float64(self, x: tf.Tensor) -> tf.Tensor:
        lmbda = self.context.get()
        for stage in self.stages:
            if isinstance(stage, (LambdaModulation, LambdaGDN)):
                x = stage.call_float64(x, lmbda)
            else:
                x = layers.run_float64(stage, x)
        return x



def geometric_mean(lmbda_range: Sequence[float]) -> float:
    """The default λ of a variable-rate model: the middle of its range on a log scale."""
    low, high = check_range(lmbda_range)
    return math.sqrt(low * high)
