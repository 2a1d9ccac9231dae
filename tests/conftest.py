"""Shared fixtures: real test images and tiny codecs of every registered image family."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KODAK_DIRS = (ROOT / "recipes" / "data" / "kodak", ROOT.parent / "shared" / "datasets" / "kodak")


def kodak_path(index: int = 1) -> Path:
    for folder in KODAK_DIRS:
        path = folder / f"kodim{index:02d}.png"
        if path.is_file():
            return path
    pytest.skip("Kodak images not found")


def write_smooth_images(folder: Path, count: int, name: str = "img{}.png") -> Path:
    """Writes `count` smooth 96×80 RGB images (a model can learn them) into `folder`."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        base = rng.normal(128, 40, (6, 6, 3)).clip(0, 255).astype(np.uint8)
        Image.fromarray(base).resize((96, 80), Image.BICUBIC).save(folder / name.format(i))
    return folder


def conv_dtypes(function) -> list:
    """(op type, dtype) of every convolution and matmul of a tf.function's graph, the
    bodies of its loops (the tiled transforms, `zoo.tiling`) included."""
    import tensorflow as tf

    definition = function.get_concrete_function().graph.as_graph_def()
    nodes = [*definition.node, *(n for f in definition.library.function for n in f.node_def)]
    return [(n.op, tf.dtypes.as_dtype(n.attr["T"].type)) for n in nodes
            if n.op in ("Conv2D", "Conv2DBackpropInput", "MatMul", "BatchMatMulV2")]


def tiny_image_models() -> list[str]:
    """Every registered tiny variant that codes images (the toy-source lab excluded)."""
    import zoo
    from zoo.registry import get_spec

    return [n for n in zoo.list_models() if get_spec(n).tiny and get_spec(n).family != "toy"]


@pytest.fixture(scope="session")
def kodak_image() -> np.ndarray:
    from zoo import read_image

    return read_image(kodak_path(1))


@pytest.fixture(scope="session")
def odd_image(kodak_image) -> np.ndarray:
    """A real photo crop with odd, prime sides."""
    return np.ascontiguousarray(kodak_image[101:138, 211:264])


_CODECS: dict = {}


@pytest.fixture(scope="session")
def codec_factory():
    """Builds (once per session) a Codec for a tiny model name."""
    import zoo

    def make(name: str):
        if name not in _CODECS:
            import tensorflow as tf

            tf.keras.utils.set_random_seed(0)  # the same weights whatever the test order
            _CODECS[name] = zoo.Codec(zoo.create_model(name))
        return _CODECS[name]

    return make
