"""The shared battery: every registered image family (tiny variants) passes the same checks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import tiny_image_models

FAMILIES = tiny_image_models()


def test_battery_covers_the_foundation_families():
    assert {"factorized_tiny", "hyperprior_tiny", "mean_scale_tiny"} <= set(FAMILIES)


@pytest.mark.parametrize("name", FAMILIES)
def test_training_step_gives_finite_loss_and_gradients(name):
    model = zoo.create_model(name)
    x = tf.random.uniform([2, 48, 48, 3], 0, 255, seed=1)
    with tf.GradientTape() as tape:
        out = model.rd_losses(x, training=True)
        loss = tf.reduce_mean(out["loss"])
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss))
    assert out["x_hat"].shape == x.shape
    assert all(g is not None for g in grads), "a trainable variable gets no gradient"
    assert all(np.all(np.isfinite(g.numpy())) for g in grads if not isinstance(g, tf.IndexedSlices))
    # λ trades rate against distortion exactly as documented.
    expected = out["bpp"] + model.lmbda * out["distortion"]
    np.testing.assert_allclose(out["loss"].numpy(), expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (64, 48)])
def test_round_trip_is_bit_exact(name, shape, kodak_image, codec_factory):
    codec = codec_factory(name)
    image = np.ascontiguousarray(kodak_image[100 : 100 + shape[0], 200 : 200 + shape[1]])
    data, reconstruction = codec.compress_with_reconstruction(image)
    decoded = codec.decompress(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, reconstruction)
    assert codec.compress(image) == data, "compression is not deterministic"


@pytest.mark.parametrize("name", FAMILIES)
def test_file_size_follows_the_rate_estimate(name, odd_image, codec_factory):
    codec = codec_factory(name)
    from zoo import container

    header, payloads = container.unpack(codec.compress(odd_image))
    actual_bits = 8 * sum(len(p) for p in payloads)
    estimate = codec.estimate_bits(odd_image)
    # Untrained tiny models put many symbols in the coder's escape range, which is
    # cheaper than their Gaussian tails; the coder must never cost notably more.
    # (Trained models on Kodak are measured by recipes/benchmark.py.)
    assert actual_bits <= 1.05 * estimate + 8 * 8 * codec.model.num_payloads


@pytest.mark.parametrize("name", FAMILIES)
def test_bad_inputs_raise_library_errors(name, odd_image, codec_factory):
    codec = codec_factory(name)
    data = codec.compress(odd_image)
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0x10
    for bad in (data[:-1], data[: len(data) // 2], bytes(damaged), data + b"\0", b"", b"GIF89a"):
        with pytest.raises(zoo.BitstreamError):
            codec.decompress(bad)
    for image in (
        odd_image.astype(np.float32),
        odd_image[..., 0],
        np.zeros((0, 4, 3), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        "not an image",
    ):
        with pytest.raises(zoo.ImageError):
            codec.compress(image)


def test_a_file_from_another_model_is_refused(odd_image, codec_factory):
    a, b = codec_factory("hyperprior_tiny"), codec_factory("mean_scale_tiny")
    with pytest.raises(zoo.ModelMismatchError, match="hyperprior_tiny"):
        b.decompress(a.compress(odd_image))
    # Same architecture, other weights: caught by the weights fingerprint.
    other = zoo.Codec(zoo.create_model("hyperprior_tiny"))
    with pytest.raises(zoo.ModelMismatchError, match="weights"):
        other.decompress(a.compress(odd_image))
