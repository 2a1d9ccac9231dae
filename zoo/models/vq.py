"""Vector quantization with optimized entropy (seed 000): "Learned transform compression
with optimized entropy encoding" (anonymous, ICLR 2021 workshop submission; see
/work/shared/seeds/000_*.txt). Transforms after Mentzer et al., "Conditional Probability
Models for Deep Image Compression", CVPR 2018 (without the importance map).

    x ─analysis─> z [h, w, C] ─split into C/m vectors of size m─> z⁽ⁱ⁾
        (k4 s2 convs, residual blocks)            │
                                nearest of k embeddings E (forward, hard: ẑ, code c)
                                softmax(−σ‖z⁽ⁱ⁾ − e⁽ʲ⁾‖) (backward, soft: z̃, p̂)
                                                  │  sg(ẑ − z̃) + z̃
    x̂ <─synthesis (residual blocks, k4 s2 deconvs)─┘
    codes c ── range coded with one learned categorical q_c = softmax(logits) over k

m = 1 is scalar quantization (SQ). Payload: [codes string].

Rate terms in the zoo's convention (loss = bits per pixel + λ·distortion). Per image,
in bits, with n = number of codes:
    H = −Σᵢ log₂ q_c(cᵢ)                    hard cross-entropy: trains q_c only (the hard
                                           codes carry no gradient); the real file size
    S = −Σᵢ Σⱼ p̂ᵢⱼ log₂ sg(q_c(j))           soft cross-entropy: trains encoder and E only
`forward` returns α·S + β·H bits in training and H at evaluation, so `rd_losses`
gives loss = (α·S + β·H)/pixels + λ·MSE. The paper's eq. 10 is
L = d + α′·s + β′·h with s, h per code in nats (eq. 11–12): s = S·ln2/n, h = H·ln2/n.
Multiplying it by c = n/(pixels·ln2·β′) gives ours with α = α′/β′, β = 1 and
λ·MSE = c·d; for d = MSE of images on [0, 1], λ = n/(pixels·ln2·β′·255²)
(`paper_lambda`). β only sets how fast q_c learns relative to the rest (paper §4).
"""

from __future__ import annotations

import math

import tensorflow as tf

from zoo import layers
from zoo.latent_codecs.vq import VectorQuantizer, VQCodec
from zoo.models.base import TrainingDefaults
from zoo.models.latent import LatentCodecModel
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=32, batchsize=64, learning_rate=1e-3, num_steps=12_000, decay_at=0.9,
    source="seed 000 §4: CIFAR-10 32×32, Adam (PyTorch defaults), 15 epochs (~12k steps at 64)",
)

_LN2 = math.log(2.0)


def paper_lambda(codes_per_pixel: float, beta_paper: float = 1.0) -> float:
    """λ that makes the zoo loss proportional to the paper's eq. 10 (see module docstring).

    Args:
      codes_per_pixel: n / pixels, e.g. 1/4 for one code per position at 2× downsampling.
      beta_paper: the paper's β′ (1 in all its experiments).
    """
    return codes_per_pixel / (_LN2 * beta_paper * 255.0**2)


