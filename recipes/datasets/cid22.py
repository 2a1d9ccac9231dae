"""CID22 (Cloudinary Image Dataset '22) from a local folder, as a tfds builder.

CID22 is distributed on request, so this builder never downloads: point it at the
folder that holds `training/` and `validation/` (each full of PNGs), either with tfds'
manual directory or with the environment variable `LIC_ZOO_CID22_DIR`:

    import recipes.datasets  # registers the builder
    builder = tfds.builder("cid22", data_dir="/tmp/tfds")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/data/cid22"))
    ds = builder.as_dataset(split="validation")

Images are converted to 8-bit RGB by `zoo.image_io.read_image` (grayscale replicated,
16-bit scaled, opaque alpha dropped), so every example is `{"image": uint8 [H, W, 3],
"name": file stem}`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds
from PIL import Image

from zoo import image_io

#: Environment variable naming the CID22 folder when no manual_dir is given.
CID22_ENV = "LIC_ZOO_CID22_DIR"
SPLITS = {"train": "training", "validation": "validation"}


def cid22_folder(manual_dir: str | os.PathLike | None) -> Path:
    """The CID22 root: tfds' manual_dir if it holds the splits, else `$LIC_ZOO_CID22_DIR`."""
    candidates = [manual_dir, os.environ.get(CID22_ENV)]
    for candidate in candidates:
        if candidate and any((Path(candidate) / sub).is_dir() for sub in SPLITS.values()):
            return Path(candidate)
    raise FileNotFoundError(
        "CID22 is read from a local folder holding training/ and validation/; pass it as "
        f"tfds' manual_dir or set {CID22_ENV} (looked at: {[c for c in candidates if c]})"
    )


def _as_feature(path: Path) -> Any:
    """The file itself when tfds can store it unchanged, else the image as 8-bit RGB."""
    with Image.open(path) as image:
        if image.format == "PNG" and image.mode == "RGB":
            return path
    return image_io.read_image(path, alpha="error")


class Cid22(tfds.core.GeneratorBasedBuilder):
    """CID22 photos from a local folder (splits `train` and `validation`)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Local folder with training/ and validation/."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Request CID22 from Cloudinary and unpack it so that the folder holds "
        "`training/` and `validation/`; pass that folder as manual_dir "
        f"(tfds.download.DownloadConfig(manual_dir=...)) or set ${CID22_ENV}."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="CID22: Cloudinary Image Dataset '22 (photos, read from a local folder).",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
                    "name": tfds.features.Text(),
                }
            ),
            supervised_keys=None,
            homepage="https://cloudinary.com/labs/cid22",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        try:
            manual_dir = dl_manager.manual_dir
        except (AssertionError, ValueError):  # No manual_dir configured: use the env var.
            manual_dir = None
        root = cid22_folder(manual_dir)
        return {
            split: self._generate_examples(root / sub)
            for split, sub in SPLITS.items()
            if (root / sub).is_dir()
        }

    def _generate_examples(self, folder: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in image_io.IMAGE_SUFFIXES:
                yield path.stem, {"image": _as_feature(path), "name": path.stem}
