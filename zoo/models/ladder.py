"""Probabilistic ladder networks coded without quantization: Flamich, "Compression
without quantization", MPhil thesis, University of Cambridge, 2019 (§3.2–3.5), after
Sønderby et al., "Ladder variational autoencoders", NeurIPS 2016.

    x ─analysis (GDN)─> (μx, σx) ───────────────┐ bottom-up, level 1
                          │ μx                   ▼
                          └─hyper_analysis─> q2 = N(μ2, σ2)      prior p2 = N(0, I)
                                               │ z2 ~ q2 (coded: importance sampler)
                             hyper_synthesis <─┘
                                  ▼
          p1 = N(μp, σp) ──precision-weighted with (μx, σx)──> q1 = N(μ1, σ1)
                                               │ z1 ~ q1 (coded: greedy sampler)
    x̂ = μ of a Laplace likelihood <─synthesis (IGDN)─┘

Training maximizes the β-ELBO E_q[log p(x|z)] − β·KL[q‖p] (eq. 3.4). In the zoo's
convention loss = bpp + λ·distortion with bpp = KL in bits per pixel and distortion =
the Laplace negative log-likelihood of x/255 in bits per pixel, so λ = 1/β
(`likelihood="mse"` uses the zoo's MSE instead). The KL warm-up of §3.3 multiplies the
rate term by min(t/W, 1) (t counted by the model itself); the γ-PLN of §3.3.1 learns
the Laplace scale γ, floored at `gamma_target`. `levels=1` is the plain VAE.

Coding sends latent *samples* with shared randomness (`zoo.coded_sampling`): payloads
[level 1, level 2]. The samplers are numpy, so `compress`/`decompress` run eagerly
in Python; SavedModel export of this family is unsupported.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from zoo import coded_sampling, layers, tfc_adapter
from zoo.models.base import CompressionModel, TrainingDefaults, run_in
from zoo.registry import register_model

TRAINING = TrainingDefaults(
    patchsize=256, batchsize=8, learning_rate=3e-5, num_steps=200_000, decay_at=0.9,
    source="Flamich 2019 §4.1: Adam 3e-5, 20 epochs ≈ 200k steps (rate trade-off β = 1/λ)",
)
LIKELIHOODS = ("laplace", "mse")
_LOG_SCALE_RANGE = (-10.0, 6.0)


def _gaussian_kl_bits(mq, sq, mp, sp) -> tf.Tensor:
    """Σ KL[N(mq, sq) ‖ N(mp, sp)] per image, in bits."""
    kl = tf.math.log(sp / sq) + 0.5 * (tf.square(sq) + tf.square(mq - mp)) / tf.square(sp) - 0.5
    return tf.reduce_sum(kl, axis=(1, 2, 3)) / math.log(2.0)


def combine(mx, sx, mp, sp) -> tuple[tf.Tensor, tf.Tensor]:
    """Precision-weighted combination of bottom-up N(mx, sx) and top-down N(mp, sp).

    The product of two Gaussian densities (the rule the thesis's footnote says it used):
    precision 1/σx² + 1/σp², mean the precision-weighted average of the two means.
    """
    px, pp = tf.math.reciprocal(tf.square(sx)), tf.math.reciprocal(tf.square(sp))
    var = tf.math.reciprocal(px + pp)
    return var * (px * mx + pp * mp), tf.sqrt(var)


def _split_stats(h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    mean, log_scale = tf.split(h, 2, axis=-1)
    return mean, tf.exp(tf.clip_by_value(log_scale, *_LOG_SCALE_RANGE))


class LadderNetwork(CompressionModel):
    """Two-level PLN (or one-level VAE) with Gaussian latents and coded sampling.

    The base class's contract with an eager coder (`graph_coded` False): `Codec` drives
    `_encode`/`_decode` as for every family, untraced, and export is declined."""

    graph_coded = False

    #: Coded sampling draws and codes every latent eagerly, with float64 statistics of the
    #: whole latent grid in NumPy (`zoo.coded_sampling`), so these models keep the limit
    #: of one piece, 16.7 MP; their transforms run in tiles like every family's.
    max_pixels = 4096 * 4096

    def __init__(
        self,
        num_filters: int = 196,
        num_latents: int = 128,
        num_hyper_filters: int = 128,
        num_hyper_latents: int = 24,
        levels: int = 2,
        likelihood: str = "laplace",
        gamma_target: float | None = None,
        warmup_steps: int = 0,
        coding: str = "is-gs",
        coding_seed: int = 0,
        **kw,
    ):
        super().__init__(**kw)
        if levels not in (1, 2):
            raise ValueError(f"levels must be 1 or 2, got {levels}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        coded_sampling.scheme_samplers(coding)  # validates the name
        self.levels = int(levels)
        self.num_payloads = self.levels
        self.likelihood = likelihood
        self.gamma_target = gamma_target
        self.warmup_steps = int(warmup_steps)
        self.coding = coding
        self.coding_seed = int(coding_seed)
        self.num_latents = int(num_latents)
        self.num_hyper_latents = int(num_hyper_latents)
        self.analysis = layers.analysis_transform(num_filters, 2 * num_latents, "gdn")
        self.synthesis = layers.synthesis_transform(num_filters, "gdn")
        if self.levels == 2:
            self.hyper_analysis = layers.hyper_analysis_transform(
                num_hyper_filters, 2 * num_hyper_latents, "leaky_relu"
            )
            self.hyper_synthesis = layers.hyper_synthesis_transform(
                num_hyper_filters, 2 * num_latents, "leaky_relu"
            )
        # γ-PLN: log of the learned Laplace scale (the plain PLN has unit scale).
        self.log_gamma = (
            tf.Variable(0.0, name="log_gamma") if gamma_target is not None else None
        )
        # Counts training calls for the β warm-up; one writer per step under tf.distribute.
        self.warmup_step = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="warmup_step",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        # §3.5.1 table of the rejection indices (2^8 indices + the 16-bit escape).
        self.index_pmf = tf.Variable(
            coded_sampling.default_index_pmf(), trainable=False, name="index_pmf"
        )

    # The β of the thesis ----------------------------------------------------------------

    @property
    def beta(self) -> float:
        """The thesis's KL coefficient: β = 1/λ."""
        return 1.0 / self.lmbda

    def kl_weight(self, step: tf.Tensor | None = None) -> tf.Tensor:
        """Warm-up factor min(t/W, 1) of the rate term (Sønderby et al. 2016; §3.3)."""
        if self.warmup_steps <= 0:
            return tf.constant(1.0)
        step = self.warmup_step if step is None else step
        return tf.minimum(tf.cast(step, tf.float32) / float(self.warmup_steps), 1.0)

    def gamma(self) -> tf.Tensor:
        """Scale of the Laplace likelihood: max(γ, γ∞) for the γ-PLN, else 1."""
        if self.log_gamma is None:
            return tf.constant(1.0)
        return tfc_adapter.lower_bound(tf.exp(self.log_gamma), float(self.gamma_target))

    # Networks ---------------------------------------------------------------------------

    def _bottom_up(self, x, coding=False):
        return _split_stats(self.analyze(x) if coding else self.analysis(self.to_unit(x)))

    def _posterior2(self, mx):
        return _split_stats(self.hyper_analysis(mx))

    def _prior1(self, z2, shape1, dtype=tf.float32):
        h = run_in(dtype, self.hyper_synthesis, z2)
        return _split_stats(h[:, : shape1[0], : shape1[1], :])

    def forward(self, x, training):
        mx, sx = self._bottom_up(x)
        if mx.dtype != tf.float32:  # mixed precision: statistics, samples and KL in float32
            if self.levels == 2:
                layers.compute_in_float32(self.hyper_analysis, self.hyper_synthesis)
            mx, sx = tf.cast(mx, tf.float32), tf.cast(sx, tf.float32)
        shape1 = tf.shape(mx)[1:3]
        bits = 0.0
        if self.levels == 2:
            m2, s2 = self._posterior2(mx)
            z2 = m2 + s2 * tf.random.normal(tf.shape(m2)) if training else m2
            bits = _gaussian_kl_bits(m2, s2, 0.0, 1.0)
            mp, sp = self._prior1(z2, shape1)
            m1, s1 = combine(mx, sx, mp, sp)
        else:
            m1, s1, mp, sp = mx, sx, tf.zeros_like(mx), tf.ones_like(sx)
        z1 = m1 + s1 * tf.random.normal(tf.shape(m1)) if training else m1
        bits += _gaussian_kl_bits(m1, s1, mp, sp)
        return self.from_unit(self.synthesis(z1)), bits

    def distortion(self, x, x_hat, err):
        """Laplace NLL (bits/pixel) of x given x̂, or the MSE."""
        if self.likelihood != "laplace":
            return err
        gamma = self.gamma()
        nll = tf.abs(x - x_hat) / 255.0 / gamma + tf.math.log(2.0 * gamma)
        pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
        return tf.reduce_sum(nll, axis=(1, 2, 3)) / pixels / math.log(2.0)

    def rate_weight(self, training):
        """The warm-up factor on the rate: loss = w(t)·bpp + λ·distortion (w = 1 after W
        steps); each training call advances t."""
        if not (training and self.warmup_steps > 0):
            return None
        weight = self.kl_weight()
        self.warmup_step.assign_add(1)
        return weight

    # Coding: numpy samplers, eager Python -------------------------------------------

    @property
    def stride(self) -> int:
        return 64 if self.levels == 2 else 16

    def samplers(self) -> dict[int, object]:
        return coded_sampling.scheme_samplers(self.coding, self.index_pmf.numpy())

    def _encode(self, x, rate):
        """Eager: (payloads [level 1, level 2], coded bits of the samplers' codes)."""
        strings, bits, _ = self.encode_latents(x)
        return strings, bits

    def encode_latents(self, x):
        """Codes [1, H, W, 3]; returns (payload tensors, coded bits, KL bits per level)."""
        samplers, seed = self.samplers(), self.coding_seed
        mx, sx = self._bottom_up(x, coding=True)
        payloads, bits, kls = [], 0.0, {}
        if self.levels == 2:
            m2, s2 = (v.numpy() for v in self._posterior2(mx))
            zeros, ones = np.zeros_like(m2, np.float64), np.ones_like(s2, np.float64)
            code2, z2 = samplers[2].encode(m2, s2, zeros, ones, seed, level=2)
            kls[2] = float(coded_sampling.kl_bits(m2, s2, zeros, ones).sum())
            mp, sp = self._prior1(tf.constant(z2, tf.float32), tf.shape(mx)[1:3])
            m1, s1 = combine(mx, sx, mp, sp)
            mp, sp = mp.numpy(), sp.numpy()
        else:
            m1, s1 = mx, sx
            mp, sp = np.zeros(mx.shape, np.float64), np.ones(sx.shape, np.float64)
        m1, s1 = m1.numpy(), s1.numpy()
        code1, _ = samplers[1].encode(m1, s1, mp, sp, seed, level=1)
        kls[1] = float(coded_sampling.kl_bits(m1, s1, mp, sp).sum())
        payloads.append(samplers[1].pack(code1))
        bits += samplers[1].code_bits(code1)
        if self.levels == 2:
            payloads.append(samplers[2].pack(code2))
            bits += samplers[2].code_bits(code2)
        return [tf.constant(p) for p in payloads], tf.constant(bits, tf.float32), kls

    def _decode(self, strings, shape, rate, dtype=tf.float32):
        samplers, seed = self.samplers(), self.coding_seed
        h1, w1 = (-(-int(v) // 16) for v in shape)
        channels = self.num_latents
        data = [bytes(s.numpy()) if isinstance(s, tf.Tensor) else bytes(s) for s in strings]
        if self.levels == 2:
            shape2 = (1, -(-h1 // 4), -(-w1 // 4), self.num_hyper_latents)
            zeros, ones = np.zeros(shape2), np.ones(shape2)
            code2 = samplers[2].unpack(data[1], zeros.size)
            z2 = samplers[2].decode(code2, zeros, ones, seed, level=2)
            mp, sp = (v.numpy() for v in self._prior1(tf.constant(z2, dtype), (h1, w1), dtype))
        else:
            mp, sp = np.zeros((1, h1, w1, channels)), np.ones((1, h1, w1, channels))
        code1 = samplers[1].unpack(data[0], mp.size)
        z1 = samplers[1].decode(code1, mp, sp, seed, level=1)
        return self.synthesize(tf.constant(z1, tf.float32), dtype)

    # §3.5.1: the rejection-index table, estimated on training images -------------------

    def fit_index_table(self, images, alpha: float = 0.01) -> np.ndarray:
        """Estimates the smoothed empirical index distribution from images [N, H, W, 3]
        by running the rejection sampler on both levels; stores and returns it."""
        sampler = coded_sampling.RejectionSampler()
        counts = np.zeros(sampler.escape + 1)
        for image in images:
            for q_m, q_s, p_m, p_s in self._level_stats(tf.cast(image, tf.float32)[None]):
                code, _ = sampler.encode(q_m, q_s, p_m, p_s, self.coding_seed)
                counts += np.bincount(code.indices, minlength=sampler.escape + 1)
        pmf = coded_sampling.smoothed_index_pmf(counts, alpha)
        self.index_pmf.assign(pmf)
        return pmf

    def _level_stats(self, x):
        """(q mean, q std, p mean, p std) per level with the posterior mean as z2."""
        mx, sx = self._bottom_up(x)
        if self.levels == 1:
            return [(mx.numpy(), sx.numpy(), np.zeros(mx.shape), np.ones(sx.shape))]
        m2, s2 = self._posterior2(mx)
        mp, sp = self._prior1(m2, tf.shape(mx)[1:3])
        m1, s1 = combine(mx, sx, mp, sp)
        return [
            (m2.numpy(), s2.numpy(), np.zeros(m2.shape), np.ones(s2.shape)),
            (m1.numpy(), s1.numpy(), mp.numpy(), sp.numpy()),
        ]


def _trade_off(lmbda: float | None, beta: float | None, default_beta: float) -> float:
    if lmbda is not None and beta is not None:
        raise ValueError("give either lmbda or beta (= 1/λ), not both")
    if lmbda is not None:
        return lmbda
    return 1.0 / (default_beta if beta is None else beta)


@register_model("ladder", training=TRAINING, description="PLN, coded sampling (β = 1/λ)")
def ladder(lmbda: float | None = None, beta: float | None = None, **kw) -> LadderNetwork:
    """Flamich 2019: two-level probabilistic ladder network, IS-GS coded sampling."""
    kw.setdefault("warmup_steps", 10_000)
    return LadderNetwork(lmbda=_trade_off(lmbda, beta, 0.1), levels=2, **kw)


@register_model("gamma_ladder", family="ladder", training=TRAINING,
                description="γ-PLN: learned Laplace scale floored at gamma_target (β = 1/λ)")
def gamma_ladder(lmbda: float | None = None, beta: float | None = None, **kw) -> LadderNetwork:
    """Flamich 2019 §3.3.1: PLN whose Laplace likelihood scale is learned."""
    kw.setdefault("gamma_target", 0.01)
    return ladder(lmbda=_trade_off(lmbda, beta, 1.0), **kw)


@register_model("vae", family="ladder", training=TRAINING,
                description="one-level Gaussian VAE, coded sampling (β = 1/λ)")
def vae(lmbda: float | None = None, beta: float | None = None, **kw) -> LadderNetwork:
    """Flamich 2019 §3.2.1: Gaussian VAE with a unit Gaussian prior."""
    kw.setdefault("warmup_steps", 10_000)
    kw.setdefault("coding", "greedy")
    return LadderNetwork(lmbda=_trade_off(lmbda, beta, 0.1), levels=1, **kw)


@register_model("ladder_tiny", family="ladder", tiny=True, training=TRAINING)
def ladder_tiny(lmbda: float | None = None, beta: float | None = None, **kw) -> LadderNetwork:
    """Tiny PLN for tests (no warm-up)."""
    for key, value in (("num_filters", 8), ("num_latents", 8), ("num_hyper_filters", 8),
                       ("num_hyper_latents", 4), ("warmup_steps", 0)):
        kw.setdefault(key, value)
    return ladder(lmbda=lmbda, beta=beta, **kw)


@register_model("vae_tiny", family="ladder", tiny=True, training=TRAINING)
def vae_tiny(lmbda: float | None = None, beta: float | None = None, **kw) -> LadderNetwork:
    """Tiny VAE for tests (no warm-up, rejection-sampled)."""
    for key, value in (("num_filters", 8), ("num_latents", 8), ("warmup_steps", 0),
                       ("coding", "rejection")):
        kw.setdefault(key, value)
    return vae(lmbda=lmbda, beta=beta, **kw)