class ResidualStack(tf.keras.layers.Layer):
    """Residual blocks (conv3-ReLU-conv3 + identity), plus a skip around every 3 blocks."""

    def __init__(self, filters: int, num_blocks: int, group: int = 3, name: str = "residual", **kw):
        super().__init__(name=name, **kw)
        self.group = int(group)
        self.convs = [
            layers.conv(filters, 3, name=f"block_{i // 2}_conv_{i % 2}") for i in range(2 * num_blocks)
        ]

    def call(self, x: tf.Tensor, conv=None) -> tf.Tensor:
        conv = conv or (lambda layer, v: layer(v))
        group_input = x
        for i in range(len(self.convs) // 2):
            x = x + conv(self.convs[2 * i + 1], tf.nn.relu(conv(self.convs[2 * i], x)))
            if (i + 1) % self.group == 0:
                # The outer skip of Mentzer et al.: every `group` blocks see their group's input.
                x = x + group_input
                group_input = x
        return x

    def call_float64(self, x: tf.Tensor) -> tf.Tensor:
        return self.call(tf.cast(x, tf.float64), layers.run_float64)


def analysis_transform(num_filters: int, latent_channels: int, steps: int, blocks: int):
    """`steps` stride-2 kernel-4 convolutions, residual blocks, 3×3 projection to z."""
    stack = []
    for i in range(steps):
        stack += [layers.conv(num_filters, 4, 2, name=f"down_{i}"), tf.keras.layers.ReLU()]
    stack += [ResidualStack(num_filters, blocks), layers.conv(latent_channels, 3, name="to_latent")]
    return tf.keras.Sequential(stack, name="analysis")


def synthesis_transform(num_filters: int, steps: int, blocks: int):
    """Mirror of `analysis_transform`; stride-2 kernel-4 transposed convolutions."""
    stack = [layers.conv(num_filters, 3, name="from_latent"), ResidualStack(num_filters, blocks)]
    for i in range(steps - 1):
        stack += [layers.deconv(num_filters, 4, 2, name=f"up_{i}"), tf.keras.layers.ReLU()]
    stack.append(layers.deconv(3, 4, 2, name=f"up_{steps - 1}"))
    return tf.keras.Sequential(stack, name="synthesis")


class VQCompressionModel(LatentCodecModel):
    """Mentzer-style transforms with a learned codebook and a learned code distribution
    (the coding path: `zoo.latent_codecs.vq.VQCodec`)."""

    #: Images enter the transforms as x/255 − ½ (Mentzer et al.).
    pixel_offset = 0.5

    def __init__(
        self,
        num_filters: int = 64,
        num_res_blocks: int = 10,
        downsample_steps: int = 1,
        latent_channels: int | None = None,
        vector_size: int = 8,
        num_codes: int = 32,
        sigma: float = 1.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        **kw,
    ):
        super().__init__(**kw)
        latent_channels = int(latent_channels or vector_size)
        if downsample_steps < 1:
            raise ValueError(f"downsample_steps must be ≥ 1, got {downsample_steps}")
        if latent_channels % vector_size:
            raise ValueError(
                f"latent_channels ({latent_channels}) must be a multiple of vector_size "
                f"({vector_size})"
            )
        if num_codes < 2:
            raise ValueError(f"num_codes must be ≥ 2, got {num_codes}")
        if alpha < 0 or beta < 0:
            raise ValueError("alpha and beta must be non-negative")
        self.factor = 2 ** int(downsample_steps)
        # Tiles of 768² pixels, as the other families'; the residual blocks widen the receptive field at the
        # latent resolution by a position each (tests/test_tiling.py checks the halo).
        self.latent_factor = self.factor
        self.tile = max(768 // self.factor, 1)
        self.halo = 2 * int(num_res_blocks) + 4
        self.latent_channels = latent_channels
        self.analysis = analysis_transform(num_filters, latent_channels, downsample_steps,
                                           num_res_blocks)
        self.synthesis = synthesis_transform(num_filters, downsample_steps, num_res_blocks)
        self.latent_codec = VQCodec(VectorQuantizer(num_codes, vector_size, sigma),
                                    latent_channels // vector_size, alpha, beta,
                                    name="latent_codec")

    @property
    def stride(self) -> int:
        return self.factor

    @property
    def quantizer(self) -> VectorQuantizer:
        return self.latent_codec.quantizer

    @property
    def alpha(self) -> float:
        """Weight of the soft cross-entropy S in the training rate."""
        return self.latent_codec.alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self.latent_codec.alpha = float(value)

    @property
    def beta(self) -> float:
        """Weight of the hard cross-entropy H in the training rate."""
        return self.latent_codec.beta

    @beta.setter
    def beta(self, value: float) -> None:
        self.latent_codec.beta = float(value)

    @property
    def codes_per_position(self) -> int:
        return self.latent_codec.groups

    def codes_per_pixel(self) -> float:
        """Codes per image pixel (n / pixels), for `paper_lambda`."""
        return self.codes_per_position / self.factor**2

    def rate_terms(self, x: tf.Tensor, training: bool = True) -> dict[str, tf.Tensor]:
        """The pieces of the rate: `hard_bits`, `soft_bits` [B], `codes`, `x_hat`."""
        z = self.analysis(self.to_unit(x))
        z_q, codes, hard, soft = self.quantizer(z, training=training)
        return {"hard_bits": hard, "soft_bits": soft, "codes": codes, "x_hat": self.from_unit(self.synthesis(z_q))}


@register_model("vq", training=TRAINING)
def vq(lmbda: float = 0.0130, metric: str = "mse", **kw) -> VQCompressionModel:
    """Seed 000: VQ (m=8, k=32, 2× downsampling) with a learned q_c; m=1 gives SQ."""
    return VQCompressionModel(lmbda=lmbda, metric=metric, **kw)


@register_model("vq_tiny", family="vq", tiny=True, training=TRAINING)
def vq_tiny(lmbda: float = 0.0130, **kw) -> VQCompressionModel:
    """Tiny VQ model for tests (4× downsampling, two codes of m=2 per position)."""
    kw.setdefault("num_filters", 8)
    kw.setdefault("num_res_blocks", 2)
    kw.setdefault("downsample_steps", 2)
    kw.setdefault("latent_channels", 4)
    kw.setdefault("vector_size", 2)
    kw.setdefault("num_codes", 8)
    return vq(lmbda=lmbda, **kw)
