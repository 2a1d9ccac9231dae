"""The `vq` family (seed 000): quantizer, the soft/hard cross-entropy terms, real coding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import container
from zoo.models.vq import VectorQuantizer, paper_lambda


def _quantizer(codebook, logits, sigma=1.0) -> VectorQuantizer:
    codebook = np.asarray(codebook, np.float32)
    q = VectorQuantizer(codebook.shape[0], codebook.shape[1], sigma)
    q.codebook.assign(codebook)
    q.logits.assign(np.asarray(logits, np.float32))
    return q


def test_quantizer_picks_the_nearest_embedding():
    rng = np.random.default_rng(0)
    codebook = rng.normal(size=(16, 4)).astype(np.float32)
    q = _quantizer(codebook, np.zeros(16))
    z = rng.normal(size=(2, 3, 5, 8)).astype(np.float32)  # two vectors of m=4 per position
    codes = q.codes(tf.constant(z)).numpy()
    vectors = z.reshape(2, 3, 5, 2, 1, 4)
    expected = np.argmin(np.sum((vectors - codebook) ** 2, -1), -1)
    np.testing.assert_array_equal(codes, expected)
    # Forward pass: the hard choice, in training too.
    z_q, *_ = q(tf.constant(z), training=True)
    np.testing.assert_allclose(z_q.numpy().reshape(2, 3, 5, 2, 4), codebook[expected], atol=1e-5)


def test_scalar_quantization_is_m_equals_1():
    q = _quantizer([[-1.0], [0.0], [2.0]], np.zeros(3))
    z = tf.constant([[[[-3.0, 0.4, 0.9, 1.2, 5.0]]]])
    np.testing.assert_array_equal(q.codes(z).numpy()[0, 0, 0], [0, 1, 1, 2, 2])
    z_q, codes, hard, _ = q(z, training=False)
    np.testing.assert_allclose(z_q.numpy()[0, 0, 0], [-1.0, 0.0, 0.0, 2.0, 2.0])
    np.testing.assert_allclose(hard.numpy(), [5 * math.log2(3)], rtol=1e-6)


def test_backward_pass_is_the_soft_relaxation():
    codebook = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], np.float32)
    q = _quantizer(codebook, np.zeros(3), sigma=1.5)
    z = tf.constant([[[[0.3, 0.4]]]])
    weights = tf.constant([[[[1.0, -2.0]]]])
    with tf.GradientTape() as tape:
        tape.watch(z)
        z_q, *_ = q(z, training=True)
        out = tf.reduce_sum(z_q * weights)
    grad = tape.gradient(out, z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        p = q.soft_assignments(tf.reshape(z, [1, 1, 1, 1, 2]))
        z_soft = tf.einsum("...k,km->...m", p, q.codebook)
        expected_out = tf.reduce_sum(tf.reshape(z_soft, [1, 1, 1, 2]) * weights)
    np.testing.assert_allclose(grad.numpy(), tape.gradient(expected_out, z).numpy(), rtol=1e-5)
    np.testing.assert_allclose(z_q.numpy()[0, 0, 0], [0.0, 0.0])  # nearest is e⁽⁰⁾


def test_soft_and_hard_cross_entropy_match_a_hand_computation():
    codebook = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]
    logits = [0.5, -1.0, 2.0]
    sigma = 0.7
    q = _quantizer(codebook, logits, sigma)
    z = np.array([[[[0.9, 0.1, 0.2, 1.5]]], [[[-0.1, 0.0, 0.0, 0.9]]]], np.float32)  # [2,1,1,4]
    _, codes, hard, soft = q(tf.constant(z), training=True)

    q_c = np.exp(logits) / np.exp(logits).sum()
    for b in range(2):
        vectors = z[b, 0, 0].reshape(2, 2)
        dist = np.linalg.norm(vectors[:, None, :] - np.array(codebook)[None], axis=-1)
        p_soft = np.exp(-sigma * dist) / np.exp(-sigma * dist).sum(-1, keepdims=True)
        chosen = dist.argmin(-1)
        np.testing.assert_array_equal(codes.numpy()[b, 0, 0], chosen)
        np.testing.assert_allclose(hard.numpy()[b], -np.log2(q_c[chosen]).sum(), rtol=1e-5)
        np.testing.assert_allclose(soft.numpy()[b], -(p_soft * np.log2(q_c)).sum(), rtol=1e-5)


def test_loss_is_alpha_soft_plus_beta_hard_and_maps_to_the_paper():
    model = zoo.create_model("vq_tiny", alpha=0.3, beta=2.0, lmbda=0.05)
    x = tf.random.uniform([2, 16, 24, 3], 0, 255, seed=3)
    terms = model.rate_terms(x, training=True)
    out = model.rd_losses(x, training=True)
    pixels = 16 * 24
    expected_bpp = (0.3 * terms["soft_bits"] + 2.0 * terms["hard_bits"]) / pixels
    np.testing.assert_allclose(out["bpp"].numpy(), expected_bpp.numpy(), rtol=1e-5)
    # Evaluation reports the actual hard cross-entropy.
    evaluated = model.rd_losses(x, training=False)
    np.testing.assert_allclose(evaluated["bpp"].numpy(), terms["hard_bits"].numpy() / pixels,
                               rtol=1e-5)

    # The documented mapping: with α = α′, β = 1 and λ = paper_lambda(n/pixels), the zoo
    # loss is c = n/(pixels·ln2) times the paper's eq. 10 (d = MSE of images on [0, 1],
    # s and h per code in nats).
    alpha_paper = 0.01
    n = 4 * 6 * model.codes_per_position
    lmbda = paper_lambda(n / pixels)
    model.alpha, model.beta = alpha_paper, 1.0
    ours = model.rd_losses(x, training=True, lmbda=lmbda)["loss"].numpy()
    terms = model.rate_terms(x, training=True)
    mse01 = np.mean((x.numpy() / 255.0 - terms["x_hat"].numpy() / 255.0) ** 2, axis=(1, 2, 3))
    s = terms["soft_bits"].numpy() * math.log(2) / n
    h = terms["hard_bits"].numpy() * math.log(2) / n
    paper = mse01 + alpha_paper * s + h
    np.testing.assert_allclose(ours, n / (pixels * math.log(2)) * paper, rtol=1e-4)


def test_gradients_reach_encoder_codebook_and_q_c_through_the_right_terms():
    model = zoo.create_model("vq_tiny")
    x = tf.random.uniform([2, 32, 32, 3], 0, 255, seed=1)
    model(x)  # build
    encoder = model.analysis.trainable_variables
    codebook, logits = model.quantizer.codebook, model.quantizer.logits
    with tf.GradientTape(persistent=True) as tape:
        terms = model.rate_terms(x, training=True)
        loss = tf.reduce_mean(model.rd_losses(x, training=True)["loss"])
        hard = tf.reduce_sum(terms["hard_bits"])
        soft = tf.reduce_sum(terms["soft_bits"])
    for g in tape.gradient(loss, encoder + [codebook, logits]):
        assert g is not None and np.any(np.abs(tf.convert_to_tensor(g).numpy()) > 0)
    # Hard CE: only q_c learns from it; soft CE: only the encoder and E (sg on q_c).
    g_enc, g_book, g_logits = tape.gradient(hard, [encoder[-1], codebook, logits])
    assert g_enc is None and g_book is None and np.any(g_logits.numpy() != 0)
    g_enc, g_book, g_logits = tape.gradient(soft, [encoder[-1], codebook, logits])
    assert g_logits is None and np.any(g_enc.numpy() != 0) and np.any(g_book.numpy() != 0)


@pytest.fixture(scope="module")
def skewed_codec():
    """A vq_tiny codec whose q_c is far from uniform (as after training)."""
    tf.keras.utils.set_random_seed(0)  # the same model whatever ran before
    model = zoo.create_model("vq_tiny", num_codes=16)
    model(tf.zeros([1, 32, 32, 3]))
    rng = np.random.default_rng(5)
    model.quantizer.logits.assign(rng.normal(0, 2.0, 16).astype(np.float32))
    return zoo.Codec(model)


def test_round_trip_through_saved_weights(skewed_codec, kodak_image, tmp_path):
    image = np.ascontiguousarray(kodak_image[:45, :70])
    data, reconstruction = skewed_codec.compress_with_reconstruction(image)
    path = tmp_path / "vq_tiny.npz"
    zoo.weights.save(skewed_codec.model, path)
    loaded = zoo.Codec(zoo.weights.load(path))
    np.testing.assert_array_equal(loaded.model.quantizer.tables_cdf.numpy(),
                                  skewed_codec.model.quantizer.tables_cdf.numpy())
    np.testing.assert_array_equal(loaded.decompress(data), reconstruction)
    np.testing.assert_array_equal(skewed_codec.decompress(data), reconstruction)


def test_m_equals_1_round_trip(kodak_image):
    codec = zoo.Codec(zoo.create_model("vq_tiny", vector_size=1, latent_channels=3))
    image = np.ascontiguousarray(kodak_image[7:40, 9:30])
    data, reconstruction = codec.compress_with_reconstruction(image)
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)


def test_file_size_is_close_to_the_hard_cross_entropy(skewed_codec, kodak_image):
    image = np.ascontiguousarray(kodak_image[200:328, 300:428])  # 32×32×2 = 2048 codes
    _, payloads = container.unpack(skewed_codec.compress(image))
    actual = 8 * len(payloads[0])
    estimate = skewed_codec.estimate_bits(image)
    x = tf.constant(image[None], tf.float32)
    hard = float(skewed_codec.model.rd_losses(x, training=False)["bpp"][0]) * 128 * 128
    assert estimate == pytest.approx(hard, rel=1e-5)
    assert estimate * 0.99 - 32 <= actual <= estimate * 1.01 + 32


@pytest.mark.slow  # a real SavedModel save and load: ~10 s
def test_codec_servable_matches_the_codec(skewed_codec, kodak_image, tmp_path):
    from export import servables

    image = np.ascontiguousarray(kodak_image[:37, :53])
    servable_dir = servables.CodecServable(skewed_codec.model).save(tmp_path / "codec" / "1")
    servables.register_custom_ops()
    loaded = tf.saved_model.load(str(servable_dir))
    out = loaded.signatures["compress"](image=tf.constant(image))
    data, reconstruction = skewed_codec.compress_with_reconstruction(image)
    _, payloads = container.unpack(data)
    assert [bytes(s) for s in out["strings"].numpy()] == payloads
    decoded = loaded.signatures["decompress"](strings=out["strings"], shape=out["shape"])
    np.testing.assert_array_equal(decoded["image"].numpy(), reconstruction)
