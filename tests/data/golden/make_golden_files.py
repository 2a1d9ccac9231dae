"""Writes the files of `tests/test_golden_files.py`: format v3 files made before the
latent-codec redesign, with the pixels they decode to (default and portable decoders).

Run once, at commit 585d63e (the last one before the redesign), from a checkout of it:

    PYTHONPATH=<that checkout> python tests/data/golden/make_golden_files.py tests/data/golden

Per tiny family: the seeded weights of `tests/data/legacy/<name>.weights.npz` (not copied),
`<name>-v3.lic`, `<name>-v3.npy` (decoded pixels) and `<name>-v3.portable.npy` (the
float64 decoder's), on a 37×53 crop of kodim01 (odd sides); one file per shipped family
at λ = 0.013 on a 61×83 crop.
"""

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

import zoo
from zoo import container

LEGACY = Path(__file__).parent.parent / "legacy"
FAMILIES = ("factorized_tiny", "hyperprior_tiny", "mean_scale_tiny", "joint_tiny",
            "channelwise_tiny", "hierarchical_tiny", "vq_tiny", "learned_step_tiny",
            "gdn_fixed_step_tiny", "hyperprior_vr_tiny", "factorized_vr_tiny", "ladder_tiny")
SHIPPED = ("factorized", "hyperprior", "mean_scale", "joint", "channelwise")


def write(out: Path, stem: str, codec, image) -> None:
    data = codec.compress(image)
    assert container.peek(data).version == 3
    (out / f"{stem}-v3.lic").write_bytes(data)
    np.save(out / f"{stem}-v3.npy", codec.decompress(data))
    portable = zoo.Codec(codec.model, portable=True)
    np.save(out / f"{stem}-v3.portable.npy", portable.decompress(data))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    image = zoo.read_image(Path(zoo.__file__).parent.parent / "recipes/data/kodak/kodim01.png")
    for name in FAMILIES:
        tf.keras.backend.clear_session()
        codec = zoo.load(LEGACY / f"{name}.weights.npz")
        write(out, name, codec, image[100:137, 200:253])  # variable-rate: default rate
    for name in SHIPPED:
        tf.keras.backend.clear_session()
        write(out, f"{name}-0.013", zoo.get(name, lmbda=0.013), image[50:111, 300:383])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
