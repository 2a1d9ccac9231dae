"""A model zoo for learned image compression.

    import zoo
    codec = zoo.get("hyperprior", lmbda=0.013)      # pretrained, integrity-checked
    data = codec.compress(zoo.read_image("kodim01.png"))
    image = zoo.decompress(data)                     # finds the weights the file names
"""

import os

# TensorFlow's start-up chatter (CUDA probing on CPU machines) drowns the CLI's output;
# set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# ruff: noqa: E402

from zoo.api import decompress, load
from zoo.codec import Codec
from zoo.errors import (
    BitstreamError,
    ImageError,
    ModelMismatchError,
    RegistryError,
    UnsupportedError,
    WeightsError,
    ZooError,
)
from zoo.image_io import read_image, write_png
from zoo.pretrained import get, list_pretrained
from zoo.rate_control import compress_to_target
from zoo.registry import create_model, list_models, register_model

__all__ = [
    "BitstreamError",
    "Codec",
    "ImageError",
    "ModelMismatchError",
    "RegistryError",
    "UnsupportedError",
    "WeightsError",
    "ZooError",
    "compress_to_target",
    "create_model",
    "decompress",
    "get",
    "list_models",
    "list_pretrained",
    "load",
    "read_image",
    "register_model",
    "write_png",
]
