"""What every compression model in the zoo is: a Keras model with a training loss and a coder.

    training:  x ──forward(training=True)──> (x̃, bits)  ─> loss = bpp + λ·D(x, x̃)
    coding:    image ──compress──> payload strings ──decompress──> image

Subclasses implement `forward` (noisy proxy in training, quantization otherwise),
`_encode` and `_decode`. The base class supplies the rate-distortion loss, the
quantization proxies, the tf.functions with fixed input signatures used by
`zoo.Codec` and the SavedModel export, and the model's identity.
"""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from zoo import layers, metrics, rates, tfc_adapter, tiling
from zoo.errors import UnsupportedError
from zoo.pixels import PAD_MODE, PAD_MODES, ceil_div, pad_to_stride, to_pixels
from zoo.rates import RateSpec

METRICS = ("mse", "ms-ssim")
PROXIES = ("noise", "ste", "soft_round")

#: The usual λ ladder, quality 1..8 (loss = bpp + λ·D). MS-SSIM models use
#: D = 1 − MS-SSIM, whose scale differs from MSE's by about 1300×, hence their own ladder.
LAMBDAS = {
    "mse": (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800),
    "ms-ssim": (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00),
}


def quality_index(lmbda: float, metric: str = "mse") -> int:
    """1-based position of the λ ladder entry closest to `lmbda` (on a log scale)."""
    import math

    if metric not in LAMBDAS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not lmbda > 0:
        raise ValueError(f"lmbda must be positive, got {lmbda}")
    ladder = LAMBDAS[metric]
    return 1 + min(range(len(ladder)), key=lambda i: abs(math.log(ladder[i] / lmbda)))


@dataclass(frozen=True)
class TrainingDefaults:
    """A family's training schedule as published (the recipes read it from the registry)."""

    patchsize: int = 256
    batchsize: int = 8
    learning_rate: float = 1e-4
    num_steps: int = 1_000_000
    #: Fraction of `num_steps` after which the learning rate drops by 10×.
    decay_at: float = 0.9
    source: str = ""


