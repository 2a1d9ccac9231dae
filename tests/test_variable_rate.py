"""Variable-rate models (seed 004 §V): every λ-parameterization builds, trains, and codes
bit-exactly at several λ; the splines interpolate as documented; λ outside the range is
refused; the trainer gives every example its own λ."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import container
from zoo.lambda_layers import PARAMETERIZATIONS, LambdaFunction, geometric_mean

LOW, HIGH = 0.0018, 0.0483
RATES = (LOW, 0.0093, HIGH)


def _train_step(model, lmbdas=(0.002, 0.04)) -> dict:
    optimizer = tf.keras.optimizers.Adam(1e-3)
    x = tf.random.uniform([2, 32, 32, 3], 0, 255, seed=3)
    with tf.GradientTape() as tape:
        terms = model.rd_losses(x, training=True, lmbda=tf.constant(lmbdas))
        loss = tf.reduce_mean(terms["loss"])
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.name for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing, f"no gradient for {missing}"
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return terms


# The factorized family's default (gdn) runs in the shared battery, and its latent_scaling
# and layer_affine variants below; all of its parameterizations are in the slow set.
CASES = [("hyperprior_vr_tiny", p) for p in PARAMETERIZATIONS] + [
    pytest.param("factorized_vr_tiny", p, marks=pytest.mark.slow) for p in PARAMETERIZATIONS
]


@pytest.mark.parametrize(("name", "parameterization"), CASES)
def test_each_parameterization_trains_and_round_trips(name, parameterization, odd_image):
    model = zoo.create_model(name, parameterization=parameterization)
    terms = _train_step(model)
    # The per-example λ is the one in the loss.
    expected = terms["bpp"] + tf.constant([0.002, 0.04]) * terms["distortion"]
    np.testing.assert_allclose(terms["loss"].numpy(), expected.numpy(), rtol=1e-5)
    codec = zoo.Codec(model)
    for rate in RATES:
        data, reconstruction = codec.compress_with_reconstruction(odd_image, rate=rate)
        assert container.peek(data).rate == rate  # the container records λ
        np.testing.assert_array_equal(codec.decompress(data), reconstruction)
        assert codec.compress(odd_image, rate=rate) == data


def test_mlp_functions_and_entropy_conditioning(odd_image):
    model = zoo.create_model("hyperprior_vr_tiny", parameterization="layer_affine",
                             function="mlp", condition_entropy=True)
    _train_step(model)
    codec = zoo.Codec(model)
    data, reconstruction = codec.compress_with_reconstruction(odd_image, rate=0.03)
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)
    with pytest.raises(ValueError, match="hyper transforms"):
        zoo.create_model("factorized_vr_tiny", condition_entropy=True)
    with pytest.raises(ValueError, match="parameterization must be one of"):
        zoo.create_model("factorized_vr_tiny", parameterization="film")


def test_gdn_parameterization_needs_gdn():
    with pytest.raises(ValueError, match="needs GDN layers"):
        zoo.create_model("factorized_vr_tiny", parameterization="gdn", nonlinearity="relu")
    model = zoo.create_model("factorized_vr_tiny", parameterization="layer_scaling",
                             nonlinearity="relu")
    _train_step(model)


def test_spline_is_exact_at_knots_and_linear_between():
    fn = LambdaFunction(3, (LOW, HIGH), num_knots=25)
    fn(tf.constant([0.01]))
    values = np.random.default_rng(0).normal(size=(25, 3)).astype(np.float32)
    fn.knot_values.assign(values)
    knots = fn.knot_lambdas()
    assert math.isclose(knots[0], LOW) and math.isclose(knots[-1], HIGH)
    np.testing.assert_allclose(fn(tf.constant(knots, tf.float32)).numpy(), values, atol=2e-5)
    # A quarter of the way between knots 7 and 8 on the log axis.
    between = math.exp(0.75 * math.log(knots[7]) + 0.25 * math.log(knots[8]))
    np.testing.assert_allclose(
        fn(tf.constant([between]))[0].numpy(), 0.75 * values[7] + 0.25 * values[8], atol=1e-4
    )
    # Constant beyond the range (the model refuses such λ anyway).
    np.testing.assert_allclose(fn(tf.constant([HIGH * 3]))[0].numpy(), values[-1], atol=1e-6)


def test_lambda_moves_the_rate(odd_image):
    """Latent scaling growing with λ: the file grows with λ, all from one model."""
    tf.keras.utils.set_random_seed(0)  # the same untrained weights whatever ran before
    model = zoo.create_model("factorized_vr_tiny", parameterization="latent_scaling")
    model.build_coders()
    [analysis_scale] = [v for v in model.analysis.trainable_variables if "knot_values" in v.name]
    [synthesis_scale] = [v for v in model.synthesis.trainable_variables if "knot_values" in v.name]
    # An untrained model's latents are tiny: scale them up to well beyond one step.
    steps = np.geomspace(1.0, 1000.0, 25).astype(np.float32)[:, None]
    analysis_scale.assign(steps)
    synthesis_scale.assign(1.0 / steps)
    codec = zoo.Codec(model)
    estimates = [codec.estimate_bits(odd_image, rate=rate) for rate in RATES]
    sizes = [len(codec.compress(odd_image, rate=rate)) for rate in RATES]
    assert estimates[0] < estimates[1] < estimates[2], estimates
    assert sizes[0] <= sizes[1] < sizes[2], sizes


def test_lambda_outside_the_range_is_refused(odd_image):
    codec = zoo.Codec(zoo.create_model("hyperprior_vr_tiny", parameterization="latent_affine"))
    assert math.isclose(codec.lmbda, geometric_mean((LOW, HIGH)))
    # Without a rate the default λ is used and recorded.
    assert container.peek(codec.compress(odd_image)).rate == pytest.approx(codec.lmbda)
    for bad in (0.1, 0.001, float("nan")):
        with pytest.raises(ValueError, match=r"outside the range .*\[0\.0018, 0\.0483\]"):
            codec.compress(odd_image, rate=bad)
    with pytest.raises(ValueError, match="outside lmbda_range"):
        zoo.create_model("hyperprior_vr_tiny", lmbda=0.2)
    with pytest.raises(ValueError, match="0 < low < high"):
        zoo.create_model("hyperprior_vr_tiny", lmbda_range=(0.01, 0.001))


def test_weights_round_trip_keeps_the_range(tmp_path, odd_image):
    model = zoo.create_model("factorized_vr_tiny", parameterization="layer_affine",
                             lmbda_range=(0.003, 0.03))
    _train_step(model, (0.003, 0.03))
    zoo.weights.save(model, tmp_path / "w.npz")
    codec = zoo.load(tmp_path / "w.npz")
    assert codec.model.lmbda_range == (0.003, 0.03)
    assert codec.fingerprint == zoo.weights.fingerprint(model)
    data = zoo.Codec(model).compress(odd_image, rate=0.02)
    np.testing.assert_array_equal(codec.decompress(data), zoo.Codec(model).decompress(data))


def test_trainer_samples_log_uniform_lambdas_per_example(tmp_path):
    from recipes import trainer
    from zoo.rates import RateSpec

    spec = RateSpec("lmbda", LOW, HIGH, default=math.sqrt(LOW * HIGH))
    seed = tf.constant([0, 5], tf.int64)
    draw = spec.sample(4096, seed).numpy()
    assert draw.shape == (4096,) and draw.min() >= LOW * 0.999 and draw.max() <= HIGH * 1.001
    np.testing.assert_array_equal(draw, spec.sample(4096, seed).numpy())
    assert not np.array_equal(draw, spec.sample(4096, seed + 1).numpy())
    # Log-uniform: log λ is uniform, so its quartiles sit at 1/4, 1/2, 3/4 of the log range.
    u = (np.log(draw) - math.log(LOW)) / (math.log(HIGH) - math.log(LOW))
    np.testing.assert_allclose(np.quantile(u, [0.25, 0.5, 0.75]), [0.25, 0.5, 0.75], atol=0.03)

    strategy = tf.distribute.get_strategy()
    config = trainer.TrainConfig(model="hyperprior_vr_tiny", workdir=str(tmp_path), batchsize=2,
                                 patchsize=32)
    run = trainer.Trainer(config, strategy)
    lmbdas = run.training_lambdas(tf.constant(8)).numpy()
    assert len(set(lmbdas.tolist())) == 8 and lmbdas.min() >= LOW and lmbdas.max() <= HIGH
    images = tf.data.Dataset.from_tensors(tf.random.uniform([2, 32, 32, 3], 0, 255, seed=2))
    out = run.train_step(iter(images.repeat()), tf.constant(1.0))
    assert np.isfinite(float(out["loss"])) and int(run.step.numpy()) == 1
    # The next step draws other λ; a fixed-rate model draws none.
    assert not np.array_equal(lmbdas, run.training_lambdas(tf.constant(8)).numpy())
    fixed = trainer.Trainer(trainer.TrainConfig(model="hyperprior_tiny", workdir=str(tmp_path / "f"),
                                                batchsize=2, patchsize=32), strategy)
    assert fixed.training_lambdas(tf.constant(2)) is None


def test_rate_study_report_writes_plot_and_bd_table(tmp_path):
    """The study's last stage on made-up curves: a 10% rate overhead reads as BD-rate +10%."""
    from recipes import rate_study
    from recipes.evaluation import Curve

    def curve(name, factor):
        bpp = [0.2 * factor, 0.4 * factor, 0.8 * factor]
        psnr = [28.0, 31.0, 34.0]
        ms = [0.9, 0.95, 0.98]
        results = {"bpp": bpp, "psnr-rgb": psnr, "ms-ssim-rgb": ms,
                   "ms-ssim-rgb-db": [-10 * math.log10(1 - m) for m in ms],
                   "encoding_time": [0.1] * 3, "decoding_time": [0.1] * 3}
        return Curve(name, "learned", results=results, parameter="lmbda",
                     parameters=[0.0035, 0.013, 0.0483], per_image=[{"image": "kodim01"}])

    config = rate_study.quick_config(str(tmp_path))
    curves = [curve(rate_study.FULL, 1.0), curve("layer_affine", 1.1), curve("gdn", 1.0)]
    result = rate_study.report(config, curves)
    assert (tmp_path / "results" / "rd.png").stat().st_size > 10_000
    table = result["bd_table"]["psnr"]
    assert table["layer_affine"][rate_study.FULL] == pytest.approx(10.0, abs=1e-6)
    assert table["gdn"][rate_study.FULL] == pytest.approx(0.0, abs=1e-6)
    assert "+10.0%" in result["table"]
    coverage = rate_study.coverage_table(curves, result["bd_table"])
    assert "layer_affine" in coverage and "100%" in coverage
    again = rate_study.run(config, report_only=True)  # from the files the report wrote
    assert again["bd_table"] == result["bd_table"]


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_warm_start_from_the_fixed_rate_model_is_that_model_at_every_lambda(parameterization):
    fixed = zoo.create_model("hyperprior_tiny", lmbda=0.01)
    x = tf.random.uniform([1, 32, 32, 3], 0, 255, seed=4)
    optimizer = tf.keras.optimizers.Adam(1e-2)  # a few steps, so no variable is at its init
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(fixed.rd_losses(x, training=True)["loss"])
        optimizer.apply_gradients(zip(tape.gradient(loss, fixed.trainable_variables),
                                      fixed.trainable_variables))
    vr = zoo.create_model("hyperprior_vr_tiny", parameterization=parameterization,
                          function_lr_multiplier=30.0)
    vr.rd_losses(x, training=False)  # builds it
    before = vr.rd_losses(x, training=False, lmbda=tf.constant([LOW]))
    vr.initialize_from_fixed_rate(fixed)
    want = fixed.rd_losses(x, training=False)
    for lmbda in (LOW, 0.01, HIGH):
        got = vr.rd_losses(x, training=False, lmbda=tf.constant([lmbda]))
        for key in ("bpp", "distortion"):
            np.testing.assert_allclose(got[key].numpy(), want[key].numpy(), rtol=2e-4)
    # Before the warm start it was another model (untrained distortions are all ~2e4).
    assert not np.allclose(before["x_hat"].numpy(), want["x_hat"].numpy(), atol=0.5)
    with pytest.raises(ValueError, match="variable-rate already"):
        vr.initialize_from_fixed_rate(vr)
    wider = zoo.create_model("hyperprior_tiny", num_filters=16)
    wider.rd_losses(x, training=False)
    with pytest.raises(ValueError, match="other filter counts"):
        vr.initialize_from_fixed_rate(wider)


