"""Which padding to the stride codes odd-size photos best: replicate, reflect or zero.

    python results/padding/measure.py > results/padding/table.txt

Kodak images 1–6, cut to sizes 1–15 px short of a 64-aligned one, coded by the shipped
`factorized` and `hyperprior` (λ = 0.013) with each `pad_to_stride` mode. Bits are the
real file's; PSNR is against the input (the unpadded pixels).
"""

from pathlib import Path

import numpy as np

import zoo
from zoo.metrics import psnr
from zoo.models import base

SIZES = ((511, 767), (500, 700), (497, 753), (449, 641))
KODAK = Path(zoo.__file__).parent.parent / "recipes" / "data" / "kodak"


def main() -> None:
    images = [zoo.read_image(KODAK / f"kodim{i:02d}.png") for i in range(1, 7)]
    print(f"{'model':<12} {'mode':<10} {'bpp':>7} {'PSNR':>7}   (mean over 6 images × 4 sizes)")
    for name in ("factorized", "hyperprior"):
        codec = zoo.get(name, lmbda=0.013)
        for mode in base.PAD_MODES:
            base.PAD_MODE = mode
            codec.model._coding_fns.clear()  # retrace with this mode
            bpp, quality = [], []
            for image in images:
                for h, w in SIZES:
                    crop = image[:h, :w] if image.shape[0] >= h else image[:w, :h]
                    data = codec.compress(crop)
                    bpp.append(8 * len(data) / crop.shape[0] / crop.shape[1])
                    quality.append(psnr(crop, codec.decompress(data)))
            print(f"{name:<12} {mode:<10} {np.mean(bpp):7.4f} {np.mean(quality):7.3f}")


if __name__ == "__main__":
    main()
