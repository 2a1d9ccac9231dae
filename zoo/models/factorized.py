"""Factorized prior: Ballé, Laparra, Simoncelli, "End-to-end Optimized Image Compression".

ICLR 2017, https://arxiv.org/abs/1611.01704 (the deep factorized density of Ballé et
al. 2018, appendix 6.1, as in tensorflow-compression's `bls2017.py`).

    x ─analysis (4× conv5 s2, GDN)─> y ─Q─> ŷ ─synthesis (4× deconv5 s2, IGDN)─> x̂
                                        └── p(ŷ) = ∏_c p_c(ŷ_c), learned per channel
"""

from __future__ import annotations

from zoo import layers, tfc_adapter
from zoo.latent_codecs import FactorizedCodec
from zoo.models.base import TrainingDefaults
from zoo.models.latent import LatentCodecModel
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Ballé et al. 2017 §3; tensorflow-compression bls2017.py defaults",
)


class FactorizedPrior(LatentCodecModel):
    """GDN transforms with a learned factorized entropy model on the latents."""

    def __init__(self, num_filters: int, num_latents: int, nonlinearity: str = "gdn", **kw):
        super().__init__(**kw)
        self.num_latents = int(num_latents)
        self.analysis = layers.analysis_transform(num_filters, num_latents, nonlinearity)
        self.synthesis = layers.synthesis_transform(num_filters, nonlinearity)
        self.latent_codec = FactorizedCodec(
            tfc_adapter.FactorizedEntropyModel(num_latents), name="latent_codec")

    @property
    def entropy_model(self):
        return self.latent_codec.entropy_model


def filters_for(lmbda: float, metric: str, high_from: int) -> tuple[int, int]:
    """(N, M) as the published models: 128/192, or 192/320 from quality `high_from` on."""
    from zoo.models.base import quality_index

    return (192, 320) if quality_index(lmbda, metric) >= high_from else (128, 192)


@register_model("factorized", training=TRAINING)
def factorized(
    lmbda: float = 0.0130,
    metric: str = "mse",
    num_filters: int | None = None,
    num_latents: int | None = None,
    **kw,
) -> FactorizedPrior:
    """Ballé et al. 2017: GDN transforms, deep factorized prior."""
    n, m = filters_for(lmbda, metric, high_from=6)
    return FactorizedPrior(num_filters or n, num_latents or m, lmbda=lmbda, metric=metric, **kw)


@register_model("factorized_tiny", family="factorized", tiny=True, training=TRAINING)
def factorized_tiny(lmbda: float = 0.0130, **kw) -> FactorizedPrior:
    """Tiny factorized model for tests."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_latents", 12)
    return factorized(lmbda=lmbda, **kw)
