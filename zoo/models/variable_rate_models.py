"""Variable-rate factorized-prior and hyperprior models: one model for a range of λ.

Ballé, Chou, Minnen, Singh, Johnston, Agustsson, Hwang, Toderici, "Nonlinear Transform
Coding", IEEE JSTSP 2021, §V and Fig. 12, https://arxiv.org/abs/2007.03034, applied to
the transforms of Ballé et al. 2017 (`factorized`) and 2018 (`hyperprior`).

    λ ─┬──────────────────────────────┬─────────────┐   splines of log λ (zoo.variable_rate)
       ↓                              ↓             ↓
    x ─analysis(λ)─> y ─Q─> ŷ ─synthesis(λ)─> x̂      loss = bpp + λ·D, λ per example
                     └─ entropy model (independent of λ unless condition_entropy=True)

Training draws λ log-uniformly from `lmbda_range` per example (recipes.trainer does it);
`compress(image, rate=λ)` codes at any λ in the range and the container records λ.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo.models.base import TrainingDefaults
from zoo.models.factorized import FactorizedPrior, filters_for
from zoo.models.hyperprior import ScaleHyperprior
from zoo.registry import register_model
from zoo.variable_rate import DEFAULT_RANGE, VariableRateMixin, check_range, geometric_mean

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Ballé et al. 2021 §V (setup of Ballé et al. 2018); λ log-uniform over the range",
)


class VariableRateFactorized(VariableRateMixin, FactorizedPrior):
    """Factorized prior whose transforms are functions of λ."""

    def __init__(self, num_filters: int, num_latents: int, *, lmbda_range, parameterization,
                 function="spline", num_knots=25, condition_entropy=False,
                 function_lr_multiplier=1.0, **kw):
        super().__init__(num_filters, num_latents, **kw)
        self._make_variable_rate(lmbda_range, parameterization, function, num_knots,
                                 condition_entropy, lr_multiplier=function_lr_multiplier)


class VariableRateHyperprior(VariableRateMixin, ScaleHyperprior):
    """Scale hyperprior whose transforms (and optionally hyper transforms) are functions of λ."""

    def __init__(self, num_filters: int, num_latents: int, *, lmbda_range, parameterization,
                 function="spline", num_knots=25, condition_entropy=False,
                 function_lr_multiplier=1.0, **kw):
        super().__init__(num_filters, num_latents, **kw)
        self._make_variable_rate(lmbda_range, parameterization, function, num_knots,
                                 condition_entropy,
                                 hyper_transforms=("hyper_analysis", "hyper_synthesis"),
                                 lr_multiplier=function_lr_multiplier)


def _build(
    cls: type,
    lmbda: float | None = None,
    lmbda_range: Sequence[float] = DEFAULT_RANGE,
    parameterization: str = "gdn",
    function: str = "spline",
    metric: str = "mse",
    num_filters: int | None = None,
    num_latents: int | None = None,
    **kw,
):
    """Builds `cls` for a λ range; filter counts as the fixed-rate model at its top needs."""
    low_high = check_range(lmbda_range)
    n, m = filters_for(low_high[1], metric, high_from=6)
    lmbda = geometric_mean(low_high) if lmbda is None else float(lmbda)
    return cls(num_filters or n, num_latents or m, lmbda_range=low_high,
               parameterization=parameterization, function=function, lmbda=lmbda,
               metric=metric, **kw)


@register_model("factorized_vr", training=TRAINING, lmbda_range=DEFAULT_RANGE)
def factorized_vr(**kw) -> VariableRateFactorized:
    """Variable-rate factorized prior (Ballé et al. 2021 §V); λ ∈ lmbda_range.

    Arguments: lmbda, lmbda_range, parameterization (latent_scaling, latent_affine,
    layer_scaling, layer_affine, gdn), function (spline, mlp), metric, num_filters,
    num_latents, num_knots, condition_entropy, function_lr_multiplier (how much faster the
    functions of λ learn than the transforms; for fine-tuning a fixed-rate model).
    """
    return _build(VariableRateFactorized, **kw)


@register_model("hyperprior_vr", training=TRAINING, lmbda_range=DEFAULT_RANGE)
def hyperprior_vr(**kw) -> VariableRateHyperprior:
    """Variable-rate scale hyperprior (Ballé et al. 2021 §V); λ ∈ lmbda_range.

    Arguments as `factorized_vr`.
    """
    return _build(VariableRateHyperprior, **kw)


@register_model("factorized_vr_tiny", family="factorized_vr", tiny=True, training=TRAINING,
                lmbda_range=DEFAULT_RANGE)
def factorized_vr_tiny(**kw) -> VariableRateFactorized:
    """Tiny variable-rate factorized prior for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return factorized_vr(**kw)


@register_model("hyperprior_vr_tiny", family="hyperprior_vr", tiny=True, training=TRAINING,
                lmbda_range=DEFAULT_RANGE)
def hyperprior_vr_tiny(**kw) -> VariableRateHyperprior:
    """Tiny variable-rate scale hyperprior for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return hyperprior_vr(**kw)
