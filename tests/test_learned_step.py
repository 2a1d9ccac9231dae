"""learned_step (seed 001): learned per-channel steps, noise scaled by the step, centering
by estimated means, and β moving a single model along the rate axis at test time."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import kodak_path
from zoo import container
from zoo.latent_codecs import TRAIN
from zoo.registry import get_spec

BETAS = (1.0, 2.0, 4.0, 10.0)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 128×128 crop of kodim01 (textured: bricks, wood)."""
    return np.ascontiguousarray(zoo.read_image(kodak_path(1))[200:328, 300:428])


def calibrated_model(
    image: np.ndarray, name: str = "learned_step_tiny", step: float = 0.02, gain: float = 1.0
):
    """A tiny model whose untrained latents span many quantization bins.

    Untrained latents are small, so all of them round to zero at every β and nothing
    about the rate could be observed. A small step Δ, the means of this image and a
    Laplace scale matched to the scaled latents (what training would learn) make the
    coded latents a real signal: each β then quantizes them differently. Fixed-step
    models keep Δ = 1; `gain` scales their analysis output instead.
    """
    tf.keras.utils.set_random_seed(0)
    model = zoo.create_model(name)
    x = image[None].astype(np.float32)
    if model.learn_step:
        model.log_step.assign(np.full(model.num_latents, np.log(step), np.float32))
    model.latents(x)  # builds the layers
    last = model.analysis.get_layer("conv_3")
    last.kernel.assign(last.kernel * gain)
    model.estimate_mean(x)
    z = (model.latents(x) - model.latent_mean) / model.step_sizes
    model.log_scale.assign(np.log(np.mean(np.abs(z.numpy()), axis=(0, 1, 2))))
    return model


def test_families_are_registered_as_variable_rate_beta_models():
    for name in ("learned_step", "learned_step_tiny", "gdn_fixed_step", "gdn_fixed_step_tiny"):
        assert get_spec(name).family == "learned_step"
    assert get_spec("learned_step_tiny").tiny and get_spec("gdn_fixed_step_tiny").tiny
    model = zoo.create_model("learned_step_tiny")
    assert model.rate_parameter == "beta" and model.rate_spec.bounds == (1.0, 10.0)
    assert model.log_step.trainable
    fixed = zoo.create_model("gdn_fixed_step_tiny")
    assert not fixed.log_step.trainable and fixed.normalization is not None


def test_training_noise_is_scaled_by_each_channels_step(crop):
    model = zoo.create_model("learned_step_tiny")
    steps = np.geomspace(0.05, 2.0, model.num_latents).astype(np.float32)
    model.log_step.assign(np.log(steps))
    x = tf.constant(np.stack([crop[:64, :64], crop[64:, 64:]]), tf.float32)
    # The latent codec's training pass, as `rd_losses` runs it.
    y = model.latents(x)
    y_hat, _ = model.latent_codec.code(model.step(TRAIN, training=True), y, tf.shape(y)[1:3])
    offsets = ((y_hat - y) / steps).numpy().reshape(-1, len(steps))
    # Eq. 4: ỹ = y + Δ ⊙ τ with τ ~ U(−½, ½), the same law in every channel.
    assert np.all(np.abs(offsets) <= 0.5 + 1e-4)
    np.testing.assert_allclose(offsets.std(axis=0), 12**-0.5, rtol=0.35)


def test_the_rate_term_sees_the_step_and_training_moves_it(crop):
    model = calibrated_model(crop)
    x = tf.constant(np.stack([crop[:64, :64], crop[64:, 64:]]), tf.float32)
    with tf.GradientTape() as tape:
        bpp = tf.reduce_mean(model.rd_losses(x, training=True)["bpp"])
    # Larger steps must cost fewer bits: the entropy term is on y / Δ.
    assert np.all(tape.gradient(bpp, model.log_step).numpy() < 0)

    optimizer = tf.keras.optimizers.Adam(1e-2)
    before = model.log_step.numpy().copy()
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.rd_losses(x, training=True)["loss"])
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        assert np.isfinite(float(loss))
    assert np.all(model.log_step.numpy() != before)


@pytest.fixture(scope="module")
def codec(crop):
    return zoo.Codec(calibrated_model(crop))


def test_larger_beta_gives_smaller_files_decoded_bit_exactly(crop, codec, tmp_path):
    sizes, files = [], {}
    for beta in BETAS:
        data, reconstruction = codec.compress_with_reconstruction(crop, rate=beta)
        assert container.peek(data).rate == beta  # the file records β
        np.testing.assert_array_equal(codec.decompress(data), reconstruction)
        payload_bits = 8 * sum(len(p) for p in container.unpack(data)[1])
        assert payload_bits <= 1.05 * codec.estimate_bits(crop, rate=beta) + 64
        sizes.append(len(data))
        files[beta] = (data, reconstruction)
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes
    header = len(codec.compress(np.zeros((1, 1, 3), np.uint8)))
    assert sizes[0] - header > 2 * (sizes[-1] - header), "β barely moves the rate"
    # No rate given: β = 1, the steps as learned.
    assert codec.compress(crop) == files[1.0][0]

    # The steps, means and scales travel with the weights: another process decodes.
    path = tmp_path / "weights.npz"
    zoo.weights.save(codec.model, path)
    reloaded = zoo.load(path)
    np.testing.assert_array_equal(reloaded.decompress(files[4.0][0]), files[4.0][1])


