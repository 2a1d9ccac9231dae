"""Compression to a target bpp or PSNR: bisection over a variable-rate model's β, and over
a ladder of fixed-λ pretrained models published into a temporary records dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from export import publish
from tests.conftest import kodak_path
from tests.test_learned_step import calibrated_model
from zoo import container, pretrained

ROOT = Path(__file__).resolve().parents[1]
PIXELS = 128 * 128


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    return np.ascontiguousarray(zoo.read_image(kodak_path(1))[200:328, 300:428])


@pytest.fixture(scope="module")
def codec(crop):
    return zoo.Codec(calibrated_model(crop))


def bpp_of(data: bytes) -> float:
    return 8 * len(data) / PIXELS


@pytest.fixture(scope="module")
def span(codec, crop) -> tuple[float, float]:
    """(bpp at β = 10, bpp at β = 1): the range a search over β can reach."""
    return bpp_of(codec.compress(crop, rate=10.0)), bpp_of(codec.compress(crop, rate=1.0))


@pytest.mark.parametrize("where", [0.3, 0.7])
def test_bisection_lands_within_tolerance_of_the_target_bpp(codec, crop, span, where):
    low, high = span
    assert high > 1.5 * low
    target = low + where * (high - low)
    data, report = zoo.compress_to_target(crop, target_bpp=target, codec=codec)
    assert report.satisfied
    assert target * (1 - 0.02) <= report.bpp <= target
    assert report.bpp == bpp_of(data)
    assert report.rate_parameter == "beta" and 1.0 < report.rate < 10.0
    assert container.peek(data).rate == report.rate
    assert len(report.probes) > 2 and report.probes[:2] == [
        p for p in report.probes if p.rate in (1.0, 10.0)
    ]
    decoded = codec.decompress(data)
    mse = np.mean(np.square(decoded.astype(np.float64) - crop))
    assert report.psnr == pytest.approx(10 * np.log10(255**2 / mse))


def test_targets_out_of_reach_return_the_closest_file(codec, crop, span):
    low, high = span
    data, report = zoo.compress_to_target(crop, target_bpp=0.5 * low, codec=codec)
    assert not report.satisfied and report.rate == 10.0 and report.bpp == low
    assert len(report.probes) == 2 and "NOT reachable" in report.summary()
    data, report = zoo.compress_to_target(crop, target_bpp=2 * high, codec=codec)
    assert report.satisfied and report.rate == 1.0 and bpp_of(data) == high


def test_psnr_target_keeps_the_smallest_file_meeting_it(codec, crop):
    _, easy = zoo.compress_to_target(crop, target_psnr=1.0, codec=codec)
    assert easy.satisfied and easy.rate == 10.0  # every β meets it: the fewest bits win
    _, hard = zoo.compress_to_target(crop, target_psnr=60.0, codec=codec)
    assert not hard.satisfied and hard.psnr == max(p.psnr for p in hard.probes)


def test_bad_requests_are_refused(codec, crop):
    with pytest.raises(ValueError, match="exactly one of target"):
        zoo.compress_to_target(crop, codec=codec)
    with pytest.raises(ValueError, match="exactly one of target"):
        zoo.compress_to_target(crop, target_bpp=1, target_psnr=30, codec=codec)
    with pytest.raises(ValueError, match="exactly one of codec"):
        zoo.compress_to_target(crop, target_bpp=1)
    with pytest.raises(ValueError, match="positive"):
        zoo.compress_to_target(crop, target_bpp=-1, codec=codec)
    fixed = zoo.Codec(zoo.create_model("factorized_tiny"))
    with pytest.raises(ValueError, match="fixed-rate.*name="):
        zoo.compress_to_target(crop, target_bpp=1, codec=fixed)
    with pytest.raises(zoo.ImageError):
        zoo.compress_to_target(crop[..., 0], target_bpp=1, codec=codec)


# A ladder of fixed-λ models ---------------------------------------------------------

LADDER = {0.0035: 3.0, 0.0067: 30.0, 0.013: 300.0}  # λ -> gain of the analysis output
EVALUATION = {"bpp": 0.3, "psnr": 20.0}


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, crop):
    """Records dir with three published factorized_tiny entries, and each rung's bpp.

    Untrained models carry no notion of λ, so each rung's analysis output is scaled up
    with λ: bigger latents cost more bits, as a trained ladder's do.
    """
    work = tmp_path_factory.mktemp("ladder")
    records = work / "records"
    rungs = {}
    for i, (lmbda, gain) in enumerate(LADDER.items()):
        model = zoo.create_model("factorized_tiny", lmbda=lmbda)
        model(np.zeros([1, 16, 16, 3], np.float32))
        last = model.analysis.get_layer("conv_3")
        last.kernel.assign(last.kernel * gain)
        data = zoo.Codec(model).compress(crop)
        rungs[lmbda] = (bpp_of(data), data)
        artifact = work / f"run{i}" / "weights.npz"
        zoo.weights.save(model, artifact, steps=1)
        publish.publish(artifact, EVALUATION, 1, records_dir=records, weights_dir=records)
    sizes = [rungs[lmbda][0] for lmbda in sorted(rungs)]
    assert sizes[0] < sizes[1] < sizes[2], sizes  # the premise of the ladder tests
    return records, rungs


@pytest.fixture
def registry(ladder, monkeypatch, tmp_path):
    records, rungs = ladder
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(records))
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(pretrained.URL_ENV, raising=False)
    return rungs


def test_ladder_search_picks_the_best_rung_under_the_target(registry, crop):
    rungs = registry
    (l0, (b0, _)), (l1, (b1, d1)), (l2, (b2, _)) = sorted(rungs.items())
    data, report = zoo.compress_to_target(crop, target_bpp=(b1 + b2) / 2, name="factorized_tiny")
    assert report.satisfied and report.lmbda == l1 and data == d1
    assert report.rate_parameter is None and report.model == "factorized_tiny"
    # The file names the weights of its rung, so `zoo.decompress` finds them.
    [entry] = [e for e in zoo.list_pretrained("factorized_tiny") if e.lmbda == l1]
    assert entry.fingerprint.startswith(container.peek(data).fingerprint.hex())
    _, report = zoo.compress_to_target(crop, target_bpp=b2 + 0.01, name="factorized_tiny")
    assert report.lmbda == l2 and len(report.probes) == 2
    _, report = zoo.compress_to_target(crop, target_bpp=b0 / 2, name="factorized_tiny")
    assert not report.satisfied and report.lmbda == l0
    _, report = zoo.compress_to_target(crop, target_psnr=1.0, name="factorized_tiny")
    assert report.satisfied and report.lmbda == l0  # all rungs meet it: the smallest file
    with pytest.raises(zoo.WeightsError, match="no pretrained weights"):
        zoo.compress_to_target(crop, target_bpp=1, name="hyperprior_tiny")


def test_cli_ladder_target(registry, crop, tmp_path, capsys):
    from zoo import cli

    (_, (b0, _)), (_, (b1, _)), _ = sorted(registry.items())
    source = tmp_path / "crop.png"
    zoo.write_png(crop, source)
    out = tmp_path / "crop.lic"
    args = ["compress", str(source), str(out), "--model", "factorized_tiny"]
    assert cli.main(args + ["--target_bpp", str((b0 + b1) / 2)]) == 0
    assert container.peek(out.read_bytes()).lmbda == sorted(registry)[0]
    assert "reached" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(args + ["--target_bpp", "1", "--target_psnr", "30"])


def test_cli_target_bpp_in_a_fresh_process(codec, crop, span, tmp_path):
    weights = tmp_path / "weights.npz"
    zoo.weights.save(codec.model, weights)
    source, out = tmp_path / "crop.png", tmp_path / "crop.lic"
    zoo.write_png(crop, source)
    target = sum(span) / 2
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "zoo", "compress", str(source), str(out), "--weights",
         str(weights), "--target_bpp", str(target)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "reached" in result.stdout and "beta=" in result.stdout
    data = out.read_bytes()
    assert target * 0.98 <= bpp_of(data) <= target
    beta = container.peek(data).rate
    assert data == codec.compress(crop, rate=beta)  # the same file this process makes


def test_lambda_search_of_a_variable_rate_model_reports_the_lambda_it_coded_at(crop):
    """hyperprior_vr with its latent gains set by hand to √(λ/λ₀) (analysis) and its
    inverse (synthesis): the rate then rises with λ, as after training."""
    model = zoo.create_model("hyperprior_vr_tiny", parameterization="latent_scaling")
    model.rd_losses(crop[None, :64, :64].astype(np.float32), training=False)  # builds it
    # Scale indexes from 0 (σ = 0.11), not the training start σ = 1: small scales make the
    # rate follow the gains steeply, as a trained model's does.
    bias = model.hyper_synthesis.layers[-1].bias
    bias.assign(tf.zeros_like(bias))
    for transform, sign in ((model.analysis, 1.0), (model.synthesis, -1.0)):
        [modulation] = [s for s in transform.stages if hasattr(s, "scale_fn")]
        fn = modulation.scale_fn
        gains = np.sqrt(fn.knot_lambdas() / model.lmbda) ** sign
        fn.knot_values.assign(gains[:, None].astype(np.float32) / fn.lr_multiplier)
    codec = zoo.Codec(model)
    low, high = (bpp_of(codec.compress(crop, rate=r)) for r in model.lmbda_range)
    assert high > 1.5 * low
    data, report = zoo.compress_to_target(crop, target_bpp=(low + high) / 2, codec=codec)
    assert report.satisfied and report.rate_parameter == "lmbda"
    low_l, high_l = model.lmbda_range
    assert low_l < report.rate < high_l and report.lmbda == report.rate
    assert container.peek(data).rate == report.rate
    assert f"λ={report.rate:g}" in report.summary() and "lmbda=" not in report.summary()
