"""Image sources for evaluation: tfds datasets (ours register here), folders and globs.

    from recipes import datasets
    for name, image in datasets.iter_images("kodak", max_images=4): ...
    for name, image in datasets.iter_images("/data/photos/*.png"): ...

Importing this package registers two tfds builders, `kodak` (the 24 images ship
inside the project) and `cid22` (reads a local folder; see `recipes.datasets.cid22`).
Both build offline into `<cache>/tensorflow_datasets` (cache: `$LIC_ZOO_CACHE`,
default `~/.cache/lic-zoo`) unless a `data_dir` is given. Any other tfds image dataset
can be named too; it is prepared in tfds' usual way (its own data_dir, downloads).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from recipes import sources
from recipes.datasets.cid22 import Cid22
from recipes.datasets.kodak import KODAK_DIR, Kodak, kodak_files
from zoo import image_io
from zoo.errors import ImageError
from zoo.image_io import IMAGE_SUFFIXES

__all__ = ["Cid22", "KODAK_DIR", "Kodak", "iter_images", "kodak_files", "load_images"]

#: Builders whose data never comes from the network; they get a default data_dir.
LOCAL_BUILDERS = ("kodak", "cid22")
_SPLIT_PREFERENCE = ("test", "validation", "train")


def default_data_dir() -> Path:
    """Where the local builders are prepared: `<zoo cache>/tensorflow_datasets`."""
    from zoo.pretrained import cache_dir

    return cache_dir() / "tensorflow_datasets"


def _files(source: str) -> list[Path]:
    files = sources.image_files(source)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found at {source!r}")
    return [Path(f) for f in files]


def _iter_files(source: str, max_images: int | None, alpha: str) -> Iterator[tuple[str, np.ndarray]]:
    files = _files(source)
    for path in files[:max_images] if max_images else files:
        yield path.stem, image_io.read_image(path, alpha=alpha)


def _to_rgb(image: np.ndarray, name: str) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ImageError(f"{name}: tfds image has dtype {image.dtype}, expected uint8")
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.shape[-1] != 3:
        raise ImageError(f"{name}: expected 1 or 3 channels, got shape {image.shape}")
    return image


def _iter_tfds(
    name: str, split: str | None, max_images: int | None,
    data_dir: str | os.PathLike | None, manual_dir: str | os.PathLike | None,
) -> Iterator[tuple[str, np.ndarray]]:
    import tensorflow_datasets as tfds

    if data_dir is None and sources.Source("tfds", name).builder_name in LOCAL_BUILDERS:
        data_dir = default_data_dir()
    builder = tfds.builder(name, data_dir=os.fspath(data_dir) if data_dir else None)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=os.fspath(manual_dir) if manual_dir else None
        )
    )
    splits = list(builder.info.splits.keys())
    if split is None:
        split = next((s for s in _SPLIT_PREFERENCE if s in splits), splits[0])
    features = builder.info.features
    image_key = "image" if "image" in features else next(
        (k for k, f in features.items() if isinstance(f, tfds.features.Image)), None
    )
    if image_key is None:
        raise ValueError(f"tfds dataset {name!r} has no image feature")
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    if max_images:
        dataset = dataset.take(max_images)
    for index, example in enumerate(tfds.as_numpy(dataset)):
        label = example.get("name", f"{split}-{index:05d}")
        label = label.decode() if isinstance(label, bytes) else str(label)
        yield label, _to_rgb(example[image_key], f"{name}[{label}]")


def iter_images(
    source: str,
    split: str | None = None,
    max_images: int | None = None,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    alpha: str = "error",
) -> Iterator[tuple[str, np.ndarray]]:
    """Yields (name, uint8 [H, W, 3]) from a tfds name, a folder, an image file or a glob.

    Args:
      source: tfds name (`kodak`, `cid22`, `clic:1.0.0`, `tfds:name`, ...), or a folder,
        file or glob (`recipes.sources.resolve` decides which).
      split: tfds split; default the first of test, validation, train that exists.
      max_images: stop after this many images (for quick runs).
      data_dir: tfds data_dir (default: the zoo cache for kodak/cid22, tfds' own else).
      manual_dir: tfds manual_dir (the CID22 folder for `cid22`).
      alpha: rule for images with alpha, as in `zoo.image_io.read_image` (files only).
    """
    resolved = sources.resolve(source)
    if resolved.is_local:
        yield from _iter_files(resolved.spec, max_images, alpha)
    else:
        yield from _iter_tfds(resolved.spec, split, max_images, data_dir, manual_dir)


def load_images(source: str, **kwargs) -> list[tuple[str, np.ndarray]]:
    """All images of `iter_images(source, **kwargs)` in memory, sorted by name."""
    return sorted(iter_images(source, **kwargs), key=lambda item: item[0])
