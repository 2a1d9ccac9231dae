"""Writes the files of `tests/test_legacy_files.py`: format v1/v2 files made before the
encoder padded images to the model's stride (format v3), with the pixels they decoded to.

Run once, at commit 04867b1 (the last one that wrote v2), from a checkout of it:

    PYTHONPATH=<that checkout> python tests/data/legacy/make_legacy_files.py tests/data/legacy

Per family: `<name>.weights.npz` (the tiny model's weights, seeded), `<name>-v<k>.lic`
and `<name>-v<k>.npy` (the decoded pixels), on a 37×53 crop of kodim01 (odd sides, so the
old encoder's misalignment is part of what must decode unchanged); one file of the
shipped `hyperprior` λ=0.013 on a 61×83 crop too.
"""

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

import zoo
from zoo import container

FAMILIES = ("factorized_tiny", "hyperprior_tiny", "mean_scale_tiny", "joint_tiny",
            "channelwise_tiny", "hierarchical_tiny", "vq_tiny", "learned_step_tiny",
            "gdn_fixed_step_tiny", "hyperprior_vr_tiny", "factorized_vr_tiny", "ladder_tiny")


def write(out: Path, stem: str, codec, image) -> None:
    data, decoded = codec.compress_with_reconstruction(image)
    header, payloads = container.unpack(data)
    (out / f"{stem}-v{header.version}.lic").write_bytes(data)
    np.save(out / f"{stem}-v{header.version}.npy", decoded)
    if codec.model.index_guarded:  # a version 1 file: no index guard payload
        v1 = container.pack(header, payloads[:-1], version=1)
        (out / f"{stem}-v1.lic").write_bytes(v1)
        np.save(out / f"{stem}-v1.npy", codec.decompress(v1))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    image = zoo.read_image(Path(zoo.__file__).parent.parent / "recipes/data/kodak/kodim01.png")
    for name in FAMILIES:
        tf.keras.backend.clear_session()  # variable names count models built before
        tf.keras.utils.set_random_seed(0)
        model = zoo.create_model(name)
        model.build_coders()
        zoo.weights.save(model, out / f"{name}.weights.npz")
        tf.keras.backend.clear_session()
        write(out, name, zoo.load(out / f"{name}.weights.npz"), image[100:137, 200:253])
    write(out, "hyperprior-0.013", zoo.get("hyperprior", lmbda=0.013), image[50:111, 300:383])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
