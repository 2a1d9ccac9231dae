"""`RateSpec`: the one scalar that moves a variable-rate model along its curve.

Every model has `rate_spec`, a `RateSpec` or None (fixed-rate). `Codec(model, rate=...)`,
`codec.compress(image, rate=...)`, `zoo.rate_control` and the trainer read it; nothing
else about a model's rate is looked up by name.

    spec = model.rate_spec              # RateSpec(name='lmbda', low=0.0018, high=0.0483, default=0.013)
    spec.check(0.02)                     # 0.02, or a ValueError naming the range
    spec.sample(batch, seed)             # training: [batch] values drawn log-uniformly
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

#: How each rate parameter is written in messages.
SYMBOLS = {"lmbda": "λ", "beta": "β"}
#: Relative slack at the ends of a range (values read back from a file as float32).
SLACK = 1e-9


@dataclasses.dataclass(frozen=True)
class RateSpec:
    """The rate parameter of a variable-rate model.

    Attributes:
      name: "lmbda" (the rate-distortion trade-off itself, seed 004 §V) or "beta" (a
        multiplier of learned quantization steps, seed 001): what a container records.
      low, high: the values the model was trained for; others are refused.
      default: the value used when none is given (a λ model's training λ).
    """

    name: str
    low: float
    high: float
    default: float

    def __post_init__(self):
        values = (self.low, self.high, self.default)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f"rate range must be finite numbers, got {values}")
        if not 0 < self.low <= self.default <= self.high or self.low == self.high:
            raise ValueError(
                f"{self.symbol} range must satisfy 0 < low ≤ default ≤ high, low < high; got "
                f"[{self.low:g}, {self.high:g}] with default {self.default:g}")
        for field in ("low", "high", "default"):
            object.__setattr__(self, field, float(getattr(self, field)))

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.name, self.name)

    @property
    def bounds(self) -> tuple[float, float]:
        return self.low, self.high

    def contains(self, rate: float) -> bool:
        return self.low * (1 - SLACK) <= rate <= self.high * (1 + SLACK)

    def check(self, rate, model: str = "the model") -> float:
        """`rate` as a float if it is a number inside the range, else a ValueError."""
        try:
            value = float(rate)
        except (TypeError, ValueError):
            raise ValueError(f"{self.symbol} must be a number, got {rate!r}") from None
        if not (math.isfinite(value) and self.contains(value)):
            raise ValueError(
                f"{self.symbol}={value:g} is outside the range of {model}: "
                f"{self.symbol} ∈ [{self.low:g}, {self.high:g}]")
        return value

    def resolve(self, rate: float | None, model: str = "the model") -> float:
        """The checked rate, or the default when none is given."""
        return self.check(self.default if rate is None else rate, model)

    def sample(self, batch: int | tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """[batch] values drawn log-uniformly from the range (stateless: [2] seed)."""
        u = tf.random.stateless_uniform([batch], seed=seed, dtype=tf.float32)
        log_low, log_high = math.log(self.low), math.log(self.high)
        return tf.exp(log_low + u * (log_high - log_low))


def check(spec: RateSpec | None, rate: float | None, model: str) -> float | None:
    """The rate a coder runs at: None for a fixed-rate model (which refuses a rate), the
    checked rate (or the default) for a variable-rate one."""
    if spec is None:
        if rate is not None:
            raise ValueError(f"{model} is a fixed-rate model; it takes no rate")
        return None
    return spec.resolve(rate, model)