def test_beta_outside_the_papers_range_is_refused(crop, codec):
    for beta in (0.5, 10.5, float("nan")):
        with pytest.raises(ValueError, match=r"\[1, 10\]"):
            codec.compress(crop, rate=beta)
    wide = zoo.create_model("learned_step_tiny", beta_range=(0.5, 20.0))
    assert wide.check_rate(15.0) == 15.0
    with pytest.raises(ValueError, match="beta_range"):
        zoo.create_model("learned_step_tiny", beta_range=(2.0, 10.0))


def test_means_are_estimated_from_batches(crop):
    model = zoo.create_model("learned_step_tiny")
    batches = [crop[None, :64, :64], crop[None, 64:, :64], crop[None, :, 64:]]
    mean = model.estimate_mean(iter(batches))
    latents = [model.latents(tf.constant(b, tf.float32)).numpy() for b in batches]
    flat = np.concatenate([y.reshape(-1, model.num_latents) for y in latents])
    np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.latent_mean.numpy(), mean, rtol=1e-6)
    assert np.max(np.abs(mean)) > 0.01  # the centering is not a no-op here
    with pytest.raises(ValueError, match="at least one image"):
        model.estimate_mean([])


def test_fixed_step_variant_round_trips_across_betas(crop):
    model = calibrated_model(crop, name="gdn_fixed_step_tiny", gain=30.0)
    np.testing.assert_array_equal(model.step_sizes.numpy(), 1.0)
    codec = zoo.Codec(model)
    sizes = []
    for beta in (1.0, 3.0, 10.0):
        data, reconstruction = codec.compress_with_reconstruction(crop, rate=beta)
        np.testing.assert_array_equal(codec.decompress(data), reconstruction)
        sizes.append(len(data))
    assert sizes[0] > sizes[1] > sizes[2], sizes


@pytest.mark.slow
def test_a_briefly_trained_model_trades_quality_for_rate_with_beta(crop):
    """300 steps on kodim01 patches: β then lowers both the rate and the PSNR, and a
    PSNR target is met by bisection over β with the fewest bits."""
    tf.keras.utils.set_random_seed(0)
    model = zoo.create_model("learned_step_tiny", lmbda=0.05)
    full = zoo.read_image(kodak_path(1)).astype(np.float32)
    optimizer = tf.keras.optimizers.Adam(1e-3)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.rd_losses(x, training=True)["loss"])
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))

    rng = np.random.default_rng(0)
    for _ in range(300):
        rows, cols = rng.integers(0, 512 - 64, 8), rng.integers(0, 768 - 64, 8)
        train_step(np.stack([full[r : r + 64, c : c + 64] for r, c in zip(rows, cols)]))
    model.estimate_mean(full[None])
    codec = zoo.Codec(model)
    points = []
    for beta in (1.0, 3.0, 10.0):
        data, decoded = codec.compress_with_reconstruction(crop, rate=beta)
        mse = np.mean(np.square(decoded.astype(np.float64) - crop))
        points.append((len(data), 10 * np.log10(255**2 / mse)))
    (s1, p1), (s3, p3), (s10, p10) = points
    assert s1 > s3 > s10 and p1 > p3 > p10, points
    target = (p1 + p3) / 2
    _, report = zoo.compress_to_target(crop, target_psnr=target, codec=codec)
    assert report.satisfied and target <= report.psnr <= target + 0.5
    assert 1.0 <= report.rate <= 3.0 and 8 * s3 / (128 * 128) <= report.bpp <= 8 * s1 / (128 * 128)


def test_fixed_step_weights_load_whatever_models_the_process_built_before(tmp_path):
    """The GDN normalizations are built outside any call: their variable names (weights
    keys) do not carry the model's process-unique Keras name (a rate study trains and
    then loads several such models in one process)."""
    from zoo import weights

    path = tmp_path / "gdn_fixed_step.npz"
    first = zoo.create_model("gdn_fixed_step_tiny")
    first(tf.zeros([1, 32, 32, 3]))
    weights.save(first, path)
    for _ in range(2):
        zoo.create_model("gdn_fixed_step_tiny")(tf.zeros([1, 32, 32, 3]))
    assert weights.fingerprint(weights.load(path)) == weights.fingerprint(first)
