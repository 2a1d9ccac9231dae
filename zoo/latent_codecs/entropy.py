"""The leaves of every latent codec: where the range coder writes or reads.

`FactorizedCodec`: a learned density per channel (Ballé et al. 2017/2018), the whole
latent of a factorized prior or a hyperprior's side latents.

`ConditionalStream`: one payload of latents under a Gaussian (or Laplace) conditional
with predicted scale indexes and means, coded in pieces: a hyperprior codes all of y in
one piece, channel slices one piece per slice. The encoder gathers the pieces into one
string and one index guard (`zoo.index_guard`); the decoder decodes piece after piece
from the same string, so every piece's parameters may depend on the pieces before.
"""

from __future__ import annotations

import tensorflow as tf

from zoo import index_guard, tfc_adapter
from zoo.latent_codecs.core import DECODE, ENCODE, RELAX, TRAIN, LatentCodec, Latents, Step


def clip_index(index: tf.Tensor, num_scales: int) -> tf.Tensor:
    """Clips continuous scale indexes to the table, letting gradients push them back."""
    index = tfc_adapter.lower_bound(index, 0.0)
    return -tfc_adapter.lower_bound(-index, -(num_scales - 1.0))


def _flat(t: tf.Tensor) -> tf.Tensor:
    return tf.reshape(t, [tf.shape(t)[0], -1])