class CompressionModel(tf.keras.Model, metaclass=abc.ABCMeta):
    """Base class of the zoo's models.

    Args:
      lmbda: rate-distortion trade-off; loss = bits per pixel + λ · distortion.
      metric: "mse" (distortion = MSE on the 0..255 scale) or "ms-ssim"
        (distortion = 1 − MS-SSIM).
      proxy: how quantization is simulated in training: "noise" (additive uniform
        noise), "ste" (noise for the rate, straight-through rounding for the
        distortion) or "soft_round" (Agustsson & Theis 2020).
      soft_round_alpha: sharpness of soft rounding (may be annealed by a trainer).
    """

    #: How many byte strings `compress` produces.
    num_payloads: int = 1
    #: Whether the last payload is an index guard (`zoo.index_guard`).
    index_guarded: bool = False
    #: The scalar that moves a variable-rate model along its curve (`zoo.rates`); None
    #: for a fixed-rate model. Set by the variable-rate families in `__init__`.
    rate_spec: RateSpec | None = None
    #: Total downsampling factor of the transforms (every latent grid divides the image
    #: by a power of two up to this). Images are padded to a multiple of it before the
    #: analysis and the reconstruction cropped after the synthesis (`pad_to_stride`).
    stride: int = 16
    #: Downsampling factor of `analysis` (its latents are the image divided by this).
    latent_factor: int = 16
    #: Coding runs `analysis` and `synthesis` in tiles of `tile`² latent positions, each
    #: reading `halo` more on every side (`zoo.tiling`: the same latents and pixels as
    #: the whole image, in memory bounded by one tile's activations). 48 positions at a
    #: factor of 16 are 768² pixels (Kodak's 768×512 runs in one piece): a synthesis tile
    #: then peaks at 0.43 GB, against 0.75 GB at 1024² (oneDNN, shipped hyperprior), for
    #: 7 % more halo computation.
    tile: int = 48
    halo: int = 4
    #: Largest image (pixels) the model codes; images beyond are refused before coding.
    max_pixels: int = 2**27
    #: Whether the model has the integer-latent interface of the core-ops transform
    #: servable (`zoo.models.latent.LatentCodecModel`).
    has_symbols: bool = False
    #: The transforms see pixels as x/255 − `pixel_offset` (`to_unit`, `from_unit`).
    pixel_offset: float = 0.0
    #: Whether `_encode`/`_decode` trace into tf.functions (coding graphs, SavedModels);
    #: False runs them eagerly (NumPy coders: `zoo.models.ladder`), with no export.
    graph_coded: bool = True

    def __init__(
        self,
        lmbda: float = 0.01,
        metric: str = "mse",
        proxy: str = "noise",
        soft_round_alpha: float = 5.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if proxy not in PROXIES:
            raise ValueError(f"proxy must be one of {PROXIES}, got {proxy!r}")
        if not lmbda > 0:
            raise ValueError(f"lmbda must be positive, got {lmbda}")
        self.lmbda = float(lmbda)
        self.metric = metric
        self.proxy = proxy
        self.soft_round_alpha = tf.Variable(
            float(soft_round_alpha), trainable=False, name="soft_round_alpha"
        )
        self.registry_name = type(self).__name__
        self.build_kwargs: dict[str, Any] = {}
        self._coding_fns: dict[str, Any] = {}
        self._on_tile = None  # set while tracing a coder with a progress bar (`tiles`)
        self._output_size = None  # the image size, while tracing a decoder (`synthesize` crops)
        # Set while tracing a coding graph: the image arrives unpadded (`analyze` pads it
        # tile by tile) and the side transforms run in tiles (`tiled`).
        self._tiled = False

    # Identity -------------------------------------------------------------------------

    def set_registry_info(self, name: str, kwargs: dict[str, Any]) -> None:
        """Called by `zoo.create_model`: how to rebuild this model."""
        self.registry_name = name
        self.build_kwargs = dict(kwargs)

    @property
    def builder_config(self) -> dict[str, Any]:
        """Registry name and builder arguments; `create_model(**config)` rebuilds it."""
        return {"name": self.registry_name, "kwargs": dict(self.build_kwargs)}

    # Training ---------------------------------------------------------------------------

    @abc.abstractmethod
    def forward(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """Maps images [B, H, W, 3] on 0..255 to (reconstructions, bits per image [B])."""

    def rd_losses(
        self, x: tf.Tensor, training: bool = True, lmbda: tf.Tensor | None = None
    ) -> dict[str, tf.Tensor]:
        """Per-image rate-distortion terms; a trainer averages them over the global batch.

        Returns a dict of [B] tensors `loss`, `bpp`, `mse`, `distortion`, and `x_hat`.
        """
        x = tf.cast(x, tf.float32)
        x_hat, bits = self.forward_any_size(x, training=training)
        x_hat = tf.cast(x_hat, tf.float32)  # mixed precision: the loss is computed in float32
        shape = tf.shape(x)
        bpp = bits / tf.cast(shape[1] * shape[2], tf.float32)
        err = metrics.mse(x, x_hat)
        distortion = self.distortion(x, x_hat, err)
        weight = self.rate_weight(training)
        rate_term = bpp if weight is None else weight * bpp
        lmbda = self.lmbda if lmbda is None else lmbda
        loss = rate_term + lmbda * distortion
        return {"loss": loss, "bpp": bpp, "mse": err, "distortion": distortion, "x_hat": x_hat}

    def distortion(self, x: tf.Tensor, x_hat: tf.Tensor, err: tf.Tensor) -> tf.Tensor:
        """The distortion term [B] of the loss, given the MSE `err`: the MSE, or
        1 − MS-SSIM for `metric="ms-ssim"`."""
        if self.metric == "mse":
            return err
        return 1.0 - metrics.ms_ssim(x, tf.clip_by_value(x_hat, 0.0, 255.0))

    def rate_weight(self, training: bool) -> tf.Tensor | None:
        """A factor on the rate term of the loss (None: 1), e.g. a KL warm-up."""
        return None

    def call(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        return self.rd_losses(x, training=training)

    def forward_any_size(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """`forward` on images of any size, as the coder sees them: padded to `stride`,
        the reconstruction cropped back to [B, H, W, 3] (bits count the padded grid)."""
        shape = tf.shape(x)
        x_hat, bits = self.forward(pad_to_stride(x, self.stride), training=training)
        return x_hat[:, : shape[1], : shape[2], :], bits

    def coded_shape(self, shape: tf.Tensor) -> tf.Tensor:
        """The [2] size the transforms run at for an image of size `shape` (format v3)."""
        return ceil_div(shape, self.stride) * self.stride

    def bottleneck(self, y, entropy_fn, training: bool, loc=None):
        """Applies the configured quantization proxy around an entropy model.

        Args:
          y: latents.
          entropy_fn: callable(y) -> (perturbed y, bits), the entropy model.
          training: whether to use the proxy (else the entropy model quantizes).
          loc: the value quantization is centred on (the predicted mean), if any.

        Returns:
          (latents for the synthesis transform, bits per image).
        """
        if not training:
            return entropy_fn(y)
        centre = 0.0 if loc is None else loc
        if self.proxy == "soft_round":
            alpha = self.soft_round_alpha
            y_soft = tfc_adapter.soft_round(y - centre, alpha) + centre
            y_tilde, bits = entropy_fn(y_soft)
            return tfc_adapter.soft_round_conditional_mean(y_tilde - centre, alpha) + centre, bits
        y_tilde, bits = entropy_fn(y)
        if self.proxy == "ste":
            return tfc_adapter.round_st(y - centre) + centre, bits
        return y_tilde, bits

    # Coding -----------------------------------------------------------------------------

    @property
    def rate_parameter(self) -> str | None:
        """The name a container records for the rate ("lmbda", "beta") or None."""
        return None if self.rate_spec is None else self.rate_spec.name

    def check_rate(self, rate: float | None) -> float | None:
        """The rate coding runs at: the checked `rate` (the default when None) of a
        variable-rate model; None for a fixed-rate model, which refuses a rate."""
        return rates.check(self.rate_spec, rate, self.registry_name)

    def entropy_layers(self) -> list[tf.keras.layers.Layer]:
        """The entropy models owning range coding tables."""
        found = self._flatten(predicate=lambda m: hasattr(m, "build_coder"))
        unique = {id(m): m for m in found}
        return list(unique.values())

    def build_coders(self, compute: bool = True) -> None:
        """Builds the range coding tables of every entropy model (once, after training).

        Args:
          compute: if False, creates empty tables that loading weights fills in.
        """
        if not self.built:
            self(tf.zeros([1, 64, 64, 3]), training=False)
        for layer in self.entropy_layers():
            layer.build_coder(compute=compute)

    @property
    def coders_ready(self) -> bool:
        return self.built and all(layer.coder_ready for layer in self.entropy_layers())

    @abc.abstractmethod
    def _encode(self, x: tf.Tensor, rate: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor]:
        """Codes one image [1, H, W, 3] (uint8, or 0..255 floats) to (`num_payloads`
        strings, bits)."""

    @abc.abstractmethod
    def _decode(self, strings: list[tf.Tensor], shape: tf.Tensor, rate: tf.Tensor,
                dtype: tf.DType = tf.float32) -> tf.Tensor:
        """Reconstructs [1, H', W', 3] (H' ≥ H, W' ≥ W) from payloads and the image shape:
        uint8 pixels (`synthesize`) or floats on 0..255. `dtype`: of every network after
        entropy decoding, float32 or float64 (the portable decoder)."""

    def _compress_graph(self, image: tf.Tensor, rate: tf.Tensor):
        # uint8 until `analyze` casts each tile: a float32 copy of a 100 MP photo is 1.2 GB.
        strings, bits = self._encode(image[None], rate)  # `analyze` pads tile by tile
        return tf.stack(strings), bits

    def set_tiling(self, tile: int, halo: int | None = None) -> None:
        """Sets the coding tile size (latent positions) and halo; retraces the coders."""
        if int(tile) < 1 or (halo is not None and int(halo) < 0):
            raise ValueError(f"tile must be ≥ 1 and halo ≥ 0, got {tile} and {halo}")
        self.tile = int(tile)
        self.halo = self.halo if halo is None else int(halo)
        self._coding_fns.clear()

    def to_unit(self, x: tf.Tensor) -> tf.Tensor:
        """Pixels (uint8 or 0..255 floats) as the analysis sees them: x/255 − offset."""
        x = tf.cast(x, tf.float32) / 255.0
        return x - self.pixel_offset if self.pixel_offset else x

    def from_unit(self, x_hat: tf.Tensor) -> tf.Tensor:
        """The synthesis' output on 0..255 (floats): (x̂ + offset)·255."""
        return (x_hat + self.pixel_offset if self.pixel_offset else x_hat) * 255.0

    def analyze(self, x: tf.Tensor) -> tf.Tensor:
        """`analysis` of images [1, H, W, 3] (uint8 or 0..255 floats) `to_unit`, tile by
        tile (`zoo.tiling`). In the coding graphs, at the `coded_shape`: each tile reads
        the padding of `pad_to_stride` ("replicate") itself, so no padded copy of the
        photo is made."""
        def transform(tile):
            return self.analysis(self.to_unit(tile))

        grid = self.coded_shape(tf.shape(x)[1:3]) // self.latent_factor if self._tiled else None
        return tiling.apply(transform, x, self.latent_factor, 1, self.tile, self.halo,
                            on_tile=self._on_tile, grid=grid)

    def synthesize(self, y_hat: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
        """uint8 pixels [1, H', W', 3] of `synthesis`(ŷ) `from_unit`, tile by tile; in
        float64 for `dtype` float64 (the portable decoder)."""
        def transform(tile):
            return to_pixels(self.from_unit(run_in(dtype, self.synthesis, tile)))

        return tiling.apply(transform, y_hat, 1, self.latent_factor, self.tile, self.halo,
                            dtype=tf.uint8, on_tile=self._on_tile, size=self._output_size)

    def tiled(self, fn, x: tf.Tensor, in_unit: int, out_unit: int, size=None,
              dtype: tf.DType | None = None) -> tf.Tensor:
        """fn(x) cropped to `size` (latent positions), for the side transforms between the
        latent grids (hyper analysis and synthesis: factor 4). In the coding graphs this runs
        tile by tile (`zoo.tiling`; the same tile, in latent positions, as `analyze`), so
        their activations at the latents' resolution, a dozen latent-sized tensors, are
        bounded by a tile's; in training and in `zoo.effort` (gradients), the plain call."""
        if not self._tiled:
            out = fn(x)
            return out if size is None else out[:, : size[0], : size[1], :]
        dtype = tf.float32 if dtype is None else dtype
        tile = max(1, self.tile // max(in_unit, out_unit))
        return tiling.apply(lambda t: tf.cast(fn(t), dtype), x, in_unit, out_unit, tile,
                            self.halo, dtype=dtype, size=size)

    def tiles(self, shape) -> int:
        """Tiles one transform of an image of size `shape` (H, W) runs in (`zoo.tiling`)."""
        padded = [-(-int(v) // self.stride) * self.stride for v in shape]
        return tiling.count(padded, self.latent_factor, self.tile)

    def _decompress_graph(self, strings: tf.Tensor, shape: tf.Tensor, rate: tf.Tensor,
                          dtype: tf.DType = tf.float32):
        """Format v3: the encoder padded the image to `stride`; decode at that size."""
        return self._decode_cropped(strings, self.coded_shape(shape), shape, rate, dtype)

    def _decompress_graph_legacy(self, strings, shape, rate, dtype: tf.DType = tf.float32):
        """Format v1/v2: the encoder ran the analysis on the unpadded image."""
        return self._decode_cropped(strings, shape, shape, rate, dtype)

    def _decode_cropped(self, strings, coded_shape, shape, rate, dtype):
        self._output_size = shape  # `synthesize` crops tile by tile: no whole-image copy
        try:
            x_hat = self._decode(tf.unstack(strings, num=self.num_payloads), coded_shape, rate,
                                 dtype)
        finally:
            self._output_size = None
        return to_pixels(x_hat[0, : shape[0], : shape[1], :])

    def _coding_graph(self, which: str):
        graph = {
            "compress": self._compress_graph,
            # without the bit estimate, whose terms grappler then prunes
            "compress_strings": lambda image, rate: self._compress_graph(image, rate)[0],
            "decompress": self._decompress_graph,
            "decompress_float64": lambda *args: self._decompress_graph(*args, tf.float64),
            "decompress_legacy": self._decompress_graph_legacy,
            "decompress_legacy_float64": lambda *args: self._decompress_graph_legacy(
                *args, tf.float64),
        }[which]

        def traced(*args):  # the side transforms run in tiles in coding graphs only
            self._tiled = True
            try:
                return graph(*args)
            finally:
                self._tiled = False

        return traced

    def _coding_spec(self, which: str) -> list[tf.TensorSpec]:
        scalar = tf.TensorSpec([], tf.float32, name="rate")
        if which in ("compress", "compress_strings"):
            return [tf.TensorSpec([None, None, 3], tf.uint8, name="image"), scalar]
        if which not in DECOMPRESS_FUNCTIONS:
            raise ValueError(which)
        return [tf.TensorSpec([self.num_payloads], tf.string, name="strings"),
                tf.TensorSpec([2], tf.int32, name="shape"), scalar]

    def coding_function(self, which: str):
        """The tf.function with a fixed input signature for `compress` or `decompress`."""
        if not self.graph_coded:
            raise UnsupportedError(
                f"{self.registry_name} codes eagerly (NumPy coders); it has no graph-mode "
                "coder and cannot be exported as a SavedModel")
        if which not in self._coding_fns:
            spec = self._coding_spec(which)
            self._coding_fns[which] = tf.function(self._coding_graph(which), input_signature=spec)
        return self._coding_fns[which]

    def _run_coder(self, which: str, args, on_tile=None):
        """Runs a coding function; with `on_tile`, a one-off trace that calls it per tile.
        An eager model (`graph_coded` False) runs the same Python function untraced."""
        if not self.graph_coded:
            self._on_tile = on_tile
            try:
                return self._coding_graph(which)(*args)
            except (IndexError, OverflowError) as exc:  # NumPy coders on damaged data
                raise ValueError(str(exc)) from None
            finally:
                self._on_tile = None
        if on_tile is None:
            return self.coding_function(which)(*args)
        fn = tf.function(self._coding_graph(which), input_signature=self._coding_spec(which))
        self._on_tile = on_tile
        try:
            return fn(*args)
        finally:
            self._on_tile = None

    def compress(
        self, image: tf.Tensor, rate: float | None = None, on_tile=None, estimate: bool = True,
    ) -> tuple[tf.Tensor, tf.Tensor | None]:
        """uint8 [H, W, 3] -> (payload strings [num_payloads], estimated bits).

        `rate`: of a variable-rate model (`rate_spec`; its default when None).
        `on_tile`: called after each analysis tile (a progress bar; `tiles` counts them).
        `estimate=False` skips the bit estimate (None), whose terms take as much memory
        as the latents several times over.
        """
        args = (image, self.rate_tensor(rate))
        if not estimate:
            return self._run_coder("compress_strings", args, on_tile), None
        return self._run_coder("compress", args, on_tile)

    def decompress(
        self, strings: tf.Tensor, shape: tf.Tensor, rate: float | None = None,
        portable: bool = False, padded: bool = True, on_tile=None,
    ) -> tf.Tensor:
        """Payload strings and the image's [H, W] -> uint8 [H, W, 3].

        `portable`: every network after entropy decoding runs in float64, so the pixels do
        not depend on the math library (oneDNN or Eigen) or the thread count; slower.
        `padded`: the encoder padded the image to `stride` (format v3); False decodes the
        payloads of format v1/v2 files, whose encoder did not.
        `on_tile`: called after each synthesis tile.
        """
        which = ("decompress" if padded else "decompress_legacy") + (
            "_float64" if portable else "")
        return self._run_coder(which, (strings, shape, self.rate_tensor(rate)), on_tile)

    def coding_context(self, rate: tf.Tensor):
        """A context the transforms run in at `rate` outside the coding graphs (`zoo.effort`):
        none here; a λ-parameterized model's transforms read λ from it."""
        return contextlib.nullcontext()

    def rate_tensor(self, rate: float | None) -> tf.Tensor:
        """The coding graphs' scalar rate input: the checked rate (`check_rate`), or 0 for
        a fixed-rate model, whose graphs ignore it (a SavedModel signature has no None)."""
        rate = self.check_rate(rate)
        return tf.constant(0.0 if rate is None else rate, tf.float32)


__all__ = [
    "DECOMPRESS_FUNCTIONS", "PAD_MODE", "PAD_MODES", "CompressionModel", "TrainingDefaults",
    "ceil_div", "pad_to_stride", "quality_index", "to_pixels",
]

def run_in(dtype: tf.DType, layer: tf.keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """`layer(x)`, in float64 for `dtype` float64 (`layers.run_float64`)."""
    return layers.run_float64(layer, x) if dtype == tf.float64 else layer(x)


DECOMPRESS_FUNCTIONS = (
    "decompress", "decompress_float64", "decompress_legacy", "decompress_legacy_float64",
)
