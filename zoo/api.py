"""Top-level conveniences: decode any file, load weights from a path."""

from __future__ import annotations

import os

import numpy as np

from zoo import container, pretrained, weights
from zoo.codec import Codec


def load(path: str | os.PathLike, portable: bool = False) -> Codec:
    """A `Codec` for a weights artifact written by `recipes.train` (or `zoo.weights.save`)."""
    return Codec(weights.load(path), portable=portable)


def decompress(
    data: bytes, weights_path: str | os.PathLike | None = None, portable: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Decodes a file, finding the pretrained weights it names (or using `weights_path`);
    `portable`: the same pixels on any machine and thread count (see `Codec`);
    `progress`: a bar of the synthesis tiles of a large image."""
    header = container.peek(data)
    if weights_path is not None:
        codec = load(weights_path, portable)
    else:
        entry = pretrained.find_by_fingerprint(header.model, header.metric, header.fingerprint)
        codec = Codec(pretrained.load_model(entry), portable=portable)
    return codec.decompress(data, progress)
