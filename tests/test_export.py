"""SavedModel export for TF Serving: real SavedModels saved, reloaded and compared with
`zoo.Codec` bit for bit; the transform servable holds core TensorFlow ops only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from export import saved_model, servables

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
SAVED_MODEL_CLI = Path(sys.executable).parent / "saved_model_cli"


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    """A serving root: factorized_tiny exported through the CLI, mean_scale_tiny (codec and
    transform) in-process. Returns (root, codecs)."""
    root = tmp_path_factory.mktemp("serving")
    codecs = {name: zoo.Codec(zoo.create_model(name)) for name in
              ("factorized_tiny", "mean_scale_tiny")}
    weights = root.parent / "factorized_tiny.npz"
    zoo.weights.save(codecs["factorized_tiny"].model, weights)
    result = subprocess.run(
        [sys.executable, "-m", "export.saved_model", f"--weights={weights}", f"--output={root}"],
        env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    saved_model.export(codecs["mean_scale_tiny"].model, root)
    servables.register_custom_ops()
    return root, codecs


def _load(root: Path, name: str, kind: str, version: int = 1):
    return tf.saved_model.load(str(root / f"{name}_{kind}" / str(version)))


def test_layout_config_and_versions(serving):
    root, codecs = serving
    found = saved_model.servable_dirs(root)
    assert sorted(found) == [
        "factorized_tiny_codec", "factorized_tiny_transform",
        "mean_scale_tiny_codec", "mean_scale_tiny_transform",
    ]
    config = (root / "models.config").read_text()
    blocks = re.findall(
        r'config \{\s*name: "([^"]+)"\s*base_path: "([^"]+)"\s*model_platform: "tensorflow"\s*\}',
        config,
    )
    assert {name: Path(path) for name, path in blocks} == found
    assert all(Path(path).is_absolute() and (Path(path) / "1" / "saved_model.pb").is_file()
               for _, path in blocks)
    assert saved_model.next_version(root, "mean_scale_tiny") == 2
    with pytest.raises(FileExistsError):
        saved_model.export(codecs["mean_scale_tiny"].model, root, version=1)
    meta = servables.read_metadata(root / "mean_scale_tiny_codec" / "1")
    assert meta["fingerprint"] == codecs["mean_scale_tiny"].fingerprint


@pytest.mark.parametrize("name", ["factorized_tiny", "mean_scale_tiny"])
def test_codec_servable_is_bit_exact_with_codec(serving, name, odd_image):
    root, codecs = serving
    loaded = _load(root, name, "codec")
    data, reconstruction = codecs[name].compress_with_reconstruction(odd_image)
    _, payloads = zoo.container.unpack(data)
    out = loaded.signatures["serving_default"](image=tf.constant(odd_image))
    assert [bytes(s) for s in out["strings"].numpy()] == payloads
    assert list(out["shape"].numpy()) == list(odd_image.shape[:2])
    decoded = loaded.signatures["decompress"](
        strings=tf.constant(payloads), shape=tf.constant(odd_image.shape[:2], tf.int32)
    )["image"].numpy()
    assert np.array_equal(decoded, reconstruction)


@pytest.mark.parametrize("name", ["factorized_tiny", "mean_scale_tiny"])
def test_transform_plus_python_range_coding_equals_codec(serving, name, odd_image):
    root, codecs = serving
    version_dir = root / f"{name}_transform" / "1"
    loaded = tf.saved_model.load(str(version_dir))
    meta = servables.read_metadata(version_dir)
    data, reconstruction = codecs[name].compress_with_reconstruction(odd_image)
    assert servables.transform_compress(loaded, odd_image, meta) == data
    assert np.array_equal(servables.transform_decompress(loaded, data, meta), reconstruction)
    assert "serving_default" in loaded.signatures


@pytest.mark.parametrize("name", ["factorized_tiny", "mean_scale_tiny"])
def test_transform_graph_has_core_ops_only(serving, name):
    root, _ = serving
    ops = servables.graph_op_types(root / f"{name}_transform" / "1")
    assert {"Conv2D", "Round"} <= ops  # the walk sees inside library functions
    assert servables.non_core_ops(root / f"{name}_transform" / "1") == set()


def test_op_check_catches_range_coding_ops(serving):
    root, _ = serving
    found = servables.non_core_ops(root / "mean_scale_tiny_codec" / "1")
    assert {"CreateRangeEncoder", "EntropyEncodeIndex", "EntropyDecodeIndex"} <= found


def test_stock_saved_model_cli_shows_the_transform(serving):
    """The stock CLI loads every function: it must not need tensorflow-compression."""
    root, _ = serving
    result = subprocess.run(
        [str(SAVED_MODEL_CLI), "show", "--all", "--dir", str(root / "mean_scale_tiny_transform" / "1")],
        env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for signature in ("serving_default", "analysis", "side_params", "synthesis", "tables"):
        assert f"signature_def['{signature}']" in result.stdout


def test_transform_support_is_the_latent_codecs():
    """A transform servable exists where the latent codec's integers are computable
    without the range coder: not for context models, not at a variable rate."""
    from zoo.errors import UnsupportedError

    for name in ("factorized_tiny", "hyperprior_tiny", "mean_scale_tiny"):
        assert servables.transform_supported(zoo.create_model(name)), name
    for name in ("joint_tiny", "channelwise_tiny", "hyperprior_vr_tiny", "hierarchical_tiny"):
        model = zoo.create_model(name)
        assert not servables.transform_supported(model), name
        with pytest.raises(UnsupportedError):
            servables.TransformServable(model)
    with pytest.raises(UnsupportedError, match="integer-latent"):
        zoo.create_model("joint_tiny").symbol_specs()
    layout = zoo.create_model("hyperprior_tiny").symbol_layout()
    assert [e["payload"] for e in layout] == ["y", "z", "guard"]
    assert [e.get("factor") for e in layout] == [16, 64, None]


@pytest.mark.slow
def test_scale_hyperprior_transform(tmp_path, odd_image):
    """The zero-mean branch (no `y_loc`) of the hyperprior family's transform."""
    codec = zoo.Codec(zoo.create_model("hyperprior_tiny"))
    version_dir = saved_model.export(codec.model, tmp_path, kinds=("transform",))["transform"]
    assert servables.non_core_ops(version_dir) == set()
    loaded = tf.saved_model.load(str(version_dir))
    assert "y_loc" not in loaded.signatures["analysis"].structured_outputs
    meta = servables.read_metadata(version_dir)
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    assert servables.transform_compress(loaded, odd_image, meta) == data
    assert np.array_equal(servables.transform_decompress(loaded, data, meta), reconstruction)
