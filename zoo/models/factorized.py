"""Factorized prior: Ballé, Laparra, Simoncelli, "End-to-end Optimized Image Compression".

ICLR 2017, https://arxiv.org/abs/1611.01704 (the deep factorized density of Ballé et
al. 2018, appendix 6.1, as in tensorflow-compression's `bls2017.py`).

    x ─analysis (4× conv5 s2, GDN)─> y ─Q─> ŷ ─synthesis (4× deconv5 s2, IGDN)─> x̂
                                        └── p(ŷ) = ∏_c p_c(ŷ_c), learned per channel
"""

from __future__ import annotations

import tensorflow as tf

from zoo import layers, tfc_adapter
from zoo.models.base import CompressionModel, TrainingDefaults, ceil_div
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=1e-4, num_steps=1_000_000, decay_at=0.9,
    source="Ballé et al. 2017 §3; tensorflow-compression bls2017.py defaults",
)


class FactorizedPrior(CompressionModel):
    """GDN transforms with a learned factorized entropy model on the latents."""

    num_payloads = 1

    def __init__(self, num_filters: int, num_latents: int, nonlinearity: str = "gdn", **kw):
        super().__init__(**kw)
        self.analysis = layers.analysis_transform(num_filters, num_latents, nonlinearity)
        self.synthesis = layers.synthesis_transform(num_filters, nonlinearity)
        self.entropy_model = tfc_adapter.FactorizedEntropyModel(num_latents)

    def forward(self, x, training):
        y = self.analysis(x / 255.0)
        y_hat, bits = self.bottleneck(y, lambda v: self.entropy_model(v, training), training)
        return self.synthesis(y_hat) * 255.0, bits

    def _encode(self, x, rate):
        return self._encode_latents(self.analyze(x), None, rate)

    def _encode_latents(self, y, z, rate):
        """Codes given latents y (z: none in this family); `zoo.effort` refines them."""
        strings = self.entropy_model.compress(y)
        bits = self.entropy_model.coded_bits(self.entropy_model.quantize(y))
        return [strings[0]], bits[0]

    def _decode(self, strings, shape, rate):
        y_hat = self.entropy_model.decompress(strings[0][None], ceil_div(shape, 16))
        return self.synthesize(y_hat)

    # Integer-latent interface (the core-ops "transform" SavedModel) ---------------------

    def symbol_specs(self) -> dict[str, tf.TensorSpec]:
        """Integer latents `synthesis_from_symbols` takes, for a fixed input signature."""
        c = self.entropy_model.channels
        return {"y_symbols": tf.TensorSpec([1, None, None, c], tf.int32, name="y_symbols")}

    def analysis_to_symbols(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        """Integers the range coder codes (per channel) for images [1, H, W, 3] on 0..255."""
        y = self.analysis(x / 255.0)
        qoffset = self.entropy_model.tables_qoffset
        return {"y_symbols": tf.cast(tf.round(y - qoffset), tf.int32)}

    def synthesis_from_symbols(self, symbols: dict[str, tf.Tensor], shape: tf.Tensor) -> tf.Tensor:
        """Reconstruction [1, H', W', 3] (0..255 floats) from decoded integer latents."""
        y_hat = tf.cast(symbols["y_symbols"], tf.float32) + self.entropy_model.tables_qoffset
        return self.synthesis(y_hat) * 255.0


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