def test_function_lr_multiplier_speeds_up_only_the_functions_of_lambda():
    lmbdas = tf.constant([0.003, 0.02])
    moved = {}
    for multiplier in (1.0, 30.0):
        fn = LambdaFunction(4, initial=1.0, lr_multiplier=multiplier)
        np.testing.assert_allclose(fn(lmbdas).numpy(), 1.0)  # same function at the start
        optimizer = tf.keras.optimizers.Adam(1e-3)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fn(lmbdas))
        optimizer.apply_gradients(zip(tape.gradient(loss, fn.trainable_variables),
                                      fn.trainable_variables))
        moved[multiplier] = float(np.abs(fn(lmbdas).numpy() - 1.0).max())
    np.testing.assert_allclose(moved[30.0] / moved[1.0], 30.0, rtol=1e-3)
    with pytest.raises(ValueError, match="lr_multiplier"):
        LambdaFunction(4, lr_multiplier=0.0)


def test_rate_study_warm_start_names_a_file_or_a_pretrained_entry(tmp_path):
    from recipes import rate_study
    from zoo import pretrained

    config = rate_study.quick_config(str(tmp_path), init_from="hyperprior@0.013")
    want = pretrained.weights_file(pretrained.find("hyperprior", 0.013))
    assert config.init_weights() == str(want)
    assert rate_study.quick_config(str(tmp_path), init_from=str(want)).init_weights() == str(want)
    assert rate_study.quick_config(str(tmp_path)).init_weights() is None
    with pytest.raises(zoo.WeightsError, match="not name@λ"):
        rate_study.quick_config(str(tmp_path), init_from=str(tmp_path / "missing.npz")).init_weights()
    with pytest.raises(zoo.WeightsError, match="available λ"):
        pretrained.resolve("hyperprior@0.5")


