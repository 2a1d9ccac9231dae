"""Photos of natural sizes for evaluation: held-out photos cut to seeded random odd sizes.

Kodak's 24 images are all 768×512, multiples of 64, so they cannot show how a codec
handles the sides real photos have. This cuts each photo of a folder (by default the
CID22 validation split, never used in training) to a random crop whose height and width
are odd (so neither is a multiple of 16) and at least `min_side` px; the crops depend
only on `--seed` and the file names.

    python -m recipes.natural_crops --source=../shared/datasets/cid22/validation \\
        --output=runs/natural
    python -m recipes.evaluate --model=pretrained --dataset=runs/natural --output=runs/natural_eval
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from zoo import image_io  # noqa: E402

_SOURCE = flags.DEFINE_string(
    "source", "../shared/datasets/cid22/validation", "Folder of held-out photos.")
_OUTPUT = flags.DEFINE_string("output", "runs/natural", "Folder the crops are written to.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the crop sizes and positions.")
_MIN_SIDE = flags.DEFINE_integer("min_side", 193, "Smallest crop side (px).")


def crop_size(rng: np.random.Generator, height: int, width: int, min_side: int) -> tuple[int, int]:
    """Odd sides in [min_side, the photo's side]."""
    def side(limit: int) -> int:
        if limit <= 2:
            return 1
        while True:
            value = int(rng.integers(min(min_side, limit), limit + 1))
            if value % 2 == 1:
                return value
    return side(height), side(width)


def make_crops(source: str | os.PathLike, output: str | os.PathLike, seed: int = 0,
               min_side: int = 193) -> list[dict]:
    """Writes one PNG crop per photo of `source` into `output`; returns their records."""
    from recipes.data import image_paths

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    records = []
    for path in image_paths(str(source)):
        name = Path(path).stem
        # A per-file stream: the crop of one photo does not depend on the others.
        key = int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "big")
        rng = np.random.default_rng(key)
        image = image_io.read_image(path)
        h, w = crop_size(rng, *image.shape[:2], min_side)
        top = int(rng.integers(0, image.shape[0] - h + 1))
        left = int(rng.integers(0, image.shape[1] - w + 1))
        image_io.write_png(np.ascontiguousarray(image[top:top + h, left:left + w]),
                           output / f"{name}.png")
        records.append({"name": name, "source": str(path), "top": top, "left": left,
                        "height": h, "width": w})
    (output / "crops.json").write_text(json.dumps({"seed": seed, "crops": records}, indent=1))
    return records


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    records = make_crops(_SOURCE.value, _OUTPUT.value, _SEED.value, _MIN_SIDE.value)
    sizes = sorted({(r["height"], r["width"]) for r in records})
    print(f"{len(records)} crops in {_OUTPUT.value}, sizes {sizes[0]} … {sizes[-1]}")


if __name__ == "__main__":
    app.run(main)
