"""Encoder effort: refine each image's latents before coding them; the decoder is unchanged.

Yang, Bamler, Mandt, "Improving Inference for Neural Image Compression", NeurIPS 2020,
https://arxiv.org/abs/2006.04240, §3.1–3.2: the analysis transform is an amortized
inference network and leaves a gap; closing it per image by gradient descent on that
image's own rate-distortion loss, with rounding relaxed by stochastic Gumbel annealing
(SGA), saves bits at equal quality with the same weights and the same decoder.

    effort "fast"     the one-shot analysis, as `Codec.compress` always did (the default)
    effort "refine"   LEVELS["refine"] Adam steps
    effort "max"      LEVELS["max"] Adam steps
    effort N          N steps (0 is "fast")

Method. The image is padded to `model.stride` (`pad_to_stride`, as the one-shot encoder
does); y = g_a(x) and, for the side-path families, z = h_a(y) are the starting point.
Adam minimizes bits(ỹ, z̃)/(H·W) + λ·D(x, g_s(ỹ)) over y and z, with the model's own λ
(a variable-rate model's: the rate it codes at) and D the model's metric (MSE on 0..255
or 1 − MS-SSIM) over the unpadded pixels of the clipped reconstruction. ỹ and z̃ are SGA
samples around the coding grid: each value becomes a Gumbel-softmax mixture of its floor
and ceiling (relative to the grid's offset or the predicted mean), the probability of each
side falling with its distance as exp(−atanh(distance)/τ), with the temperature τ held
at `tau_start` and then annealed exponentially to `tau_end`, so the relaxation ends close
to hard rounding. Bits are the entropy models' densities (convolved with unit noise, as in
training) at ỹ, z̃ with continuous scale indexes. Per family the relaxed forward pass is
the model's own: factorized and scale/mean-scale hyperprior directly; `joint` evaluates its
context model on the relaxed latents (one fixed-point pass: means from the context of a
first relaxed sample, then the sample around those means); `channelwise` runs its slice
recursion with the relaxed slices in place of the quantized ones.

The relaxed pass is the latent codec's RELAX mode (`zoo.latent_codecs`), and the refined
y, z then go through its ENCODE mode (`encode_latents`), the code the one-shot encoder
runs after its analysis: the same quantization, scale indexes, index guard and
range coder, so a refined file is a standard file of the same model and weights that every
decoder reads. The refined file is kept only if its real cost (file bits per pixel + λ·D of
its decoded image) is below the one-shot file's. Bits-back coding (§3.3) is not used: it
would change the format.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from zoo import metrics
from zoo.errors import ImageError, UnsupportedError
from zoo.latent_codecs import RELAX, TRAIN
from zoo.models.base import pad_to_stride
from zoo.models.latent import LatentCodecModel

#: Named effort levels: Adam steps of refinement (0: the one-shot encoder).
LEVELS = {"fast": 0, "refine": 30, "max": 150}
MAX_STEPS = 100_000
#: The families whose latents can be refined (with their tiny, paper and `_vr` variants).
SUPPORTED_FAMILIES = ("factorized", "hyperprior", "mean_scale", "joint", "channelwise",
                      "factorized_vr", "hyperprior_vr")


@dataclass(frozen=True)
class Schedule:
    """Optimizer and annealing settings (chosen by measurement: see the README)."""

    learning_rate: float = 0.05
    tau_start: float = 0.5
    tau_end: float = 0.05
    #: Fraction of the steps at `tau_start` before the exponential decay.
    hold: float = 0.3
    seed: int = 0

    def tau(self, step: int, steps: int) -> float:
        start = self.hold * steps
        if step < start or steps <= 1:
            return self.tau_start
        fraction = (step - start) / max(steps - 1 - start, 1)
        return self.tau_start * (self.tau_end / self.tau_start) ** fraction


DEFAULT = Schedule()


def parse_effort(effort: str | int) -> int:
    """Steps of refinement for an effort level ("fast", "refine", "max") or a step count."""
    steps = None
    if isinstance(effort, str):
        key = effort.strip().lower()
        steps = LEVELS.get(key, int(key) if key.isdigit() else None)
    elif isinstance(effort, (int, np.integer)) and not isinstance(effort, bool):
        steps = int(effort)
    if steps is None or not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"effort must be one of {', '.join(LEVELS)} or a number of steps "
                         f"0 … {MAX_STEPS}, got {effort!r}")
    return steps


def supports(model) -> bool:
    """Families made of transforms and a latent codec (`zoo.latent_codecs`) relax it."""
    return isinstance(model, LatentCodecModel) and model.latent_codec.relaxable


#: Largest image (pixels) refined in one piece: refinement back-propagates through the
#: transforms of the whole image. Larger images are refined in bands of rows (`_bands`).
MAX_PIXELS = 4096 * 4096


def check_supported(model) -> None:
    if not supports(model):
        raise UnsupportedError(
            f"{model.registry_name} cannot refine its latents (effort other than 'fast'); "
            f"the families that can: {', '.join(SUPPORTED_FAMILIES)}")


def compress(model, image: np.ndarray, rate: float | None, steps: int,
             progress: bool = False, schedule: Schedule = DEFAULT) -> list[bytes]:
    """Payloads for uint8 `image` after `steps` of refinement (the one-shot encoder's if
    refinement does not lower the real rate-distortion cost)."""
    check_supported(model)
    _bands(model, image.shape[:2])  # refuses sizes no band fits
    return _refiner(model).compress(image, rate, steps, progress, schedule)


def _bands(model, shape) -> list[tuple[int, int, int, int]]:
    """Bands of rows (own start, own end, read start, read end), in pixels, that refine an
    image of `shape` in pieces of at most MAX_PIXELS: one band if it fits. Each band reads
    `2·stride` rows beyond its own on either side (the synthesis' receptive field is 4
    latent rows, 64 pixels) and keeps only its own rows' latents; bands start on multiples
    of `stride`, so that they run the coder's own grid, and only the last one is padded."""
    height, width = (int(v) for v in shape)
    stride = model.stride
    if height * width <= MAX_PIXELS:
        return [(0, height, 0, height)]
    halo = 2 * stride
    rows = (MAX_PIXELS // width - 2 * halo) // stride * stride
    if rows < stride:
        raise ImageError(
            f"effort other than 'fast' refines bands of at most {MAX_PIXELS} pixels, and "
            f"a {height}×{width} image is too wide for one: use effort='fast'")
    bands = []
    for start in range(0, height, rows):
        end = min(start + rows, height)
        bands.append((start, end, max(start - halo, 0), min(end + halo, height)))
    return bands


_REFINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _refiner(model) -> _Refiner:
    if model not in _REFINERS:
        _REFINERS[model] = _Refiner(model)
    return _REFINERS[model]


def _sga(v: tf.Tensor, tau: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Stochastic Gumbel annealing (§3.2): v relaxed towards ⌊v⌋ or ⌊v⌋ + 1."""
    floor = tf.stop_gradient(tf.floor(v))
    frac = v - floor
    bound = 1.0 - 1e-5
    logits = tf.stack([-tf.atanh(tf.clip_by_value(frac, -bound, bound)),
                       -tf.atanh(tf.clip_by_value(1.0 - frac, -bound, bound))], -1) / tau
    u = tf.random.stateless_uniform(tf.shape(logits), seed, 1e-12, 1.0)
    weights = tf.nn.softmax((logits - tf.math.log(-tf.math.log(u))) / tau)
    return floor + weights[..., 1]


class _Refiner:
    """The tf.functions of one model: analysis, a refinement step and coding from latents."""

    def __init__(self, model):
        self.model = model
        self.analyse = tf.function(self._analyse)
        self.encode = tf.function(self._encode)
        # MS-SSIM needs static image sizes: trace per size. MSE traces once.
        image = tf.TensorSpec([1, None, None, 3], tf.float32)
        scalar = tf.TensorSpec([], tf.float32)
        self._step_signature = [image, None, None, None, scalar, scalar, scalar, scalar,
                                scalar, tf.TensorSpec([2], tf.int32)]
        self.step = None

    def _context(self, rate):
        """A variable-rate model's transforms read λ from a context (`zoo.variable_rate`)."""
        return self.model.coding_context(rate)

    def _analyse(self, x, rate):
        model = self.model
        with self._context(rate):
            y = model.analysis(model.to_unit(pad_to_stride(x, model.stride)))
            return [y, *self._side_latents(y)]

    def _side_latents(self, y):
        return self.model.latent_codec.side_latents(self.model.step(TRAIN), y)

    def _encode(self, latents, rate):
        with self._context(rate):
            y, *side = latents
            strings, bits = self.model.encode_latents(y, side or None, rate)
        return tf.stack(strings), bits

    def _forward(self, latents, tau, seed):
        """(reconstruction on 0..255, bits) of SGA-relaxed latents: the latent codec's
        RELAX pass (each latent relaxed around its coding grid or predicted mean)."""
        model = self.model

        def relaxed(v, centre, k):
            return centre + _sga(v - centre, tau, tf.stack([seed[0] * 64 + k, seed[1]]))

        y, *side = latents
        y_tilde, bits = model.latent_codec.code(
            model.step(RELAX, relax=relaxed), y, tf.shape(y)[1:3], side or None)
        return model.from_unit(model.synthesis(y_tilde)), bits

    def _loss(self, x, latents, tau, lmbda, seed):
        x_hat, bits = self._forward(latents, tau, seed)
        height = x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]
        width = x.shape[2] if x.shape[2] is not None else tf.shape(x)[2]
        x_hat = tf.clip_by_value(x_hat[:, :height, :width, :], 0.0, 255.0)
        if self.model.metric == "mse":
            distortion = metrics.mse(x, x_hat)
        else:
            distortion = 1.0 - metrics.ms_ssim(x, x_hat)
        return bits[0] / tf.cast(height * width, tf.float32) + lmbda * distortion[0]

    def _step(self, x, latents, m, v, t, tau, lr, lmbda, rate, seed):
        """One Adam step (β = 0.9, 0.999) on the relaxed loss; returns the new state."""
        with self._context(rate), tf.GradientTape() as tape:
            tape.watch(latents)
            loss = self._loss(x, latents, tau, lmbda, seed)
        grads = tape.gradient(loss, latents)
        m = [0.9 * a + 0.1 * g for a, g in zip(m, grads)]
        v = [0.999 * a + 0.001 * tf.square(g) for a, g in zip(v, grads)]
        step = lr * tf.sqrt(1.0 - 0.999**t) / (1.0 - 0.9**t)
        latents = [w - step * a / (tf.sqrt(b) + 1e-8) for w, a, b in zip(latents, m, v)]
        return latents, m, v, loss

    def _step_fn(self, latents):
        if self.step is None:
            specs = [tf.TensorSpec([1, None, None, w.shape[-1]], tf.float32) for w in latents]
            signature = list(self._step_signature)
            signature[1:4] = [specs] * 3
            self.step = tf.function(
                self._step, input_signature=signature if self.model.metric == "mse" else None)
        return self.step

    def refine(self, image, rate, steps, progress, schedule):
        """The refined latents of uint8 `image` [H, W, 3]; band by band (`_bands`) if it is
        larger than MAX_PIXELS: each band's own rows of y, then z = h_a(y) of the whole."""
        bands = _bands(self.model, image.shape[:2])
        if len(bands) == 1:
            return self._refine_piece(image, rate, steps, progress, schedule)
        factor, pieces = self.model.latent_factor, []
        for own_start, own_end, start, end in bands:
            y = self._refine_piece(image[start:end], rate, steps, progress, schedule)[0]
            # The last band was padded to `stride`; its latents run to the padded end.
            stop = None if own_end == image.shape[0] else (own_end - start) // factor
            pieces.append(y[:, (own_start - start) // factor : stop])
        y = tf.concat(pieces, axis=1)
        with self._context(self.model.rate_tensor(rate)):
            return [y, *self._side_latents(y)]

    def _refine_piece(self, image, rate, steps, progress, schedule):
        from tqdm.auto import tqdm

        model = self.model
        lmbda = rate if model.rate_parameter == "lmbda" and rate else model.lmbda
        x = tf.constant(image[None], tf.float32)
        code_rate = self.model.rate_tensor(rate)
        latents = self.analyse(x, code_rate)
        m = [tf.zeros_like(w) for w in latents]
        v = [tf.zeros_like(w) for w in latents]
        step_fn = self._step_fn(latents)
        bar = tqdm(range(steps), desc="refining latents", unit="step", disable=not progress,
                   leave=False)
        for i in bar:
            latents, m, v, loss = step_fn(
                x, latents, m, v, tf.constant(i + 1.0), tf.constant(schedule.tau(i, steps)),
                tf.constant(schedule.learning_rate), tf.constant(lmbda, tf.float32), code_rate,
                tf.constant([schedule.seed, i], tf.int32))
            if i % 10 == 0 or i == steps - 1:
                bar.set_postfix(loss=f"{float(loss):.4f}")
        return latents

    def cost(self, image, payloads, rate) -> float:
        """Real cost of payloads: bits per pixel + λ·D of the image a decoder gets."""
        model = self.model
        decoded = model.decompress(tf.constant(payloads, tf.string),
                                   tf.constant(image.shape[:2], tf.int32), rate).numpy()
        if model.metric == "mse":
            distortion = float(np.mean(np.square(image.astype(np.float64) - decoded)))
        else:
            distortion = 1.0 - metrics.ms_ssim_numpy(image, decoded)
        lmbda = rate if model.rate_parameter == "lmbda" and rate else model.lmbda
        pixels = image.shape[0] * image.shape[1]
        return 8.0 * sum(len(p) for p in payloads) / pixels + lmbda * distortion

    def compress(self, image, rate, steps, progress, schedule):
        strings, _ = self.model.compress(tf.constant(image), rate)
        fast = [bytes(s) for s in strings.numpy()]
        if steps == 0:
            return fast
        latents = self.refine(image, rate, steps, progress, schedule)
        strings, _ = self.encode(latents, self.model.rate_tensor(rate))
        refined = [bytes(s) for s in strings.numpy()]
        if self.cost(image, refined, rate) < self.cost(image, fast, rate):
            return refined
        return fast

