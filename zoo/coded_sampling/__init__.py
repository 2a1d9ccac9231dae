"""Coded sampling with shared randomness: Flamich, "Compression without quantization"
(MPhil thesis, Cambridge 2019), §3.4–3.5, Algorithms 1–3 and 5 (Havasi et al. 2018).

An encoder that knows a posterior q = N(μq, σq) and a prior p = N(μp, σp) (diagonal)
sends a few integers; a decoder that knows p and the same random numbers turns them
into the identical latent sample, at a cost close to KL[q‖p]:

    encoder: (q, p, seed) ─sampler─> integers ─pack─> bytes
    decoder: (bytes, p, seed) ─unpack─> integers ─sampler─> the same sample

    RejectionSampler   Alg. 1: per dimension, ≤ 2^B proposals from p; a dimension that
                       rejects them all is sent as a 16-bit (float16) posterior sample.
                       Indices range coded under a smoothed empirical table (§3.5.1).
    GreedySampler      Alg. 2 on groups of dimensions: K shards of 2^B candidates from the
                       standardized prior N(0, 1/K); the best candidate under q' wins.
    ImportanceSampler  Alg. 3 + 5: outliers (KL > threshold) sent as float16, the rest cut
                       into groups of KL ≤ budget and ≤ G dims; one index of 2^B
                       prior candidates per group, picked ∝ q'/p'.

Shared randomness: `shared_rng(seed, stream)` is numpy's Philox counter-based generator
keyed by the 128-bit integer (seed << 64) | stream; it keeps no state between calls,
so any process draws the same numbers for the same (seed, stream). Streams name
(level, kind, shard, group or chunk), see `stream_id`. The greedy and importance
samplers give every group (and shard) a stream of its own, drawn candidate after
candidate, so a decoder draws only up to the candidate it was sent: about half of what
the encoder draws, and none of the other groups' candidates. NumPy promises the Philox bit stream, but
not `Generator.standard_normal` across numpy versions: encoder and decoder must run
the same numpy (pinned in setup).

Every sampler works on the prior-standardized latent z' = (z − μp)/σp (the §3.4.2
standardization), so prior candidates are N(0, 1) numbers that depend on the seed only,
and the decoder's sample is μp + σp·z' computed by one formula on both sides.
"""

from __future__ import annotations

import numpy as np

from .common import BitReader, BitWriter, kl_bits, shared_rng, standardize, stream_id
from .groups import GreedySampler, GroupCode, ImportanceSampler, partition
from .rejection import RejectionCode, RejectionSampler, default_index_pmf, smoothed_index_pmf

__all__ = [
    "SCHEMES",
    "BitReader",
    "BitWriter",
    "GreedySampler",
    "GroupCode",
    "ImportanceSampler",
    "RejectionCode",
    "RejectionSampler",
    "default_index_pmf",
    "kl_bits",
    "partition",
    "scheme_samplers",
    "shared_rng",
    "smoothed_index_pmf",
    "standardize",
    "stream_id",
]

#: Per level (1 = bottom, 2 = top) the sampler of each scheme; "is-gs" is the thesis's
#: choice (§3.4.3): importance sampling on level 2, greedy sampling on level 1.
SCHEMES = ("rejection", "greedy", "importance", "is-gs")


def scheme_samplers(scheme: str, index_pmf: np.ndarray | None = None) -> dict[int, object]:
    """{level: sampler} for a coding scheme name."""
    if scheme == "rejection":
        rej = RejectionSampler(index_pmf=index_pmf)
        return {1: rej, 2: rej}
    if scheme == "greedy":
        return {1: GreedySampler(), 2: GreedySampler()}
    if scheme == "importance":
        return {1: ImportanceSampler(), 2: ImportanceSampler()}
    if scheme == "is-gs":
        return {1: GreedySampler(), 2: ImportanceSampler()}
    raise ValueError(f"unknown coding scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
