"""The training driver end to end: real tf.distribute, real checkpoints, real kill -9.

Every run is a subprocess of `python -m recipes.train` on a tiny model with 32–64 px
crops of small generated PNGs, so device configuration and signals never touch the
pytest process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
ENV.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(6):
        # Smooth images (a model can learn them), one grayscale, one too small to crop.
        base = rng.normal(128, 40, (6, 6, 3)).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(base).resize((96, 80), Image.BICUBIC)
        image.save(folder / f"img ({i}).png")
    Image.fromarray(rng.integers(0, 255, (70, 70), dtype=np.uint8), "L").save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / "tiny.png")
    return folder


def _train_cmd(images: Path, workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "recipes.train", "--smoke", "--model", "hyperprior_tiny",
            f"--train_data={images}", f"--workdir={workdir}", "--patchsize=32", *extra]


def _run(cmd: list[str], env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env or ENV, capture_output=True, text=True,
                          timeout=timeout)


# In-process: configuration ------------------------------------------------------------


def test_config_falls_back_to_family_defaults_and_smoke_shrinks():
    from recipes import trainer
    from zoo.registry import get_spec

    published = get_spec("hyperprior").training
    config = trainer.resolve_config("hyperprior", "/tmp/x", lmbda=0.0067, batchsize=None)
    assert (config.patchsize, config.batchsize, config.num_steps) == (
        published.patchsize, published.batchsize, published.num_steps)
    assert config.decay_step == round(published.decay_at * published.num_steps)
    smoke = trainer.resolve_config("hyperprior", "/tmp/x", smoke=True, patchsize=48)
    assert smoke.model == "hyperprior_tiny" and smoke.num_steps == trainer.SMOKE["num_steps"]
    assert smoke.patchsize == 48  # An explicit flag wins over --smoke.


def test_get_strategy_names():
    from recipes import distribute

    assert distribute.get_strategy("one_device").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="unknown strategy"):
        distribute.get_strategy("parameter_server")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multi_worker_mirrored")


# Subprocesses: the real driver --------------------------------------------------------


def test_driver_mirrored_two_cpus_end_to_end(images: Path, tmp_path: Path):
    workdir = tmp_path / "run"
    result = _run(_train_cmd(images, workdir, "--strategy=mirrored", "--cpu_devices=2",
                             "--num_steps=4", "--checkpoint_every=2", "--image_every=4"))
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((workdir / "config.json").read_text())
    assert config["strategy"]["replicas"] == 2
    assert config["data"]["skipped_small"] == 1 and config["data"]["images"] == 7
    assert "tensorflow" in config["packages"]
    log = json.loads((workdir / "training_log.json").read_text())
    assert log["steps"] == 4 and np.isfinite(log["final"]["loss"])
    assert log["data"]["throughput"]["images_per_second"] > 0
    assert [r["step"] for r in log["history"]] == [1, 2, 3, 4]
    assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    assert (workdir / "checkpoints" / "ckpt-4.index").exists()
    # The artifact works with the user-facing CLI: compress, then decompress exactly.
    source = images / "img (0).png"
    packed, decoded = tmp_path / "x.lic", tmp_path / "x.png"
    weights = str(workdir / "weights.npz")
    result = _run([sys.executable, "-m", "zoo", "compress", str(source), str(packed),
                   "--weights", weights])
    assert result.returncode == 0, result.stderr[-2000:]
    result = _run([sys.executable, "-m", "zoo", "decompress", str(packed), str(decoded),
                   "--weights", weights])
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.asarray(Image.open(decoded)).shape == (80, 96, 3)


def test_kill_9_then_resume_continues_step_count(images: Path, tmp_path: Path):
    workdir = tmp_path / "run"
    cmd = _train_cmd(images, workdir, "--num_steps=80", "--checkpoint_every=5")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    index = workdir / "checkpoints" / "checkpoint"
    deadline = time.time() + 240
    while not index.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (workdir / "weights.npz").exists(), "the run finished before it could be killed"
    import tensorflow as tf

    killed_at = int(tf.train.latest_checkpoint(str(workdir / "checkpoints")).rsplit("-", 1)[1])
    assert 5 <= killed_at < 80
    result = _run(cmd)  # The very same command resumes.
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"(step {killed_at})" in result.stderr
    log = json.loads((workdir / "training_log.json").read_text())
    assert log["start_step"] == killed_at and log["steps"] == 80
    resumed = [r["step"] for r in log["history"]]
    assert resumed[0] == killed_at + 1 and resumed[-1] == 80


def test_nan_loss_stops_and_keeps_last_good_checkpoint(images: Path, tmp_path: Path):
    import tensorflow as tf

    workdir = tmp_path / "run"
    result = _run(_train_cmd(images, workdir, "--num_steps=20", "--checkpoint_every=3",
                             "--debug_inject_nan_at_step=8"))
    assert result.returncode == 3
    assert "non-finite loss" in result.stderr and "at step 8" in result.stderr
    latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    assert latest.endswith("ckpt-6")
    reader = tf.train.load_checkpoint(latest)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype.is_floating:
            assert np.isfinite(reader.get_tensor(name)).all(), name
    assert not (workdir / "weights.npz").exists()


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_two_processes_agree(images: Path, tmp_path: Path):
    workdir = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster,
                                               "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            _train_cmd(images, workdir, "--strategy=multi_worker_mirrored", "--num_steps=3"),
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    prints = [re.search(r"fingerprint ([0-9a-f]{64})", out).group(1) for out, _ in outputs]
    assert prints[0] == prints[1], "workers ended with different weights"
    from zoo import weights

    meta, _ = weights.read((workdir / "weights.npz").read_bytes())
    assert meta["fingerprint"] == prints[0] and meta["training"]["replicas"] == 2
    # Only the chief wrote to the work dir.
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.suffix == ".index") == [
        "ckpt-3.index"]


def test_warm_start_copies_the_transforms_another_family_shares(images: Path, tmp_path: Path):
    from zoo import weights

    source = tmp_path / "hp"
    assert _run(_train_cmd(images, source, "--num_steps=2")).returncode == 0
    target = tmp_path / "ms"
    cmd = _train_cmd(images, target, "--num_steps=1", "--learning_rate=1e-9",
                     f"--init_from={source / 'weights.npz'}")
    cmd[cmd.index("hyperprior_tiny")] = "mean_scale_tiny"
    result = _run(cmd)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "copied analysis, synthesis, hyper_analysis, side_entropy_model" in result.stderr
    hp = weights.load(source / "weights.npz")
    ms = weights.load(target / "weights.npz")
    # One step at lr 1e-9 leaves the copied kernels where they were; the mean-scale hyper
    # synthesis (twice as many outputs) is fresh.
    for part in ("analysis", "synthesis"):
        for a, b in zip(getattr(hp, part).trainable_variables, getattr(ms, part).trainable_variables):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    assert ms.hyper_synthesis.trainable_variables[-1].shape != hp.hyper_synthesis.trainable_variables[-1].shape
    # Nothing shared: refused with the reason.
    cmd[cmd.index("mean_scale_tiny")] = "vq_tiny"
    result = _run([*cmd[:-1], f"--init_from={source / 'weights.npz'}", f"--workdir={tmp_path / 'vq'}"])
    assert result.returncode != 0 and "share no part" in result.stderr
