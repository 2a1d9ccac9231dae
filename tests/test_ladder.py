"""The ladder family (seed 003): PLN / γ-PLN / VAE losses, warm-up, coded-sampling codecs."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models.ladder import LadderNetwork, combine


@pytest.fixture(scope="module")
def batch(kodak_image) -> tf.Tensor:
    crops = [kodak_image[i * 70 : i * 70 + 48, i * 100 : i * 100 + 48] for i in range(2)]
    return tf.constant(np.stack(crops).astype(np.float32))


def test_loss_is_kl_rate_plus_lambda_laplace_nll_with_lambda_one_over_beta(batch):
    model = zoo.create_model("ladder_tiny", beta=0.25)
    assert isinstance(model, LadderNetwork) and model.lmbda == 4.0 and model.beta == 0.25
    out = model.rd_losses(batch, training=False)
    # Distortion: the unit-scale Laplace NLL of x/255 in bits per pixel (3 channels).
    err = np.abs(batch.numpy() - out["x_hat"].numpy()) / 255.0 + math.log(2.0)
    nll = err.sum(axis=(1, 2, 3)) / (48 * 48) / math.log(2.0)
    np.testing.assert_allclose(out["distortion"].numpy(), nll, rtol=1e-5)
    np.testing.assert_allclose(out["loss"], out["bpp"] + 4.0 * out["distortion"], rtol=1e-6)
    with pytest.raises(ValueError, match="either"):
        zoo.create_model("ladder_tiny", beta=0.25, lmbda=4.0)


def test_kl_warm_up_scales_the_rate_term(batch):
    model = zoo.create_model("ladder_tiny", warmup_steps=4)
    for step in range(6):
        out = model.rd_losses(batch, training=True)
        weight = min(step / 4, 1.0)
        expected = weight * out["bpp"] + model.lmbda * out["distortion"]
        np.testing.assert_allclose(out["loss"], expected, rtol=1e-5)
    assert int(model.warmup_step.numpy()) == 6
    model.rd_losses(batch, training=False)  # evaluation does not advance the schedule
    assert int(model.warmup_step.numpy()) == 6


def test_gamma_pln_learns_a_scale_floored_at_the_target(batch):
    model = zoo.create_model("ladder_tiny", gamma_target=0.05)
    model.log_gamma.assign(math.log(0.01))
    assert float(model.gamma()) == pytest.approx(0.05)
    model.log_gamma.assign(math.log(0.3))
    assert float(model.gamma()) == pytest.approx(0.3)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.rd_losses(batch, training=True)["loss"])
    assert tape.gradient(loss, model.log_gamma) is not None


def test_combination_is_the_precision_weighted_gaussian_product():
    mean, std = combine(tf.constant(1.0), tf.constant(1.0), tf.constant(3.0), tf.constant(2.0))
    # precisions 1 and 1/4: mean (1 + 3/4) / (5/4) = 1.4, variance 1 / (5/4) = 0.8
    assert float(mean) == pytest.approx(1.4) and float(std) == pytest.approx(math.sqrt(0.8))


@pytest.mark.parametrize("scheme", ["is-gs", "rejection", "greedy", "importance"])
def test_every_coding_scheme_round_trips_through_the_codec(scheme, odd_image):
    codec = zoo.Codec(zoo.create_model("ladder_tiny", coding=scheme))
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)
    assert codec.compress(odd_image) == data


def test_vae_codes_one_payload_against_a_unit_prior(odd_image):
    codec = zoo.Codec(zoo.create_model("vae_tiny", coding="greedy"))
    strings, _ = codec.model.compress(tf.constant(odd_image))
    assert strings.shape == (1,)
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)


def test_a_fitted_index_table_lowers_the_rejection_rate(kodak_image, odd_image):
    tf.keras.utils.set_random_seed(0)  # the same tiny model whatever ran before
    model = zoo.create_model("vae_tiny")
    codec = zoo.Codec(model)
    before = codec.estimate_bits(odd_image)
    pmf = model.fit_index_table([kodak_image[:64, :64], kodak_image[200:264, 300:364]])
    assert pmf.shape == (257,) and abs(pmf.sum() - 1) < 1e-9
    codec = zoo.Codec(model)  # the table is part of the weights' fingerprint
    assert codec.estimate_bits(odd_image) < before
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)


def test_graph_coding_and_export_are_declined_clearly():
    model = zoo.create_model("ladder_tiny")
    with pytest.raises(NotImplementedError, match="SavedModel"):
        model.coding_function("compress")


@pytest.mark.slow
def test_a_fresh_process_decodes_the_same_image(tmp_path, odd_image):
    from zoo import weights

    model = zoo.create_model("ladder_tiny")
    codec = zoo.Codec(model)
    weights.save(model, tmp_path / "w.npz")
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    (tmp_path / "image.lic").write_bytes(data)
    script = textwrap.dedent(
        f"""
        import numpy as np, zoo
        from zoo import weights
        codec = zoo.Codec(weights.load({str(tmp_path / "w.npz")!r}))
        image = codec.decompress(open({str(tmp_path / "image.lic")!r}, "rb").read())
        np.save({str(tmp_path / "decoded.npy")!r}, image)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    np.testing.assert_array_equal(np.load(tmp_path / "decoded.npy"), reconstruction)
