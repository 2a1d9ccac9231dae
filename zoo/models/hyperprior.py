"""Scale hyperprior: Ballé, Minnen, Singh, Hwang, Johnston,
"Variational image compression with a scale hyperprior", ICLR 2018,
https://arxiv.org/abs/1802.01436 (tensorflow-compression's `bmshj2018.py`).

    x ─analysis─> y ─Q─> ŷ ─synthesis─> x̂
                  │      ↑ N(0, σ) ⊛ U, σ from a log-spaced scale table
                  └─|·|─hyper_analysis─> z ─Q─> ẑ ─hyper_synthesis─> scale index
                                              └── factorized prior p(ẑ)

Payloads: [y string, z string, index guard (`zoo.index_guard`)].
"""

from __future__ import annotations

import math

import tensorflow as tf

from zoo import layers, tfc_adapter
from zoo.latent_codecs import HyperpriorCodec
from zoo.models.base import TrainingDefaults
from zoo.models.factorized import filters_for
from zoo.models.latent import LatentCodecModel
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Ballé et al. 2018 §4; tensorflow-compression bmshj2018.py defaults",
)


class ScaleHyperprior(LatentCodecModel):
    """GDN transforms; a hyperprior predicts the scale of a zero-mean Gaussian per latent."""

    stride = 64  # 16 to y, 4 more to z
    #: Whether the hyperprior also predicts means (`mean_scale`).
    means = False

    def __init__(
        self,
        num_filters: int,
        num_latents: int,
        nonlinearity: str = "gdn",
        num_hyper_latents: int | None = None,
        num_scales: int = 64,
        scale_min: float = 0.11,
        scale_max: float = 256.0,
        scale_output: str = "index",
        side_prior_filters: tuple[int, ...] = (3, 3),
        **kw,
    ):
        super().__init__(**kw)
        # Read by `_initial_index` and `_make_latent_codec` (whose codec checks the value).
        self.scale_output = scale_output
        hyper = num_hyper_latents or num_filters
        self.num_latents = int(num_latents)
        # The table's scales, for `_initial_index` (the conditional is created last: the
        # order in which variables are created is part of the weights' keys).
        self._scale_table = (num_scales, scale_min, scale_max)
        self.analysis = layers.analysis_transform(num_filters, num_latents, nonlinearity)
        self.synthesis = layers.synthesis_transform(num_filters, nonlinearity)
        self.latent_codec = self._make_latent_codec(
            self._make_hyper_analysis(num_filters, hyper),
            self._make_hyper_synthesis(num_filters, num_latents),
            tfc_adapter.FactorizedEntropyModel(hyper, name="side_bottleneck",
                                               num_filters=side_prior_filters),
            tfc_adapter.GaussianConditional(num_scales, scale_min, scale_max),
        )

    #: The scale every latent's Gaussian starts training with. The hyper synthesis predicts
    #: an index into a log-spaced table (σ = 0.11·e^(0.123·index) by default); a zero
    #: initial index would start every σ at 0.11, far below the analysis' output, and the
    #: rate term would spend thousands of steps shrinking y before the distortion can
    #: learn (results/cpu_recipe/). Only a fresh model's initialization: weights load as
    #: they are.
    initial_scale = 1.0

    def _initial_index(self) -> float:
        """The scale output's initial value: `initial_scale`, or its continuous index in
        the table (`GaussianConditional.scale_fn`)."""
        if self.scale_output == "scale":
            return self.initial_scale
        num_scales, low, high = self._scale_table
        return (math.log(self.initial_scale) - math.log(low)) / (
            (math.log(high) - math.log(low)) / (num_scales - 1.0))

    # The parts mean-scale and context models change -------------------------------------

    def _make_latent_codec(self, hyper_analysis, hyper_synthesis, side, conditional):
        return HyperpriorCodec(hyper_analysis, hyper_synthesis, side, conditional,
                               means=self.means, magnitude=not self.means,
                               scale_output=self.scale_output, name="latent_codec")

    def _make_hyper_analysis(self, num_filters, hyper):
        return layers.hyper_analysis_transform(num_filters, hyper, "relu")

    def _make_hyper_synthesis(self, num_filters, num_latents):
        return layers.hyper_synthesis_transform(
            num_filters, num_latents, "relu",
            bias_initializer=tf.keras.initializers.Constant(self._initial_index()))

    # The codec's parts, by the names the family has always had --------------------------

    @property
    def hyper_analysis(self):
        return self.latent_codec.hyper_analysis

    @property
    def hyper_synthesis(self):
        return self.latent_codec.hyper_synthesis

    @property
    def side_entropy_model(self):
        return self.latent_codec.side_entropy_model

    @property
    def conditional(self):
        return self.latent_codec.conditional


@register_model("hyperprior", training=TRAINING)
def hyperprior(
    lmbda: float = 0.0130,
    metric: str = "mse",
    num_filters: int | None = None,
    num_latents: int | None = None,
    **kw,
) -> ScaleHyperprior:
    """Ballé et al. 2018: scale hyperprior, Gaussian conditional."""
    n, m = filters_for(lmbda, metric, high_from=6)
    return ScaleHyperprior(num_filters or n, num_latents or m, lmbda=lmbda, metric=metric, **kw)


@register_model("hyperprior_tiny", family="hyperprior", tiny=True, training=TRAINING)
def hyperprior_tiny(lmbda: float = 0.0130, **kw) -> ScaleHyperprior:
    """Tiny scale hyperprior for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return hyperprior(lmbda=lmbda, **kw)
