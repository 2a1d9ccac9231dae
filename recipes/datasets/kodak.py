"""The Kodak Lossless True Color Image Suite (24 images, 768×512) as a tfds builder.

The 24 PNGs ship inside the package (`recipes/data/kodak/`), so building the dataset
never touches the network:

    import recipes.datasets  # registers the builder
    ds = tfds.load("kodak", split="test", data_dir="/tmp/tfds")

Each example is `{"image": uint8 [H, W, 3], "name": "kodim01"}`; the only split is
`test`, since the set is used for evaluation only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds

#: Where the packaged images live.
KODAK_DIR = Path(__file__).resolve().parent.parent / "data" / "kodak"


def kodak_files() -> list[Path]:
    """The packaged Kodak PNGs in order (kodim01 … kodim24)."""
    return sorted(KODAK_DIR.glob("kodim*.png"))


class Kodak(tfds.core.GeneratorBasedBuilder):
    """The 24 Kodak test images, read from the files shipped with the project."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "The 24 images shipped in recipes/data/kodak."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Kodak Lossless True Color Image Suite (24 RGB images, 768×512).",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
                    "name": tfds.features.Text(),
                }
            ),
            supervised_keys=None,
            homepage="https://r0k.us/graphics/kodak/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        del dl_manager  # Nothing to download: the images ship with the package.
        files = kodak_files()
        if len(files) != 24:
            raise FileNotFoundError(
                f"expected the 24 Kodak PNGs in {KODAK_DIR}, found {len(files)}; "
                "reinstall the package"
            )
        return {"test": self._generate_examples(files)}

    def _generate_examples(self, files: list[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
        for path in files:
            # The shipped files are 8-bit RGB PNGs; tfds stores their bytes unchanged.
            yield path.stem, {"image": path, "name": path.stem}
