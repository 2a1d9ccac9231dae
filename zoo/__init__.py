"""A model zoo for learned image compression.

    import zoo
    codec = zoo.get("hyperprior", lmbda=0.013)      # pretrained, integrity-checked
    data = codec.compress(zoo.read_image("kodim01.png"))
    image = zoo.decompress(data)                     # finds the weights the file names
"""

from zoo.api import decompress, load
from zoo.codec import Codec
from zoo.errors import (
    BitstreamError,
    ImageError,
    ModelMismatchError,
    RegistryError,
    WeightsError,
    ZooError,
)
from zoo.image_io import read_image, write_png
from zoo.pretrained import get, list_pretrained
from zoo.registry import create_model, list_models, register_model

__all__ = [
    "BitstreamError",
    "Codec",
    "ImageError",
    "ModelMismatchError",
    "RegistryError",
    "WeightsError",
    "ZooError",
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
