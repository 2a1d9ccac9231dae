"""Rate of the shipped λ = 0.013 models on Kodak crops of growing size (kodim01, tiled).

    python results/context_comparison/crop_sizes.py > results/context_comparison/crop_sizes.txt

Models trained on 128×128 crops see 2×2 hyper-latents; this shows how their estimated
rate (the training-graph bpp, noise proxy off) grows with the crop size on the same
pixels, while the factorized prior's does not.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402

image = zoo.read_image(Path(__file__).resolve().parents[2] / "recipes/data/kodak/kodim01.png")
image = image.astype(np.float32)
print("model          crop   bpp     MSE")
for name in ("factorized", "mean_scale", "joint", "channelwise"):
    model = zoo.get(name, lmbda=0.013).model
    for size in (128, 256, 512):
        crops = np.stack([image[r:r + size, c:c + size] for r in range(0, 512 - size + 1, size)
                          for c in range(0, 768 - size + 1, size)])
        out = model(tf.constant(crops), training=False)
        print(f"{name:<14}{size:>5}{float(tf.reduce_mean(out['bpp'])):7.3f}"
              f"{float(tf.reduce_mean(out['mse'])):8.1f}")
