"""What every latent codec shares: its modes, the `Step` it runs under, the named
`Payloads` of one image, and the `LatentCodec` contract.

One method, `LatentCodec.code(step, y, shape, side=None)`, runs a codec in every mode:

  TRAIN   y → (ŷ or its training proxy, bits): the quantization proxy of the model
          (noise, straight-through or soft rounding) around the entropy models.
  ENCODE  y → (ŷ, bits estimate); range codes each payload into `step.payloads`.
  DECODE  None → (ŷ, None); reads each payload from `step.payloads`.
  RELAX   y → (ỹ, bits) under `step.relax` (`zoo.effort`'s annealed rounding).

A composite codec (a hyperprior, channel slices) is written once, in terms of its parts'
`code`; only the leaves (`zoo.latent_codecs.entropy`) branch on the mode, where the
range coder either writes or reads. So the decoder computes every parameter from the
same code, in the same order, as the encoder: their lockstep is the structure's.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple

import tensorflow as tf

from zoo import layers

TRAIN, ENCODE, DECODE, RELAX = "train", "encode", "decode", "relax"
MODES = (TRAIN, ENCODE, DECODE, RELAX)
DTYPES = (tf.float32, tf.float64)


class Latents(NamedTuple):
    """What a codec returns: the latents for the synthesis and their bits per image [B]
    (None when decoding)."""

    y_hat: tf.Tensor
    bits: tf.Tensor | None


def add_bits(*terms: tf.Tensor | None) -> tf.Tensor | None:
    """Sum of the bit terms that exist (a decoder has none)."""
    present = [t for t in terms if t is not None]
    return tf.add_n(present) if present else None


class Payloads:
    """The byte strings of one image, by name, in the order `layout` gives the file.

    An encoder `put`s each payload once; a decoder `get`s them from a file's strings.
    """

    def __init__(self, layout: Sequence[str], strings: Sequence[tf.Tensor] | None = None):
        self.layout = tuple(layout)
        self._strings: dict[str, tf.Tensor] = {}
        if strings is not None:
            if len(strings) != len(self.layout):
                raise ValueError(f"{len(strings)} strings for the payloads {self.layout}")
            self._strings = dict(zip(self.layout, strings))

    def put(self, name: str, string: tf.Tensor) -> None:
        if name not in self.layout or name in self._strings:
            raise ValueError(f"payload {name!r} is not in {self.layout} or was written twice")
        self._strings[name] = string

    def get(self, name: str) -> tf.Tensor:
        if name not in self._strings:
            raise ValueError(f"no payload {name!r} (layout {self.layout})")
        return self._strings[name]

    def ordered(self) -> list[tf.Tensor]:
        """The strings in file order; every payload must have been written."""
        missing = [n for n in self.layout if n not in self._strings]
        if missing:
            raise ValueError(f"payloads {missing} were never written")
        return [self._strings[n] for n in self.layout]


def _plain(fn, x, in_unit, out_unit, size=None, dtype=None):
    out = fn(x)
    return out if size is None else out[:, : size[0], : size[1], :]


@dataclasses.dataclass(frozen=True)
class Step:
    """How one pass through a latent codec runs.

    Attributes:
      mode: TRAIN, ENCODE, DECODE or RELAX.
      dtype: the compute dtype of every network between entropy decoding and the
        latents: float32, or float64 (the portable decoder; `layers.run_float64`).
      training: in TRAIN mode, whether the proxy is on (else hard quantization, as
        in evaluation).
      proxy: the model's quantization proxy, (y, entropy_fn, training, loc) → (ŷ, bits)
        (`CompressionModel.bottleneck`).
      tiled: runs a side transform, (fn, x, in_unit, out_unit, size, dtype) → fn(x)
        cropped to `size` (`CompressionModel.tiled`: tile by tile in coding graphs).
      payloads: the strings an encoder writes or a decoder reads.
      relax: RELAX mode, (v, centre, key) → ṽ (`zoo.effort`).
      proxy_kind, alpha: which proxy `proxy` is ("noise", "ste", "soft_round") and the
        soft-rounding sharpness, for a codec whose means depend on its own perturbed
        latents (a spatial context model cannot centre the proxy beforehand).
      rate: the value of the model's `RateSpec` being coded (learned steps' β), or None.
    """

    mode: str
    dtype: tf.DType = tf.float32
    training: bool = False
    proxy: Callable | None = None
    tiled: Callable = _plain
    payloads: Payloads | None = None
    relax: Callable | None = None
    proxy_kind: str = "noise"
    alpha: tf.Tensor | None = None
    rate: tf.Tensor | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        if self.mode in (ENCODE, DECODE) and self.payloads is None:
            raise ValueError(f"{self.mode} needs payloads")
        if self.mode == RELAX and self.relax is None:
            raise ValueError("relax mode needs a relaxation")

    def run(self, layer: tf.keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
        """`layer(x)`, in float64 when the step's dtype is float64."""
        return layers.run_float64(layer, x) if self.dtype == tf.float64 else layer(x)

    def side(self, fn, x: tf.Tensor, in_unit: int, out_unit: int, size=None) -> tf.Tensor:
        """A side transform between latent grids, through `tiled`, in the step's dtype."""
        return self.tiled(fn, x, in_unit, out_unit, size, self.dtype)


class LatentCodec(tf.keras.Model, abc.ABC):
    """Entropy models between an analysis and a synthesis transform.

    A Keras model, not a layer, for the order of its variables: a model lists them part
    by part (each part's trainable ones, then its coding tables), as the family did when
    the parts were its own attributes; so weights files keep their keys.

    A family is its transforms plus one latent codec. `layout` names the payloads in
    file order; `factor` is how much further the codec's own grids divide the latents
    (a hyperprior's side latents: 4), so the model pads images to 16·factor.
    """

    layout: tuple[str, ...] = ("y",)
    factor: int = 1
    #: Whether a payload is the index guard of a scale-indexed conditional.
    index_guarded: bool = False
    #: Whether the codec's integers are those its range coder codes, computable without
    #: the coder (`to_symbols`, `from_symbols`, `symbol_layout`: the core-ops transform
    #: servable); not so where a latent's parameters depend on decoded latents.
    has_symbols: bool = False
    #: Whether RELAX mode exists (`zoo.effort` refines the latents of such codecs).
    relaxable: bool = True

    def side_latents(self, step: Step, y: tf.Tensor) -> list[tf.Tensor]:
        """The codec's own latents computed from y (a hyperprior's z); `zoo.effort`
        refines them with y and passes them back as `side`."""
        return []

    @abc.abstractmethod
    def code(self, step: Step, y: tf.Tensor | None, shape: tf.Tensor,
             side: Sequence[tf.Tensor] | None = None) -> Latents:
        """Runs the codec in `step.mode` on latents y of grid size `shape` [2] (y is
        None when decoding)."""

    def call(self, *args, **kwargs):  # pragma: no cover - codecs are driven by `code`
        raise TypeError(f"{type(self).__name__} runs through code(step, y, shape)")
