"""Evaluation: BD-rate, MS-SSIM, anchors, and the real `python -m recipes.evaluate`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from recipes import bd_rate, classical, evaluation
from zoo import metrics

ROOT = Path(__file__).resolve().parents[1]


# BD-rate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pchip", "cubic"])
@pytest.mark.parametrize("factor", [0.8, 1.0, 1.5])
def test_bd_rate_of_a_constant_rate_factor_is_that_factor(method, factor):
    rates = np.array([0.15, 0.3, 0.55, 0.9, 1.6])
    psnr = np.array([27.0, 29.6, 32.1, 34.4, 37.9])
    result = bd_rate.bd_rate(rates, psnr, rates * factor, psnr, method)
    assert result == pytest.approx((factor - 1) * 100, abs=1e-9)


def test_bd_rate_on_a_hand_checked_log_linear_pair():
    # ref: PSNR = 30 + 6·log2(bpp); test reaches each PSNR with half the bits, sampled at
    # other points. On log-linear curves the interpolants are exact: BD-rate is -50 %.
    ref_bpp = np.array([0.25, 0.5, 1.0, 2.0])
    test_bpp = np.array([0.1, 0.3, 0.7, 1.2])
    curve = lambda bpp: 30 + 6 * np.log2(bpp)  # noqa: E731
    got = bd_rate.bd_rate(ref_bpp, curve(ref_bpp), test_bpp, curve(2 * test_bpp))
    assert got == pytest.approx(-50.0, abs=1e-6)
    # And the mirror image: the quality gain at equal rate is 6 dB (one doubling).
    assert bd_rate.bd_quality(ref_bpp, curve(ref_bpp), test_bpp, curve(2 * test_bpp)) == (
        pytest.approx(6.0, abs=1e-6)
    )


def test_bd_rate_without_overlap_or_points_is_nan():
    a = ([0.1, 0.2, 0.4], [25.0, 27.0, 29.0])
    b = ([0.5, 1.0, 2.0], [33.0, 36.0, 39.0])
    assert math.isnan(bd_rate.bd_rate(*a, *b))
    assert math.isnan(bd_rate.bd_rate([0.1], [25.0], *a))
    assert math.isnan(bd_rate.bd_rate(*a, *a, method="cubic"))  # cubic needs 4 points
    with pytest.raises(ValueError):
        bd_rate.bd_rate([0.1, 0.2], [1.0], *a)


# Metrics and anchors ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(37, 53), (64, 96), (12, 10)])
def test_numpy_ms_ssim_is_the_training_metric(shape):
    import tensorflow as tf

    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    expected = float(metrics.ms_ssim(tf.constant(a[None]), tf.constant(b[None]))[0])
    expected_mse = float(metrics.mse(tf.constant(a[None]), tf.constant(b[None]))[0])
    got = metrics.image_quality(a, b)
    assert got["ms-ssim"] == pytest.approx(expected, abs=2e-6)
    assert got["psnr"] == pytest.approx(metrics.psnr_from_mse(expected_mse), abs=1e-4)


def test_anchor_files_in_both_published_layouts(tmp_path):
    path = tmp_path / "anchors.json"
    path.write_text(json.dumps({
        "_about": "ignored",
        "paper/a": {"bpp_psnr": [0.2, 0.5], "psnr": [28.0, 32.0],
                    "bpp_ms-ssim": [0.21, 0.52], "ms-ssim": [0.9, 0.99]},
        "lib/b": {"bpp": [0.3, 0.6], "psnr": [29.0, 33.0]},
    }))
    curves = {c.name: c for c in evaluation.load_anchors(path)}
    assert sorted(curves) == ["lib/b", "paper/a"]
    bpp, db = curves["paper/a"].points("ms-ssim")
    np.testing.assert_allclose(bpp, [0.21, 0.52])
    np.testing.assert_allclose(db, [10.0, 20.0])
    assert len(curves["lib/b"].points("ms-ssim")[0]) == 0
    assert [c.name for c in evaluation.load_anchors(path, ["lib/*"])] == ["lib/b"]
    with pytest.raises(ValueError, match="matches"):
        evaluation.load_anchors(path, ["nothing"])


def test_model_without_pretrained_weights_points_to_weights_flag():
    with pytest.raises(zoo.WeightsError, match="--weights"):
        evaluation.learned_codecs("hyperprior_tiny")


@pytest.mark.slow  # CI time; the fast suite covers the parts in-process
def test_pretrained_selects_every_shipped_model_once():
    groups = evaluation.learned_codecs("pretrained")
    shipped = {(e.name, e.metric, e.lmbda) for e in zoo.list_pretrained()}
    assert set(groups) == {f"{name}-{metric}" for name, metric, _ in shipped}
    coded = {(c.name, c.metric, c.lmbda) for codecs in groups.values() for c in codecs}
    assert coded == shipped and sum(map(len, groups.values())) == len(shipped)


# Whole runs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    for i in range(2):
        image = np.stack([xx * 3 + 20 * i, yy * 4, (xx + yy) * 2], -1) + rng.integers(0, 24, (48, 64, 3))
        zoo.write_png(np.clip(image, 0, 255).astype(np.uint8), folder / f"img{i}.png")
    return folder


def test_classical_run_measures_real_files(image_folder, tmp_path):
    config = evaluation.EvalConfig(
        output=str(tmp_path), dataset=str(image_folder), codecs=["jpeg", "webp"],
        qualities={"jpeg": (30, 80), "webp": (40, 85)}, progress=False,
    )
    report = evaluation.run(config)
    summary = json.loads((tmp_path / "jpeg.json").read_text())
    results = summary["results"]
    assert summary["name"] == "jpeg" and summary["parameters"] == [30, 80]
    for key in ("bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "encoding_time",
                "decoding_time"):
        assert len(results[key]) == 2
    assert results["bpp"][0] < results["bpp"][1] and results["psnr-rgb"][0] < results["psnr-rgb"][1]
    # bpp is the size of the real file over the original pixels, averaged over images.
    details = json.loads((tmp_path / "jpeg.per_image.json").read_text())["images"]
    images = {p.stem: zoo.read_image(p) for p in image_folder.iterdir()}
    for record in details:
        data = classical.get_codec("jpeg").encode(images[record["image"]], record["quality"])
        assert record["bytes"] == len(data)
        assert record["bpp"] == pytest.approx(len(data) * 8 / (48 * 64))
    assert results["bpp"][1] == pytest.approx(np.mean([r["bpp"] for r in details[2:]]))
    bd = json.loads((tmp_path / "bd_rate.json").read_text())
    assert math.isfinite(bd["psnr"]["webp"]["jpeg"])
    assert bd["psnr"]["webp"]["jpeg"] == pytest.approx(report.bd_table["psnr"]["webp"]["jpeg"])
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "BD-rate" in report.table and "webp" in report.table


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    model = zoo.create_model("hyperprior_tiny")
    path = tmp_path_factory.mktemp("weights") / "hyperprior_tiny.npz"
    zoo.weights.save(model, path)
    return path, zoo.Codec(model)


def test_driver_evaluates_weights_file_against_codecs_and_anchor(
    tiny_weights, image_folder, tmp_path
):
    path, codec = tiny_weights
    anchors = tmp_path / "anchors.json"
    anchors.write_text(json.dumps(
        {"paper/x": {"bpp": [0.5, 1.0, 2.0], "psnr": [25.0, 28.0, 31.0],
                     "ms-ssim": [0.9, 0.95, 0.98]}}))
    output = tmp_path / "out"
    command = [
        sys.executable, "-m", "recipes.evaluate", f"--weights={path}",
        f"--dataset={image_folder}", f"--output={output}", "--codecs=jpeg",
        "--qualities=jpeg=20,60", f"--anchors={anchors}", "--max_images=1",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "hyperprior_tiny-mse" in done.stdout and "paper/x" in done.stdout
    learned = json.loads((output / "hyperprior_tiny-mse.json").read_text())
    assert learned["kind"] == "learned" and learned["parameters"] == [pytest.approx(codec.lmbda)]
    (record,) = json.loads((output / "hyperprior_tiny-mse.per_image.json").read_text())["images"]
    # The evaluated file is exactly what the Codec writes for those weights.
    image = zoo.read_image(image_folder / f"{record['image']}.png")
    assert record["bytes"] == len(codec.compress(image))
    bd = json.loads((output / "bd_rate.json").read_text())
    assert set(bd["psnr"]["jpeg"]) == {"paper/x"}
    run = json.loads((output / "run.json").read_text())
    assert run["flags"]["weights"] == [str(path)]
    assert (output / "rd.png").is_file()