def test_trainer_warm_starts_a_variable_rate_model_from_fixed_rate_weights(tmp_path):
    from recipes import trainer

    fixed = zoo.create_model("hyperprior_tiny", lmbda=0.01)
    x = tf.random.uniform([1, 32, 32, 3], 0, 255, seed=6)
    fixed.rd_losses(x, training=False)
    for v in fixed.trainable_variables:  # a distinct model, not the fresh initialization
        v.assign(v * 1.01)
    zoo.weights.save(fixed, tmp_path / "fixed.npz")
    config = trainer.TrainConfig(
        model="hyperprior_vr_tiny", workdir=str(tmp_path / "vr"), batchsize=2, patchsize=32,
        init_from=str(tmp_path / "fixed.npz"), precision="float32",  # auto is bf16 on AMX
        model_overrides={"parameterization": "gdn", "function_lr_multiplier": 100.0})
    run = trainer.Trainer(config, tf.distribute.get_strategy())
    assert run.precision.policy == "float32"
    assert run.restore() == 0
    want = fixed.rd_losses(x, training=False)["bpp"].numpy()
    for lmbda in (LOW, HIGH):
        got = run.model.rd_losses(x, training=False, lmbda=tf.constant([lmbda]))["bpp"].numpy()
        np.testing.assert_allclose(got, want, rtol=2e-4)
