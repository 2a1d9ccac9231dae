"""Weights artifacts (integrity, no pickle) and the `python -m zoo` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from tests.conftest import ROOT, kodak_path
from zoo import weights


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "hyperprior_tiny.npz"
    model = zoo.create_model("hyperprior_tiny", lmbda=0.0067)
    sha = weights.save(model, path, training={"steps": 0})
    return path, sha, zoo.Codec(model)


def test_artifact_reloads_to_the_same_codec(artifact, odd_image):
    path, sha, codec = artifact
    loaded = zoo.load(path)
    assert loaded.fingerprint == codec.fingerprint and loaded.lmbda == 0.0067
    np.testing.assert_array_equal(loaded.decompress(codec.compress(odd_image)),
                                  codec.decompress(codec.compress(odd_image)))
    assert weights.file_sha256(path) == sha


def test_tampered_and_truncated_weights_are_refused(artifact, tmp_path):
    path, sha, _ = artifact
    data = path.read_bytes()
    with pytest.raises(zoo.WeightsError, match="integrity"):
        weights.load(data=data[:-10] + b"0123456789", sha256=sha)
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(zoo.WeightsError, match="not a readable"):
        weights.load(truncated)
    # A changed value with a consistent zip file is caught by the fingerprint.
    meta, arrays = weights.read(data)
    key = next(k for k in arrays if "kernel" in k)
    arrays[key] = arrays[key] + 1e-3
    forged = tmp_path / "forged.npz"
    np.savez(forged, **arrays, __meta__=np.frombuffer(
        __import__("json").dumps(meta).encode(), np.uint8))
    with pytest.raises(zoo.WeightsError, match="fingerprint"):
        weights.load(forged)
    with pytest.raises(zoo.WeightsError, match="cannot read"):
        weights.load(tmp_path / "missing.npz")


def test_weights_of_another_architecture_do_not_fit(artifact):
    _, _, _ = artifact
    meta, arrays = weights.read(artifact[0].read_bytes())
    model = zoo.create_model("mean_scale_tiny")
    model.build_coders()
    with pytest.raises(zoo.WeightsError, match="does not fit|the model expects"):
        weights.assign(model, arrays)


def _cli(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.slow  # CI time; the fast suite covers the parts in-process
def test_cli_round_trip_in_fresh_processes(artifact, tmp_path):
    path, _, codec = artifact
    out = tmp_path / "k.lic"
    result = _cli("compress", kodak_path(1), out, "--weights", path)
    assert result.returncode == 0, result.stderr
    assert "bpp" in result.stdout
    png = tmp_path / "k.png"
    result = _cli("decompress", out, png, "--weights", path)
    assert result.returncode == 0, result.stderr
    decoded = zoo.read_image(png)
    np.testing.assert_array_equal(decoded, codec.decompress(out.read_bytes()))


def test_cli_errors_are_clear(tmp_path):
    # λ = 0.0042 is on no ladder: the error says which pretrained weights exist.
    result = _cli("compress", kodak_path(1), tmp_path / "x.lic", "--model", "hyperprior",
                  "--lmbda", "0.0042")
    assert result.returncode == 2 and "pretrained" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.lic").exists()
    (tmp_path / "bad.lic").write_bytes(b"\x89LIC\x01garbage")
    result = _cli("decompress", tmp_path / "bad.lic", tmp_path / "o.png")
    assert result.returncode == 2 and "error:" in result.stderr
    assert not (tmp_path / "o.png").exists()
    result = _cli("compress", Path(__file__), tmp_path / "y.lic", "--model", "hyperprior",
                  "--lmbda", "0.013")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_cli_help_and_models():
    for sub in ("compress", "decompress", "models"):
        assert _cli(sub, "--help").returncode == 0
    result = _cli("models", "--all")
    assert result.returncode == 0 and "hyperprior_tiny" in result.stdout


def test_compact_artifact_halves_kernels_and_loads_back_exactly(artifact, tmp_path, odd_image):
    from export import compact

    path, _, codec = artifact
    small = tmp_path / "compact.npz"
    compact.compact(path, small)
    meta, arrays = weights.read(small.read_bytes())
    kernels = [k for k in arrays if k.rsplit("/", 1)[-1].startswith("kernel")]
    assert kernels and all(arrays[k].dtype == np.float16 for k in kernels)
    assert meta["training"] == {"steps": 0} and meta["compacted_from"] == codec.fingerprint
    assert small.stat().st_size < path.stat().st_size
    loaded = zoo.load(small)  # float16 kernels widen exactly: the fingerprint still matches
    assert loaded.fingerprint == meta["fingerprint"] != codec.fingerprint
    data = loaded.compress(odd_image)
    np.testing.assert_array_equal(zoo.load(small).decompress(data), loaded.decompress(data))
    # A kernel that is not float16-exact cannot be stored as float16.
    model = zoo.create_model("hyperprior_tiny", lmbda=0.0067)
    with pytest.raises(ValueError, match="round_kernels"):
        weights.save(model, tmp_path / "x.npz", half_kernels=True)


def _built(name: str, **kwargs):
    model = zoo.create_model(name, **kwargs)
    model.rd_losses(np.zeros([1, 64, 64, 3], np.float32), training=False)
    return model


def test_transfer_copies_the_named_parts_and_refuses_mismatches():
    import tensorflow as tf

    tf.random.set_seed(1)
    hp = _built("hyperprior_tiny")
    tf.random.set_seed(2)
    ms = _built("mean_scale_tiny")
    before = [v.numpy() for v in ms.hyper_synthesis.trainable_variables]
    copied = weights.transfer(hp, ms, ("analysis", "synthesis"))
    assert copied == {
        "analysis": len(hp.analysis.trainable_variables),
        "synthesis": len(hp.synthesis.trainable_variables),
    }
    for part in ("analysis", "synthesis"):
        for a, b in zip(
            getattr(hp, part).trainable_variables, getattr(ms, part).trainable_variables
        ):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Mean-scale's hyper synthesis has twice the outputs: refused, naming part and shapes,
    # and nothing is assigned, not even the parts that would fit.
    tf.random.set_seed(3)
    fresh = _built("mean_scale_tiny")
    start = [v.numpy() for v in fresh.trainable_variables]
    with pytest.raises(ValueError, match=r"hyper_synthesis: .* of shape .* cannot go into"):
        weights.transfer(hp, fresh, ("analysis", "hyper_synthesis"))
    for a, v in zip(start, fresh.trainable_variables):
        np.testing.assert_array_equal(a, v.numpy())
    with pytest.raises(ValueError, match="'nonexistent': not a part of the source or target"):
        weights.transfer(hp, ms, ("nonexistent",))
    with pytest.raises(ValueError, match="different architecture|cannot go into"):
        weights.transfer(hp, ms)  # the whole model: other shapes
    # skip_mismatched keeps only what fits (the warm start between families).
    copied = weights.transfer(
        hp, ms, ("analysis", "hyper_synthesis", "nonexistent"), skip_mismatched=True
    )
    assert list(copied) == ["analysis"]
    for a, v in zip(before, ms.hyper_synthesis.trainable_variables):
        np.testing.assert_array_equal(a, v.numpy())
    # The same architecture: every trainable variable.
    other = _built("hyperprior_tiny")
    assert weights.transfer(hp, other) == {"all": len(hp.trainable_variables)}
    for a, b in zip(hp.trainable_variables, other.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_transfer_reaches_nested_parts_by_dotted_names():
    import tensorflow as tf

    def module(**parts):
        box = tf.Module()
        for name, value in parts.items():
            setattr(box, name, value)
        return box

    def leaf(shape, value):
        return module(kernel=tf.Variable(tf.fill(shape, value)))

    source = module(codec=module(hyper=leaf([2, 3], 1.0)), head=leaf([4], 1.0))
    target = module(codec=module(hyper=leaf([2, 3], 0.0)), head=leaf([5], 0.0))
    assert weights.transfer(source, target, "codec.hyper") == {"codec.hyper": 1}
    np.testing.assert_array_equal(target.codec.hyper.kernel.numpy(), np.ones([2, 3]))
    with pytest.raises(ValueError, match=r"head: .*\(4,\) cannot go into .*\(5,\)"):
        weights.transfer(source, target, ["head"])
    with pytest.raises(ValueError, match="'codec.other': not a part of the source or target"):
        weights.transfer(source, target, ["codec.other"])
