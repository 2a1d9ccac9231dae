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
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from zoo import layers, metrics, tfc_adapter

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
    #: Name of the scalar that moves a variable-rate model along its curve, if any.
    rate_parameter: str | None = None

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
        self._float64 = False  # set while tracing the float64 (portable) decoder

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
        x_hat, bits = self.forward(x, training=training)
        shape = tf.shape(x)
        bpp = bits / tf.cast(shape[1] * shape[2], tf.float32)
        err = metrics.mse(x, x_hat)
        if self.metric == "mse":
            distortion = err
        else:
            distortion = 1.0 - metrics.ms_ssim(x, tf.clip_by_value(x_hat, 0.0, 255.0))
        lmbda = self.lmbda if lmbda is None else lmbda
        loss = bpp + lmbda * distortion
        return {"loss": loss, "bpp": bpp, "mse": err, "distortion": distortion, "x_hat": x_hat}

    def call(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        return self.rd_losses(x, training=training)

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

    def check_rate(self, rate: float) -> float:
        """Validates a rate parameter of a variable-rate model (none for fixed-rate ones)."""
        raise ValueError(f"{self.registry_name} is a fixed-rate model; it takes no rate")

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
        return all(layer.coder_ready for layer in self.entropy_layers())

    @abc.abstractmethod
    def _encode(self, x: tf.Tensor, rate: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor]:
        """Codes one image [1, H, W, 3] (0..255 floats) to (`num_payloads` strings, bits)."""

    @abc.abstractmethod
    def _decode(self, strings: list[tf.Tensor], shape: tf.Tensor, rate: tf.Tensor) -> tf.Tensor:
        """Reconstructs [1, H', W', 3] (H' ≥ H, W' ≥ W) from payloads and the image shape."""

    def _compress_graph(self, image: tf.Tensor, rate: tf.Tensor):
        x = tf.cast(image, tf.float32)[None]
        strings, bits = self._encode(x, rate)
        return tf.stack(strings), bits

    def run(self, layer: tf.keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
        """Applies `layer`; in the float64 decoder (`portable=True`), in float64.

        Decoding paths call every network between the decoded symbols and the pixels
        through this: the latent means, context and slice networks, the synthesis.
        """
        return layers.run_float64(layer, x) if self._float64 else layer(x)

    def _decompress_graph_float64(self, strings, shape, rate):
        self._float64 = True
        try:
            return self._decompress_graph(strings, shape, rate)
        finally:
            self._float64 = False

    def _decompress_graph(self, strings: tf.Tensor, shape: tf.Tensor, rate: tf.Tensor):
        x_hat = self._decode(tf.unstack(strings, num=self.num_payloads), shape, rate)
        x_hat = x_hat[0, : shape[0], : shape[1], :]
        return tf.cast(tf.round(tf.clip_by_value(x_hat, 0.0, 255.0)), tf.uint8)

    def coding_function(self, which: str):
        """The tf.function with a fixed input signature for `compress` or `decompress`."""
        if which not in self._coding_fns:
            scalar = tf.TensorSpec([], tf.float32, name="rate")
            if which == "compress":
                spec = [tf.TensorSpec([None, None, 3], tf.uint8, name="image"), scalar]
                fn = tf.function(self._compress_graph, input_signature=spec)
            elif which in ("decompress", "decompress_float64"):
                spec = [
                    tf.TensorSpec([self.num_payloads], tf.string, name="strings"),
                    tf.TensorSpec([2], tf.int32, name="shape"),
                    scalar,
                ]
                graph = (self._decompress_graph if which == "decompress"
                         else self._decompress_graph_float64)
                fn = tf.function(graph, input_signature=spec)
            else:
                raise ValueError(which)
            self._coding_fns[which] = fn
        return self._coding_fns[which]

    def compress(self, image: tf.Tensor, rate: float = 0.0) -> tuple[tf.Tensor, tf.Tensor]:
        """uint8 [H, W, 3] -> (payload strings [num_payloads], estimated bits)."""
        return self.coding_function("compress")(image, tf.constant(rate, tf.float32))

    def decompress(
        self, strings: tf.Tensor, shape: tf.Tensor, rate: float = 0.0, portable: bool = False
    ) -> tf.Tensor:
        """Payload strings and the image's [H, W] -> uint8 [H, W, 3].

        `portable`: every network after entropy decoding runs in float64, so the pixels do
        not depend on the math library (oneDNN or Eigen) or the thread count; slower.
        """
        which = "decompress_float64" if portable else "decompress"
        return self.coding_function(which)(strings, shape, tf.constant(rate, tf.float32))


def ceil_div(value: tf.Tensor, factor: int) -> tf.Tensor:
    """Latent size after `log2(factor)` stride-2 'same' convolutions."""
    return (value + factor - 1) // factor
