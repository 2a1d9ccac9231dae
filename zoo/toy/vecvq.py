"""Variational entropy-constrained vector quantization (VECVQ).

Implements section II-A (eq. 2-5) of
J. Ballé, P. A. Chou, D. Minnen, S. Singh, N. Johnston, E. Agustsson, S. J. Hwang,
G. Toderici: "Nonlinear Transform Coding", IEEE J. Sel. Top. Signal Process. 2021,
https://arxiv.org/abs/2007.03034.

    x ──> ℓ(k, x) = −log2 P(k) + λ‖x − c_k‖²  for every k ──argmin──> k ──> c_k
          P(k) = softmax(a)_k                                   (eq. 2, 3)

The encoder is the exhaustive minimization (eq. 4), so the loss E_x min_k ℓ(k, x)
(eq. 5) is differentiable almost everywhere in the codebook c and the logits a, and
plain SGD fits P to the marginal of k while moving each c_k to its cell's centroid.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from zoo.registry import register_model
from zoo.toy.sources import get_source


class VECVQ(tf.keras.Model):
    """A codebook of K vectors in R^N with a softmax entropy model over the indices.

    Args:
      dims: N, the dimension of a source vector.
      codebook_size: K.
      lmbda: trade-off; the loss is rate (bits) + λ · squared error, per sample vector.
    """

    def __init__(self, dims: int = 1, codebook_size: int = 64, lmbda: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not lmbda > 0:
            raise ValueError(f"lmbda must be positive, got {lmbda}")
        self.dims = int(dims)
        self.codebook_size = int(codebook_size)
        self.lmbda = float(lmbda)
        self.codebook = tf.Variable(
            tf.random.stateless_normal([self.codebook_size, self.dims], seed=[0, 0]),
            name="codebook",
        )
        self.logits = tf.Variable(tf.zeros([self.codebook_size]), name="logits")
        self.registry_name, self.build_kwargs = "toy_vecvq", {}

    def set_registry_info(self, name: str, kwargs: dict) -> None:
        self.registry_name, self.build_kwargs = name, dict(kwargs)

    def initialize(self, samples: tf.Tensor) -> None:
        """Spreads the codebook over the box spanned by source samples.

        A lattice reaches into the tails, which codevectors placed on samples rarely do
        and SGD never fixes (unused codevectors get no pull); the codevectors a given λ
        does not need lose their probability and fall out of use during training.
        Codevectors the lattice leaves over go on samples.
        """
        samples = np.asarray(samples, np.float32)
        per_dim = int(round(self.codebook_size ** (1.0 / self.dims) + 1e-6))
        while per_dim**self.dims > self.codebook_size:
            per_dim -= 1
        axes = [np.linspace(lo, hi, per_dim) for lo, hi in zip(samples.min(0), samples.max(0))]
        lattice = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.dims)
        extra = samples[: self.codebook_size - len(lattice)]
        self.codebook.assign(np.concatenate([lattice, extra]).astype(np.float32))
        self.logits.assign(tf.zeros_like(self.logits))

    def code_lengths(self) -> tf.Tensor:
        """−log2 P(k) for every index, [K]."""
        return -tf.nn.log_softmax(self.logits) / math.log(2.0)

    def lagrangian_table(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """ℓ(k, x) of eq. 3 for a batch [B, N]: (loss [B, K], bits [K], sq. error [B, K])."""
        bits = self.code_lengths()
        sq_err = tf.reduce_sum((x[:, None, :] - self.codebook[None]) ** 2, axis=-1)
        return bits[None, :] + self.lmbda * sq_err, bits, sq_err

    def encode(self, x: tf.Tensor) -> tf.Tensor:
        """e(x) = argmin_k ℓ(k, x) (eq. 4), [B] int32."""
        table, _, _ = self.lagrangian_table(x)
        return tf.argmin(table, axis=-1, output_type=tf.int32)

    def decode(self, indices: tf.Tensor) -> tf.Tensor:
        return tf.gather(self.codebook, indices)

    def rd_terms(self, x: tf.Tensor, rng: tf.random.Generator | None = None) -> dict:
        """Per-sample rate (bits under P), squared error and Lagrangian of the actual code."""
        del rng  # the code is deterministic
        table, bits, sq_err = self.lagrangian_table(x)
        k = tf.argmin(table, axis=-1, output_type=tf.int32)
        rate = tf.gather(bits, k)
        distortion = tf.gather(sq_err, k, batch_dims=1)
        return {"rate": rate, "distortion": distortion, "loss": rate + self.lmbda * distortion}

    def train_loss(self, x: tf.Tensor, rng: tf.random.Generator, progress: tf.Tensor) -> dict:
        """Eq. 5: the batch mean of min_k ℓ(k, x); its gradient is eq. 7."""
        del progress  # no schedule
        terms = self.rd_terms(x, rng)
        return {name: tf.reduce_mean(value) for name, value in terms.items()}

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.decode(self.encode(x))


@register_model(
    "toy_vecvq",
    family="toy",
    description="VECVQ on a toy source (Ballé et al. 2021, NTC §II-A)",
)
def toy_vecvq(source: str = "laplace", lmbda: float = 1.0, codebook_size: int | None = None):
    """VECVQ for `source` ("laplace" or "banana").

    K defaults to 64 (1-D) or 128 (2-D). The seed's notebook uses 128 and 256; at the
    λ of the lab (≤ 16 for Laplace, ≤ 3 for the banana) at most ~30 stay in use.
    """
    dims = get_source(source).dims
    if codebook_size is None:
        codebook_size = 64 if dims == 1 else 128
    return VECVQ(dims=dims, codebook_size=codebook_size, lmbda=lmbda, name="vecvq")