class FactorizedCodec(LatentCodec):
    """Latents coded per channel under a learned factorized density.

    Args:
      entropy_model: the `tfc_adapter.FactorizedEntropyModel` (its variables keep
        their names and order inside the codec).
      payload: the payload's name.
      proxy: train through the model's quantization proxy (the main latents); False
        keeps the density's own additive noise (a hyperprior's side latents).
      key: which stream of `zoo.effort`'s relaxation noise this is.
    """

    has_symbols = True

    def __init__(self, entropy_model, payload: str = "y", proxy: bool = True, key: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.entropy_model = entropy_model
        self.layout = (payload,)
        self.use_proxy = bool(proxy)
        self.key = int(key)

    @property
    def channels(self) -> int:
        return self.entropy_model.channels

    def code(self, step: Step, y, shape, side=None) -> Latents:
        model, (name,) = self.entropy_model, self.layout
        if step.mode == TRAIN:
            if self.use_proxy:
                return Latents(*step.proxy(y, lambda v: model(v, step.training), step.training))
            return Latents(*model(y, step.training))
        if step.mode == RELAX:
            y_tilde = step.relax(y, model.tables_qoffset, self.key)
            return Latents(y_tilde, model.coded_bits(y_tilde))
        if step.mode == ENCODE:
            step.payloads.put(name, model.compress(y)[0])
            y_hat = model.quantize(y)
            return Latents(y_hat, model.coded_bits(y_hat))
        return Latents(model.decompress(step.payloads.get(name)[None], shape), None)

    # The integer-latent interface (the core-ops transform servable) -------------------

    def integers(self, y: tf.Tensor) -> tf.Tensor:
        """The integers the range coder codes for y (the grid is offset per channel)."""
        return tf.cast(tf.round(y - self.entropy_model.tables_qoffset), tf.int32)

    def from_integers(self, symbols: tf.Tensor) -> tf.Tensor:
        return tf.cast(symbols, tf.float32) + self.entropy_model.tables_qoffset

    def symbol_specs(self, num_latents: int) -> dict[str, tf.TensorSpec]:
        name = f"{self.layout[0]}_symbols"
        return {name: tf.TensorSpec([1, None, None, num_latents], tf.int32, name=name)}

    def symbol_layout(self, factor: int) -> list[dict]:
        """How a client codes the payload: its symbols, each channel under its own table,
        on a grid of 1/`factor` of the coded image."""
        name = self.layout[0]
        return [{"payload": name, "symbols": f"{name}_symbols", "tables": name,
                 "indexes": "channels", "factor": factor}]

    def to_symbols(self, step: Step, y: tf.Tensor) -> dict[str, tf.Tensor]:
        return {f"{self.layout[0]}_symbols": self.integers(y)}

    def from_symbols(self, step: Step, symbols: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.from_integers(symbols[f"{self.layout[0]}_symbols"])

    def coding_tables(self) -> dict[str, tf.Tensor]:
        name, model = self.layout[0], self.entropy_model
        return {f"{name}_cdf": model.tables_cdf, f"{name}_cdf_offset": model.tables_cdf_offset}


class ConditionalStream:
    """One payload (`payload`, plus its index guard `guard`) of latents under
    `conditional`, coded in pieces by `code` and closed by `finish`. Made per pass."""

    def __init__(self, step: Step, conditional, payload: str = "y", guard: str = "guard",
                 key: int = 2):
        self.step, self.conditional = step, conditional
        self.payload, self.guard = payload, guard
        self.key = key
        self._pieces: list[tuple[tf.Tensor, ...]] = []  # encoder: what `finish` codes
        self._handle = self._guard = None  # decoder: the range decoder and the guard
        self._start = 0  # decoder: flat position of the next piece

    def code(self, y, index: tf.Tensor, loc: tf.Tensor | None) -> Latents:
        """Codes one piece: latents y (None when decoding) with continuous scale
        indexes `index` and means `loc` (None: zero-mean) of the same shape."""
        step, cond = self.step, self.conditional
        if step.mode == TRAIN:
            y_hat, bits = step.proxy(
                y, lambda v: cond(v, index, loc, training=step.training), step.training, loc)
            return Latents(y_hat, bits)
        centre = 0.0 if loc is None else loc
        if step.mode == RELAX:
            y_tilde = step.relax(y, centre, self.key + len(self._pieces))
            self._pieces.append(())
            return Latents(y_tilde, cond.coded_bits(y_tilde, clip_index(index, cond.num_scales), loc))
        if step.mode == ENCODE:
            y_hat = tf.round(y - centre) + centre
            indexes = cond.coding_indexes(index)
            bits = cond.coded_bits(y_hat, indexes, loc)
            zero = tf.zeros_like(y)
            self._pieces.append((_flat(y), _flat(indexes), _flat(zero + centre), _flat(index)))
            return Latents(y_hat, bits)
        return Latents(self._decode_piece(index, loc), None)

    def _decode_piece(self, index, loc):
        cond, payloads = self.conditional, self.step.payloads
        if self._handle is None:
            self._handle = tfc_adapter.start_decoding(
                payloads.get(self.payload)[None], cond.tables_cdf)
            self._guard = index_guard.decode(payloads.get(self.guard))
        indexes = cond.guarded_indexes(_flat(index), self._guard, self._start)
        self._start += tf.size(index)
        self._handle, symbols = tfc_adapter.decode_indexed_step(
            self._handle, indexes, cond.tables_cdf_offset)
        dtype = tf.float32 if loc is None else loc.dtype
        values = tf.reshape(tf.cast(symbols, dtype), tf.shape(index))
        return values if loc is None else values + loc

    # Pieces inside a graph loop (a spatial context model's wavefront) ------------------

    def loop_state(self):
        """The state `loop_piece` carries through the loop: the decoder's range decoder
        and the flat position of its next piece (nothing for the encoder)."""
        if self.step.mode != DECODE:
            return ()
        payloads, cond = self.step.payloads, self.conditional
        self._guard = index_guard.decode(payloads.get(self.guard))
        return (tfc_adapter.start_decoding(payloads.get(self.payload)[None], cond.tables_cdf),
                tf.constant(0))

    def loop_piece(self, state, y, index, loc):
        """One loop step: (state, ŷ) of latents y (None when decoding) [B, n, M]."""
        if self.step.mode != DECODE:
            return state, tf.round(y - loc) + loc
        cond = self.conditional
        handle, start = state
        handle, symbols = tfc_adapter.decode_indexed_step(
            handle, cond.guarded_indexes(index, self._guard, start), cond.tables_cdf_offset)
        return (handle, start + tf.size(index)), tf.cast(symbols, loc.dtype) + loc

    def loop_end(self, state, y, index, loc) -> tf.Tensor | None:
        """After the loop, with every piece's y, index and loc in coding order [B, n, M]:
        the encoder codes them as one piece; bits are those of the coder's integer
        indexes (also in evaluation); the decoder keeps its state for `finish`."""
        if self.step.mode == DECODE:
            self._handle, self._start = state
            return None
        y, index, loc = y[:, None], index[:, None], loc[:, None]
        if self.step.mode == ENCODE:
            return self.code(y, index, loc).bits
        y_hat = tf.round(y - loc) + loc
        return self.conditional.coded_bits(y_hat, self.conditional.coding_indexes(index), loc)

    def finish(self, y_hat: tf.Tensor) -> Latents:
        """Closes the stream: the encoder writes the string and the guard (whose bits are
        returned); the decoder checks that the string and the guard were used up and
        makes `y_hat` depend on those checks."""
        step, cond = self.step, self.conditional
        if step.mode == ENCODE:
            values, indexes, locs, continuous = (tf.concat(c, 1) for c in zip(*self._pieces))
            step.payloads.put(self.payload, cond.compress(values, indexes, locs)[0])
            guard = cond.guard_payload(continuous)
            step.payloads.put(self.guard, guard)
            return Latents(y_hat, index_guard.bits(guard)[None])
        if step.mode == DECODE:
            checks = [tfc_adapter.finish_decoding(self._handle),
                      index_guard.check_all_used(self._guard, self._start)]
            with tf.control_dependencies(checks):
                return Latents(tf.identity(y_hat), None)
        return Latents(y_hat, None)
