"""Photos of any size: decoded pixels compared with the *input*, not with the encoder's
own reconstruction (which an encoder/decoder misalignment would share).

Format v3 pads every image to the model's stride before the analysis and crops after
the synthesis (`CompressionModel.stride`, `pad_to_stride`); v1/v2 files still decode to
the pixels their encoder produced (`tests/data/legacy/`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import container
from zoo.metrics import psnr
from zoo.models.base import pad_to_stride

from .conftest import tiny_image_models

LEGACY = Path(__file__).parent / "data" / "legacy"

#: Crops up to 15 px short of a 64-aligned one, as (aligned, odd) sizes.
ODD_SIZES = [((512, 768), (511, 767)), ((512, 704), (500, 700)), ((512, 768), (497, 753)),
             ((448, 640), (449 - 15, 641 - 8))]
DEGENERATE = [(1, 1), (1, 29), (31, 1), (2, 3), (97, 89), (67, 131)]


def _coded(codec, image):
    data = codec.compress(image)
    return 8 * len(data) / image.shape[0] / image.shape[1], codec.decompress(data)


def _check_odd_sizes_code_like_aligned(codec, image, sizes=ODD_SIZES):
    for (ah, aw), (h, w) in sizes:
        aligned_bpp, aligned = _coded(codec, image[:ah, :aw])
        bpp, decoded = _coded(codec, image[:h, :w])
        assert decoded.shape == (h, w, 3)
        gap = psnr(image[:ah, :aw], aligned) - psnr(image[:h, :w], decoded)
        assert abs(gap) <= 0.3, f"{codec.name} {h}×{w}: {gap:+.2f} dB against {ah}×{aw}"
        assert abs(bpp / aligned_bpp - 1) <= 0.05, (
            f"{codec.name} {h}×{w}: {bpp:.4f} bpp against {aligned_bpp:.4f} at {ah}×{aw}")


@pytest.fixture(scope="module")
def factorized():
    """The smallest shipped model."""
    return zoo.get("factorized", lmbda=0.0018)


def test_odd_crops_code_like_aligned_ones(factorized, kodak_image):
    _check_odd_sizes_code_like_aligned(factorized, kodak_image, ODD_SIZES[:2])


@pytest.mark.parametrize("size", DEGENERATE)
def test_degenerate_sizes_decode_to_the_input(factorized, kodak_image, size):
    h, w = size
    image = np.ascontiguousarray(kodak_image[200:200 + h, 300:300 + w])
    bpp, decoded = _coded(factorized, image)
    assert decoded.shape == image.shape
    # The same model reaches ~27 dB on Kodak at 0.33 bpp, and tiny images get many more
    # bits per pixel (the padded grid); a shifted decode of such thin strips lands at
    # 12–18 dB (the old encoder's misalignment did), a flat grey one lower still.
    assert psnr(image, decoded) > 20.0, (size, bpp)


@pytest.mark.parametrize("name", tiny_image_models())
def test_every_family_pads_and_crops(codec_factory, odd_image, name):
    """An odd crop decodes to the top-left of its padded image's decoding: encoder and
    decoder agree on the alignment, for every family."""
    codec = codec_factory(name)
    image = odd_image[:29, :45]
    padded = pad_to_stride(tf.constant(image[None]), codec.model.stride)[0].numpy()
    assert padded.shape[0] % codec.model.stride == 0 and padded.shape[1] % codec.model.stride == 0
    decoded = codec.decompress(codec.compress(image))
    assert decoded.shape == image.shape
    np.testing.assert_array_equal(decoded, codec.decompress(codec.compress(padded))[:29, :45])


def test_training_forward_matches_the_coding_path(factorized, kodak_image):
    """The training loss sees the reconstruction the decoder makes (up to rounding)."""
    image = kodak_image[:101, :203]
    losses = factorized.model.rd_losses(tf.constant(image[None]), training=False)
    assert losses["x_hat"].shape == (1, 101, 203, 3)
    decoded = factorized.decompress(factorized.compress(image))
    forward = np.clip(np.round(losses["x_hat"][0].numpy()), 0, 255).astype(np.uint8)
    assert np.mean(forward != decoded) < 0.01


@pytest.mark.parametrize("mode", ["replicate", "reflect", "zero"])
def test_padding_modes(mode):
    x = tf.reshape(tf.range(6, dtype=tf.float32), [1, 2, 3, 1])
    padded = pad_to_stride(x, 4, mode)[0, :, :, 0].numpy()
    assert padded.shape == (4, 4)
    np.testing.assert_array_equal(padded[:2, :3], x[0, :, :, 0])
    expected_row = {"replicate": [3, 4, 5, 5], "reflect": [3, 4, 5, 4], "zero": [3, 4, 5, 0]}
    np.testing.assert_array_equal(padded[1], expected_row[mode])
    one = pad_to_stride(tf.ones([1, 1, 1, 1]), 16, mode)
    assert one.shape == (1, 16, 16, 1)


# Format v1/v2 files: decoded exactly as before --------------------------------------


def _legacy_files():
    return sorted(p for p in LEGACY.glob("*.lic"))


@pytest.mark.parametrize("path", _legacy_files(), ids=lambda p: p.stem)
def test_legacy_files_decode_to_their_stored_pixels(path):
    stem, version = path.stem.rsplit("-v", 1)
    header = container.peek(path.read_bytes())
    assert header.version == int(version) < container.PADDED_SINCE
    if stem.startswith("hyperprior-"):
        decoded = zoo.decompress(path.read_bytes())
    else:
        decoded = zoo.load(LEGACY / f"{stem}.weights.npz").decompress(path.read_bytes())
    np.testing.assert_array_equal(decoded, np.load(path.with_suffix(".npy")))


def test_new_files_are_version_3(factorized, odd_image):
    assert container.peek(factorized.compress(odd_image)).version == 3


# Every shipped family, slow -----------------------------------------------------------


def _shipped():
    return sorted({(e.name, e.metric, e.lmbda) for e in zoo.list_pretrained()},
                  key=lambda t: (t[0], t[1], t[2]))


@pytest.mark.slow
@pytest.mark.parametrize("name,metric,lmbda", _shipped())
def test_every_shipped_model_codes_odd_sizes_like_aligned(name, metric, lmbda, kodak_image):
    codec = zoo.get(name, lmbda=lmbda, metric=metric)
    _check_odd_sizes_code_like_aligned(codec, kodak_image)
    for h, w in DEGENERATE:
        image = np.ascontiguousarray(kodak_image[200:200 + h, 300:300 + w])
        assert codec.decompress(codec.compress(image)).shape == image.shape


@pytest.fixture(scope="module")
def served(factorized, tmp_path_factory):
    """The shipped factorized model exported (codec and transform servables), reloaded."""
    from export import saved_model, servables

    root = tmp_path_factory.mktemp("serving")
    saved_model.export(factorized.model, root)
    servables.register_custom_ops()
    name = factorized.model.registry_name
    transform_dir = root / f"{name}_transform" / "1"
    return (tf.saved_model.load(str(root / f"{name}_codec" / "1")),
            tf.saved_model.load(str(transform_dir)), servables.read_metadata(transform_dir))


def _served_codings(served, image):
    """(bpp, decoded) from the codec servable's signatures and from the transform servable
    plus Python range coding, each against the input image."""
    from export import servables

    codec, transform, meta = served
    out = codec.signatures["serving_default"](image=tf.constant(image))
    strings = out["strings"]
    decoded = codec.signatures["decompress"](
        strings=strings, shape=tf.constant(image.shape[:2], tf.int32))["image"].numpy()
    pixels = image.shape[0] * image.shape[1]
    data = servables.transform_compress(transform, image, meta)
    return [(8 * sum(len(s) for s in strings.numpy()) / pixels, decoded),
            (8 * len(data) / pixels, servables.transform_decompress(transform, data, meta))]


def test_exported_servables_code_odd_and_degenerate_sizes_like_aligned(served, kodak_image):
    (ah, aw), (h, w) = ODD_SIZES[0]
    aligned = _served_codings(served, kodak_image[:ah, :aw])
    odd = _served_codings(served, kodak_image[:h, :w])
    for (aligned_bpp, aligned_image), (bpp, decoded) in zip(aligned, odd):
        assert decoded.shape == (h, w, 3)
        gap = psnr(kodak_image[:ah, :aw], aligned_image) - psnr(kodak_image[:h, :w], decoded)
        assert abs(gap) <= 0.3 and abs(bpp / aligned_bpp - 1) <= 0.05
    for size in ((1, 1), (1, 29), (97, 89)):
        image = np.ascontiguousarray(kodak_image[200:200 + size[0], 300:300 + size[1]])
        for _, decoded in _served_codings(served, image):
            assert decoded.shape == image.shape
            assert psnr(image, decoded) > 20


def test_cli_and_target_search_code_odd_sizes_at_full_quality(factorized, kodak_image, tmp_path):
    import subprocess
    import sys

    from PIL import Image

    from .test_export import ENV

    (ah, aw), (h, w) = ODD_SIZES[1]
    source = tmp_path / "odd.png"
    Image.fromarray(np.ascontiguousarray(kodak_image[:h, :w])).save(source)
    aligned = psnr(kodak_image[:ah, :aw], _coded(factorized, kodak_image[:ah, :aw])[1])
    for args, floor in ((["--model", "factorized", "--lmbda", "0.0018"], aligned - 0.3),
                        (["--model", "factorized", "--target_psnr", "27"], 27.0)):
        result = subprocess.run(
            [sys.executable, "-m", "zoo", "compress", str(source), str(tmp_path / "odd.lic"),
             *args], env=ENV, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        result = subprocess.run(
            [sys.executable, "-m", "zoo", "decompress", str(tmp_path / "odd.lic"),
             str(tmp_path / "odd_decoded.png")], env=ENV, capture_output=True, text=True,
            timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        decoded = zoo.read_image(tmp_path / "odd_decoded.png")
        assert decoded.shape == (h, w, 3)
        assert psnr(kodak_image[:h, :w], decoded) >= floor  # misaligned ones lost 7–13 dB
