"""`HierarchyCodec`: the latent levels of a deep hierarchical model (seed 002, HCAE),
coded top-down, each level under a prior computed from the levels above it.

    bottom-up:  f₁ ─down₂─> f₂ ─ … ─down_L─> f_L                         (features)
    top-down:   y_L = posterior_L(f_L) ─Q─> ŷ_L  (factorized prior)       h = top(ŷ_L)
                for l = L−1 … 1:  h = up_l(h);  (μ_l, σ_l) = prior_l(h)
                                  y_l = posterior_l([f_l, h]) ─Q around μ_l─> ŷ_l
                                  h = h + merge_l(h, ŷ_l)
    ŷ = h, the input of the family's synthesis

One top-down pass (`levels`) serves every mode: training perturbs each level through
the model's proxy, encoding range codes it, decoding reads it from its payload, so the
decoder's priors come from the same code in the same order as the encoder's. Coding
runs the top-down networks in float64 (both sides compute the same table indexes);
the returned ŷ is float64 only in a float64 (portable) step.

Payloads: `y1` … `yL` (a string per level, level 1 first), then `guard`, the index
guard of levels 1 … L−1 (`zoo.index_guard`, positions level after level).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

from zoo import index_guard, layers
from zoo.errors import UnsupportedError
from zoo.latent_codecs.core import DECODE, ENCODE, RELAX, TRAIN, LatentCodec, Latents, Step


def _ceil_div(value, factor: int):
    return (value + factor - 1) // factor


class HierarchyCodec(LatentCodec):
    """L latent levels: Gaussian conditionals (one scale table) below a factorized top.

    Args:
      level_strides: downsampling (1 or 2) into each of levels 2 … L.
      latent_channels: channels of the latents of levels 1 … L.
      hyper_analysis, hyper_synthesis, posteriors, priors, merges, top: the networks of
        the two passes, indexed by the lower level (the family builds them; their
        variables keep their names and order).
      side_entropy_model: the top level's factorized density.
      conditional: the Gaussian conditional of levels 1 … L−1.
    """

    index_guarded = True
    #: Quantized levels have no relaxed pass in `zoo.effort` (yet).
    relaxable = False

    def __init__(self, level_strides: Sequence[int], latent_channels: Sequence[int],
                 hyper_analysis, hyper_synthesis, posteriors, priors, merges, top,
                 side_entropy_model, conditional, **kwargs):
        super().__init__(**kwargs)
        self.level_strides = tuple(int(s) for s in level_strides)
        self.latent_channels = tuple(int(c) for c in latent_channels)
        self.num_levels = len(self.latent_channels)
        self.layout = tuple(f"y{level}" for level in range(1, self.num_levels + 1)) + ("guard",)
        self.factor = math.prod(self.level_strides)
        self.hyper_analysis = list(hyper_analysis)
        self.hyper_synthesis = list(hyper_synthesis)
        self.posteriors = list(posteriors)
        self.priors = list(priors)
        self.merges = list(merges)
        self.top = top
        self.side_entropy_model = side_entropy_model
        self.conditional = conditional

    def level_shapes(self, grid: tf.Tensor) -> list[tf.Tensor]:
        """Spatial sizes [2] of levels 1 … L from the level-1 grid (nested ceilings)."""
        shapes = [grid]
        for stride in self.level_strides:
            shapes.append(_ceil_div(shapes[-1], stride))
        return shapes

    def code(self, step: Step, y, shape, side=None) -> Latents:
        y_hat, _, bits, guard_bits = self.levels(step, y, shape)
        if bits is None:
            return Latents(y_hat, None)
        total = tf.add_n(bits)
        return Latents(y_hat, total if guard_bits is None else total + guard_bits)

    def levels(self, step: Step, features_1, grid):
        """The top-down pass on level-1 features (None when decoding) and grid [2].

        Returns (ŷ for the synthesis, ŷ of levels 1 … L, bits [B] of levels 1 … L (None
        when decoding), bits of the index guard (when encoding with one, else None))."""
        if step.mode == RELAX:
            raise UnsupportedError("hierarchical latents have no relaxed pass")
        coder = _LevelCoder(step, self)
        shapes = self.level_shapes(grid)
        features = None if features_1 is None else [features_1]
        for block in self.hyper_analysis if features is not None else ():
            features.append(block(features[-1]))
        coding = step.mode != TRAIN
        run = _run_float64 if coding else _run
        top = self.num_levels - 1
        y = None if features is None else self.posteriors[top](features[top])
        y_hat, bits = coder.top(y, shapes[top])
        collected, latents = [bits], [y_hat]
        h = run(self.top, y_hat)
        for level in reversed(range(top)):
            size = shapes[level]
            h = run(self.hyper_synthesis[level], h)[:, : size[0], : size[1], :]
            loc, index = tf.split(run(self.priors[level], h), 2, axis=-1)
            y = None
            if features is not None:
                y = self.posteriors[level](tf.concat([features[level], tf.cast(h, tf.float32)], -1))
            if coding:  # the coder takes float32 means; both sides round them alike
                loc = tf.cast(loc, tf.float32)
            y_hat, bits = coder.level(level, y, loc, index, shapes)
            collected.insert(0, bits)
            latents.insert(0, y_hat)
            h = run(self.merges[level], h, y_hat)
        guard_bits = coder.finish()
        out = h if step.dtype == tf.float64 else tf.cast(h, tf.float32)
        return out, latents, None if step.mode == DECODE else collected, guard_bits


def _run(layer, *args):
    return layer(*args)


def _run_float64(layer, *args):
    if hasattr(layer, "call_float64") and len(args) == 2:  # a merge block: (h, ŷ)
        return layer.call_float64(tf.cast(args[0], tf.float64), args[1])
    return layers.run_float64(layer, args[0])


class _LevelCoder:
    """The leaves of `HierarchyCodec`: where each level is perturbed, written or read."""

    def __init__(self, step: Step, codec: HierarchyCodec):
        self.step, self.codec = step, codec
        self.continuous: dict[int, tf.Tensor] = {}
        payloads = step.payloads
        # `decode_levels` may decode without the guard (the encoder's plain indexes).
        self.guard = None
        if step.mode == DECODE and "guard" in payloads.layout:
            self.guard = index_guard.decode(payloads.get("guard"))

    def top(self, y, size):
        step, side = self.step, self.codec.side_entropy_model
        name = self.codec.layout[self.codec.num_levels - 1]
        if step.mode == TRAIN:
            return step.proxy(y, lambda v: side(v, step.training), step.training)
        if step.mode == ENCODE:
            y_hat = side.quantize(y)
            self.step.payloads.put(name, side.compress(y)[0])
            return y_hat, side.coded_bits(y_hat)
        return side.decompress(step.payloads.get(name)[None], size), None

    def level(self, level: int, y, loc, index, shapes):
        step, cond, name = self.step, self.codec.conditional, self.codec.layout[level]
        if step.mode == TRAIN:
            return step.proxy(y, lambda v: cond(v, index, loc, training=step.training),
                              step.training, loc)
        if step.mode == ENCODE:
            indexes = cond.coding_indexes(index)
            self.continuous[level] = tf.reshape(index, [-1])
            y_hat = tf.round(y - loc) + loc
            step.payloads.put(name, cond.compress(y, indexes, loc)[0])
            return y_hat, cond.coded_bits(y_hat, indexes, loc)
        if self.guard is None:
            indexes = cond.coding_indexes(index)
        else:
            sizes = [tf.reduce_prod(s) * c for s, c in zip(shapes, self.codec.latent_channels)]
            indexes = cond.guarded_indexes(index, self.guard, sum(sizes[:level], tf.constant(0)))
        return cond.decompress(step.payloads.get(name)[None], indexes, loc), None

    def finish(self):
        """The encoder writes the guard (if its layout has one); returns its bits."""
        step = self.step
        if step.mode != ENCODE or "guard" not in step.payloads.layout:
            return None
        continuous = tf.concat([self.continuous[k] for k in sorted(self.continuous)], 0)
        guard = self.codec.conditional.guard_payload(continuous)
        step.payloads.put("guard", guard)
        return index_guard.bits(guard)
