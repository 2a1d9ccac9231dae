"""`LatentCodecModel`: a family that is an analysis, a synthesis and one latent codec.

    forward   y = analysis(to_unit(x))   ŷ, bits = codec.code(TRAIN step, y)   x̂ = from_unit(synthesis(ŷ))
    _encode   y = analyze(x)             payloads, bits = codec.code(ENCODE step, y)
    _decode                              ŷ = codec.code(DECODE step, payloads)   synthesize(ŷ, dtype)

`to_unit`/`from_unit` (the base) scale pixels to the transforms' range (x/255 − offset).

Training, coding, the portable decoder (a float64 DECODE step), `zoo.effort` (RELAX) and
the transform servable (`analysis_to_symbols`) run the one codec (`zoo.latent_codecs`).
"""

from __future__ import annotations

import tensorflow as tf

from zoo import layers
from zoo.errors import UnsupportedError
from zoo.latent_codecs import DECODE, ENCODE, TRAIN, LatentCodec, Payloads, Step
from zoo.models.base import CompressionModel, ceil_div


class LatentCodecModel(CompressionModel):
    """Subclasses set `analysis`, `synthesis` and `latent_codec` in `__init__` (in the
    order their weights files list the variables) and nothing else about coding."""

    latent_codec: LatentCodec

    @property
    def num_payloads(self) -> int:
        return len(self.latent_codec.layout)

    @property
    def index_guarded(self) -> bool:
        return self.latent_codec.index_guarded

    def step(self, mode: str, payloads: Payloads | None = None, training: bool = False,
             dtype: tf.DType = tf.float32, relax=None, rate=None) -> Step:
        """A `Step` of the latent codec with this model's proxy and tiling."""
        return Step(mode, dtype, training, self.bottleneck, self.tiled, payloads, relax,
                    self.proxy, self.soft_round_alpha, rate)

    # Training ---------------------------------------------------------------------------

    def forward(self, x, training):
        y = self.analysis(self.to_unit(x))
        if y.dtype != tf.float32:  # mixed precision: the latent codec runs in float32
            layers.compute_in_float32(self.latent_codec)
            y = tf.cast(y, tf.float32)
        y_hat, bits = self.latent_codec.code(self.step(TRAIN, training=training), y,
                                             tf.shape(y)[1:3])
        return self.from_unit(self.synthesis(y_hat)), bits

    # Coding -----------------------------------------------------------------------------

    def _encode(self, x, rate):
        return self.encode_latents(self.analyze(x), None, rate)

    def encode_latents(self, y, side, rate, grid=None):
        """Codes latents y (on `grid`, default y's own size) and the codec's side latents
        (computed from y when `side` is None; `zoo.effort` passes refined ones). Returns
        (payload strings, bits)."""
        payloads = Payloads(self.latent_codec.layout)
        grid = tf.shape(y)[1:3] if grid is None else grid
        _, bits = self.latent_codec.code(self.step(ENCODE, payloads, rate=rate), y, grid, side)
        return payloads.ordered(), bits[0]

    def _decode(self, strings, shape, rate, dtype=tf.float32):
        payloads = Payloads(self.latent_codec.layout, strings)
        y_hat, _ = self.latent_codec.code(self.step(DECODE, payloads, dtype=dtype, rate=rate),
                                          None, ceil_div(shape, self.latent_factor))
        return self.synthesize(y_hat, dtype)

    # Integer-latent interface (the core-ops "transform" SavedModel) ---------------------

    @property
    def has_symbols(self) -> bool:
        return self.latent_codec.has_symbols and self.rate_spec is None

    def _symbols(self) -> LatentCodec:
        if not self.has_symbols:
            raise UnsupportedError(
                f"{self.registry_name} has no integer-latent interface (its latents' "
                "parameters depend on decoded latents, or on a rate); use its codec servable")
        return self.latent_codec

    def symbol_specs(self) -> dict[str, tf.TensorSpec]:
        """Integer latents `synthesis_from_symbols` takes, for a fixed input signature."""
        return self._symbols().symbol_specs(self.num_latents)

    def symbol_layout(self) -> list[dict]:
        """How a client range codes each payload from the symbols (`export.servables`)."""
        return self._symbols().symbol_layout(self.latent_factor)

    def side_to_params(self, z_symbols: tf.Tensor, y_shape: tf.Tensor) -> dict[str, tf.Tensor]:
        """Coding parameters of y (integer scale indexes, means) from side symbols."""
        return self._symbols().side_to_params(self.step(TRAIN), z_symbols, y_shape)

    def analysis_to_symbols(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        """Integers and coding parameters for images [1, H, W, 3] on 0..255."""
        return self._symbols().to_symbols(self.step(TRAIN), self.analysis(self.to_unit(x)))

    def synthesis_from_symbols(self, symbols: dict[str, tf.Tensor], shape: tf.Tensor) -> tf.Tensor:
        """Reconstruction [1, H', W', 3] (0..255 floats) from decoded integer latents."""
        return self.from_unit(self.synthesis(self._symbols().from_symbols(self.step(TRAIN), symbols)))

    def coding_tables(self) -> dict[str, tf.Tensor]:
        """The range coding tables of the payloads, keyed `<payload>_cdf(_offset)`."""
        return self._symbols().coding_tables()
