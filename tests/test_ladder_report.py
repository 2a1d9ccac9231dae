"""recipes.ladder_report (issue #8, point 4) on the tiny PLN and small Kodak crops."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import zoo
from recipes import ladder_report
from zoo import metrics, weights


@pytest.fixture(scope="module")
def crops(kodak_image) -> list[tuple[str, np.ndarray]]:
    return [
        ("top_left", np.ascontiguousarray(kodak_image[:64, :64])),
        ("middle", np.ascontiguousarray(kodak_image[200:248, 300:372])),  # 48×72
    ]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("ladder") / "weights.npz"
    weights.save(zoo.create_model("ladder_tiny"), path)  # is-gs: no index table to fit
    return path


def test_bound_uses_bits():
    assert ladder_report.bound_bits(0.0) == 0.0
    assert ladder_report.bound_bits(3.0) == pytest.approx(3.0 + 2 * 2.0)  # log2(4) = 2


def test_report_measures_real_files_against_the_bound(saved_model, crops, tmp_path):
    model = ladder_report.load_model(saved_model)
    result = ladder_report.report(model, crops, tmp_path / "out", weights_path=saved_model,
                                  progress=False)
    assert [row["image"] for row in result["images"]] == ["top_left", "middle"]
    for (name, image), row in zip(crops, result["images"]):
        pixels = image.shape[0] * image.shape[1]
        assert row["file_bits"] >= row["payload_bits"] > 0
        assert row["payload_bits"] == sum(row["payload_bits_per_level"].values())
        assert set(row["kl_bits_per_level"]) == {"1", "2"}
        assert row["kl_bits"] == pytest.approx(sum(row["kl_bits_per_level"].values()))
        assert row["kl_bits"] > 0 and row["bound_bits"] >= row["kl_bits"]
        assert row["bound_bits"] == pytest.approx(row["kl_bits"] + 2 * math.log2(row["kl_bits"] + 1))
        assert row["bpp"] == pytest.approx(row["file_bits"] / pixels)
        assert row["encode_s"] > 0 and row["decode_s"] > 0
        assert 0 < row["ms_ssim"] <= 1 and math.isfinite(row["psnr"])
        decoded = result["decoded"][name]
        assert decoded.dtype == np.uint8 and decoded.shape == image.shape
        # The report's PSNR is the decoded file's.
        assert row["psnr"] == pytest.approx(metrics.image_quality(image, decoded)["psnr"])
    # Means, identity and outputs.
    assert result["mean"]["bpp"] == pytest.approx(np.mean([r["bpp"] for r in result["images"]]))
    assert result["coding"] == "is-gs" and result["model"]["name"] == "ladder_tiny"
    assert result["weights"]["fingerprint"] == weights.load(saved_model).artifact_metadata["fingerprint"]
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk["images"] == result["images"] and "decoded" not in on_disk
    png = tmp_path / "out" / "bpp_vs_bound.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = ladder_report.format_table(result)
    assert "top_left" in table and "mean" in table


def test_a_file_decodes_to_the_reported_image(saved_model, crops, tmp_path):
    codec = zoo.load(saved_model)
    name, image = crops[0]
    row, decoded = ladder_report.measure(codec, image, name)
    data, reconstruction = codec.compress_with_reconstruction(image)
    assert 8 * len(data) == row["file_bits"]
    np.testing.assert_array_equal(decoded, reconstruction)


def test_coding_override_and_wrong_family_are_handled(saved_model, tmp_path):
    model = ladder_report.load_model(saved_model, coding="greedy")
    assert model.coding == "greedy"
    with pytest.raises(ValueError, match="unknown coding scheme"):
        ladder_report.with_coding(model, "quantize")
    other = tmp_path / "hp.npz"
    weights.save(zoo.create_model("hyperprior_tiny"), other)
    with pytest.raises(ValueError, match="not a ladder network"):
        ladder_report.load_model(other)
