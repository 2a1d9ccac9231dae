"""Latent codecs: the entropy models between a family's analysis and synthesis.

    image ─analysis─> y ─latent codec─> ŷ ─synthesis─> image'
                          │  code(step, y, shape): TRAIN / ENCODE / DECODE / RELAX
                          └─ payloads, in the codec's `layout`

The pieces (`core`, `entropy`, `hyperprior`, `context`, `steps`, `vq`, `hierarchy`):
  FactorizedCodec        a learned density per channel (factorized prior; side latents)
  ConditionalStream      a scale-indexed Gaussian/Laplace conditional, coded in pieces
  HyperpriorCodec        side latents z → (μ,) σ of y (scale and mean-scale hyperpriors)
  ChannelSlicesCodec     the hyperprior's side path, then y in channel slices with LRP
  SpatialContextCodec    a mean-scale hyperprior plus a masked spatial context (joint)
  QuantizationStepCodec  learned per-channel steps × β under a Laplace (learned_step)
  VQCodec                nearest-embedding codes under a learned categorical (vq)
  HierarchyCodec         L levels coded top-down, each under a prior from those above

A family (`zoo.models.latent.LatentCodecModel`) is transforms plus one of these; `Codec`,
the portable decoder (`Step.dtype` float64), `zoo.effort` (RELAX) and the core-ops
transform servable (`to_symbols`, `symbol_layout`) all drive that one object.
"""

from zoo.latent_codecs.core import (
    DECODE,
    ENCODE,
    MODES,
    RELAX,
    TRAIN,
    LatentCodec,
    Latents,
    Payloads,
    Step,
    add_bits,
)
from zoo.latent_codecs.entropy import ConditionalStream, FactorizedCodec, clip_index
from zoo.latent_codecs.hierarchy import HierarchyCodec
from zoo.latent_codecs.hyperprior import ChannelSlicesCodec, HyperpriorCodec
from zoo.latent_codecs.steps import QuantizationStepCodec
from zoo.latent_codecs.vq import VectorQuantizer, VQCodec

__all__ = [
    "DECODE", "ENCODE", "MODES", "RELAX", "TRAIN", "ChannelSlicesCodec", "ConditionalStream",
    "FactorizedCodec", "HyperpriorCodec", "LatentCodec", "Latents", "Payloads", "Step",
    "HierarchyCodec", "QuantizationStepCodec", "VQCodec", "VectorQuantizer", "add_bits", "clip_index",
]
