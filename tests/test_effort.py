"""Encoder effort (`zoo.effort`): refined latents code real images better with trained
weights, and every refined file is a standard file that any decoder reads bit-exactly."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import container, effort, metrics


@pytest.fixture(scope="module")
def crop(kodak_image) -> np.ndarray:
    """A real photo crop with odd sides (97×131)."""
    return np.ascontiguousarray(kodak_image[100:197, 200:331])


def _cost(codec, image, data, decoded) -> float:
    """What refinement minimizes, from the real file: bits per pixel + λ·MSE."""
    bpp = 8.0 * sum(len(p) for p in container.unpack(data)[1]) / (image.shape[0] * image.shape[1])
    mse = float(np.mean(np.square(image.astype(np.float64) - decoded)))
    return bpp + codec.lmbda * mse


@pytest.mark.parametrize("name, lmbda", [("factorized", 0.0018), ("hyperprior", 0.013)])
def test_refined_file_of_trained_weights_lowers_the_rd_cost(name, lmbda, crop):
    codec = zoo.get(name, lmbda=lmbda)
    fast, fast_decoded = codec.compress_with_reconstruction(crop)
    data, reconstruction = codec.compress_with_reconstruction(crop, effort=60)
    decoded = zoo.decompress(data)
    # A standard file of the same weights, decoded bit-exactly by the unchanged decoder.
    assert container.unpack(data)[0].fingerprint == container.unpack(fast)[0].fingerprint
    np.testing.assert_array_equal(decoded, reconstruction)
    assert container.unpack(data)[1] != container.unpack(fast)[1]  # it did refine
    # Lower bpp + λ·D, measured on the decoded pixels against the input.
    assert _cost(codec, crop, data, decoded) < 0.99 * _cost(codec, crop, fast, fast_decoded)
    assert metrics.psnr(crop, decoded) > 20


@pytest.mark.parametrize("name", ["factorized_tiny", "hyperprior_tiny", "mean_scale_tiny",
                                  "joint_tiny", "channelwise_tiny"])
def test_every_supported_family_refines_any_size_and_decodes_bit_exactly(name, codec_factory,
                                                                         kodak_image):
    codec = codec_factory(name)
    for height, width in ((1, 1), (13, 70), (67, 29)):
        image = np.ascontiguousarray(kodak_image[:height, :width])
        data, reconstruction = codec.compress_with_reconstruction(image, effort=3)
        decoded = codec.decompress(data)
        assert decoded.shape == image.shape
        np.testing.assert_array_equal(decoded, reconstruction)


def test_variable_rate_model_refines_at_any_rate(codec_factory, odd_image):
    codec = codec_factory("hyperprior_vr_tiny")
    low, high = codec.model.lmbda_range
    for rate in (low, (low * high) ** 0.5, high):
        data, reconstruction = codec.compress_with_reconstruction(odd_image, rate, effort=3)
        assert container.unpack(data)[0].rate == pytest.approx(rate, rel=1e-6)
        np.testing.assert_array_equal(codec.decompress(data), reconstruction)


def test_compress_to_target_takes_effort(odd_image, codec_factory):
    codec = codec_factory("hyperprior_vr_tiny")
    fast, report = zoo.compress_to_target(odd_image, target_bpp=4.0, codec=codec, max_probes=3)
    data, refined = zoo.compress_to_target(odd_image, target_bpp=4.0, codec=codec,
                                           max_probes=3, effort=3)
    assert refined.bpp <= 4.0 and refined.probes
    np.testing.assert_array_equal(codec.decompress(data).shape, odd_image.shape)


def test_codec_servable_decodes_refined_files(tmp_path, codec_factory, odd_image):
    from export import saved_model, servables

    codec = codec_factory("factorized_tiny")
    saved_model.export(codec.model, tmp_path)
    servables.register_custom_ops()
    loaded = tf.saved_model.load(str(tmp_path / "factorized_tiny_codec" / "1"))
    data, reconstruction = codec.compress_with_reconstruction(odd_image, effort=5)
    _, payloads = container.unpack(data)
    decoded = loaded.signatures["decompress"](
        strings=tf.constant(payloads), shape=tf.constant(odd_image.shape[:2], tf.int32)
    )["image"].numpy()
    np.testing.assert_array_equal(decoded, reconstruction)


@pytest.mark.parametrize("name", ["vq_tiny", "hierarchical_tiny", "learned_step_tiny"])
def test_unsupported_families_refuse_effort_naming_those_that_support_it(name, codec_factory,
                                                                         odd_image):
    codec = codec_factory(name)
    with pytest.raises(zoo.UnsupportedError, match="hyperprior.*channelwise"):
        codec.compress(odd_image, effort="refine")
    codec.compress(odd_image, effort="fast")  # the one-shot encoder still works


@pytest.mark.parametrize("bad", ["fastest", -1, 10**9, "1.5", None, True])
def test_bad_effort_values_are_refused(bad, codec_factory, odd_image):
    with pytest.raises(ValueError, match="effort"):
        codec_factory("factorized_tiny").compress(odd_image, effort=bad)


def test_named_levels_and_annealing_schedule():
    assert effort.parse_effort("fast") == 0
    assert effort.parse_effort("Refine") == effort.LEVELS["refine"] > 0
    assert effort.parse_effort("max") > effort.parse_effort("refine")
    assert effort.parse_effort("25") == effort.parse_effort(25) == 25
    schedule = effort.Schedule(tau_start=0.5, tau_end=0.05, hold=0.5)
    taus = [schedule.tau(i, 100) for i in range(100)]
    assert taus[0] == taus[49] == 0.5 and taus[-1] == pytest.approx(0.05)
    assert all(a >= b for a, b in zip(taus, taus[1:]))


@pytest.mark.slow  # CI time; the fast suite covers the parts in-process
def test_cli_compress_with_effort_writes_a_smaller_or_better_file(tmp_path, crop):
    import subprocess
    import sys

    from tests.test_export import ENV

    source = tmp_path / "crop.png"
    from PIL import Image

    Image.fromarray(crop).save(source)
    sizes, psnrs = {}, {}
    for level in ("fast", "40"):
        out = tmp_path / f"{level}.lic"
        result = subprocess.run(
            [sys.executable, "-m", "zoo", "compress", str(source), str(out), "--model",
             "hyperprior", "--lmbda", "0.013", "--effort", level],
            env=ENV, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        sizes[level] = out.stat().st_size
        psnrs[level] = metrics.psnr(crop, zoo.decompress(out.read_bytes()))
    assert (sizes["40"] < sizes["fast"] and psnrs["40"] >= psnrs["fast"] - 0.05) or \
        (sizes["40"] <= sizes["fast"] and psnrs["40"] > psnrs["fast"])


@pytest.mark.parametrize("name, lmbda, limit_rows", [("hyperprior", 0.013, 400),
                                                     ("factorized", 0.0018, 192)])
def test_images_above_the_one_piece_limit_refine_in_bands(name, lmbda, limit_rows, kodak_image,
                                                          monkeypatch):
    """With the one-piece limit lowered to `limit_rows` rows of a 391-wide crop, a 450×391
    photo refines in four bands of 128 rows (plus halos): a standard file, decoded
    bit-exactly, at a lower real cost than the one-shot file."""
    image = np.ascontiguousarray(kodak_image[:450, :391])
    codec = zoo.get(name, lmbda=lmbda)
    monkeypatch.setattr(effort, "MAX_PIXELS", limit_rows * 391)
    bands = effort._bands(codec.model, image.shape[:2])
    assert [band[:2] for band in bands] == [(0, 128), (128, 256), (256, 384), (384, 450)]
    fast, fast_decoded = codec.compress_with_reconstruction(image)
    data, reconstruction = codec.compress_with_reconstruction(image, effort=30)
    decoded = zoo.decompress(data)
    np.testing.assert_array_equal(decoded, reconstruction)
    assert container.unpack(data)[1] != container.unpack(fast)[1]
    assert _cost(codec, image, data, decoded) < 0.99 * _cost(codec, image, fast, fast_decoded)


def test_images_too_wide_for_a_band_are_refused(codec_factory, monkeypatch):
    monkeypatch.setattr(effort, "MAX_PIXELS", 64 * 64)
    codec = codec_factory("hyperprior_tiny")
    with pytest.raises(zoo.ImageError, match="too wide"):
        codec.compress(np.zeros((64, 200, 3), np.uint8), effort=2)
