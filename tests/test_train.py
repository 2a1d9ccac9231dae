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

from tests.conftest import write_smooth_images

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
ENV.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    # Smooth images (a model can learn them), one grayscale, one too small to crop.
    folder = write_smooth_images(tmp_path_factory.mktemp("images"), 6, "img ({}).png")
    rng = np.random.default_rng(0)
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


def test_schedules_and_the_cpu_recipe():
    import math

    import tensorflow as tf

    from recipes import trainer

    def lr(config, step):
        return float(trainer.make_schedule(config)(step))

    base = dict(num_steps=1000, learning_rate=1e-3)
    published = trainer.resolve_config("hyperprior", "/tmp/x", **base)
    assert published.schedule == "published" and published.clip_norm == 1.0
    assert isinstance(trainer.make_schedule(published),
                      tf.keras.optimizers.schedules.PiecewiseConstantDecay)  # as before
    assert math.isclose(lr(published, 900), 1e-3, rel_tol=1e-6)
    assert math.isclose(lr(published, 901), 1e-4, rel_tol=1e-6)
    step = trainer.resolve_config("hyperprior", "/tmp/x", schedule="step", warmup_steps=10, **base)
    assert math.isclose(lr(step, 0), 1e-4, rel_tol=1e-6) and math.isclose(lr(step, 9), 1e-3, rel_tol=1e-6)
    assert lr(step, 900) == lr(published, 900) and lr(step, 901) == lr(published, 901)
    constant = trainer.resolve_config("hyperprior", "/tmp/x", schedule="constant", **base)
    assert lr(constant, 0) == lr(constant, 999) and math.isclose(lr(constant, 0), 1e-3, rel_tol=1e-6)
    cosine = trainer.resolve_config("hyperprior", "/tmp/x", schedule="cosine", warmup_steps=100,
                                    **base)
    assert math.isclose(lr(cosine, 0), 1e-5, rel_tol=1e-6)
    assert math.isclose(lr(cosine, 99), 1e-3, rel_tol=1e-6)
    assert math.isclose(lr(cosine, 100), 1e-3, rel_tol=1e-6)
    assert math.isclose(lr(cosine, 550), 1e-3 * (0.01 + 0.99 * 0.5), rel_tol=1e-5)
    assert math.isclose(lr(cosine, 1000), 1e-5, rel_tol=1e-5) and lr(cosine, 5000) == lr(cosine, 1000)
    record = trainer.schedule_record(cosine)
    assert record["decay"] == "cosine" and math.isclose(record["final_learning_rate"], 1e-5)
    # The cpu recipe: its values unless a flag says otherwise.
    cpu = trainer.resolve_config("hyperprior", "/tmp/x", schedule="cpu", num_steps=10_000)
    recipe = trainer.CPU_RECIPE
    assert (cpu.learning_rate, cpu.warmup_steps, cpu.clip_norm) == (
        recipe.learning_rate, recipe.warmup_steps, recipe.clip_norm)
    assert trainer.schedule_decay(cpu) == recipe.decay == "cosine"
    assert trainer.schedule_record(cpu)["recipe"]["learning_rate"] == recipe.learning_rate
    mine = trainer.resolve_config("hyperprior", "/tmp/x", schedule="cpu", learning_rate=5e-4,
                                  clip_norm=0.0)
    assert mine.learning_rate == 5e-4 and mine.clip_norm == 0.0 and mine.warmup_steps == 500
    with pytest.raises(ValueError, match="warmup_steps"):
        trainer.resolve_config("hyperprior", "/tmp/x", warmup_steps=10)  # published: none
    with pytest.raises(ValueError, match="unknown schedule"):
        trainer.resolve_config("hyperprior", "/tmp/x", schedule="linear")
    with pytest.raises(ValueError, match="clip_norm"):
        trainer.resolve_config("hyperprior", "/tmp/x", clip_norm=-1.0)


def test_time_budget_decays_with_training_wall_time():
    import math

    import tensorflow as tf

    from recipes import trainer

    clock = tf.Variable(0.0, dtype=tf.float64)
    config = trainer.resolve_config("hyperprior", "/tmp/x", schedule="cosine", learning_rate=1e-3,
                                    warmup_steps=10, time_budget=600.0, num_steps=10**6)
    schedule = trainer.make_schedule(config, clock=clock)
    assert math.isclose(float(schedule(0)), 1e-4, rel_tol=1e-6)  # the warm-up is in steps
    assert math.isclose(float(schedule(50)), 1e-3, rel_tol=1e-6)
    clock.assign(300.0)  # half the budget: half the cosine, whatever the step
    assert math.isclose(float(schedule(50)), 1e-3 * (0.01 + 0.99 * 0.5), rel_tol=1e-5)
    clock.assign(900.0)
    assert math.isclose(float(schedule(50)), 1e-5, rel_tol=1e-5)
    step = trainer.resolve_config("hyperprior", "/tmp/x", schedule="step", learning_rate=1e-3,
                                  time_budget=100.0, num_steps=10**6)
    step_schedule = trainer.make_schedule(step, clock=clock)
    clock.assign(79.0)
    assert math.isclose(float(step_schedule(5)), 1e-3, rel_tol=1e-6)
    clock.assign(81.0)
    assert math.isclose(float(step_schedule(5)), 1e-4, rel_tol=1e-6)
    assert trainer.schedule_record(config)["time_budget_seconds"] == 600.0
    with pytest.raises(ValueError, match="time_budget"):
        trainer.resolve_config("hyperprior", "/tmp/x", time_budget=60.0)  # published: steps only
    with pytest.raises(ValueError, match="clock"):
        trainer.WarmupDecay("cosine", 1e-3, 100, time_budget=10.0)


def test_get_strategy_names():
    from recipes import distribute

    assert distribute.get_strategy("one_device").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="unknown strategy"):
        distribute.get_strategy("parameter_server")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multi_worker_mirrored")


# Subprocesses: the real driver --------------------------------------------------------


def test_cpu_replicas_split_a_two_core_host_unless_something_else_decides():
    from recipes.training_setup import cpu_replicas

    base = dict(strategy="auto", batchsize=8, smoke=False, intra_op_threads=0,
                inter_op_threads=0, cores=2, accelerators=False, cluster=False)
    assert cpu_replicas(None, **base)[0] == 2
    assert cpu_replicas(None, **{**base, "strategy": "mirrored"})[0] == 2
    for change, why in [({"cores": 4}, "4 cores"), ({"cores": 1}, "1 cores"),
                        ({"accelerators": True}, "accelerator"), ({"cluster": True}, "cluster"),
                        ({"strategy": "one_device"}, "one_device"), ({"smoke": True}, "smoke"),
                        ({"intra_op_threads": 1}, "thread counts"),
                        ({"inter_op_threads": 2}, "thread counts"), ({"batchsize": 7}, "batch 7")]:
        devices, reason = cpu_replicas(None, **{**base, **change})
        assert devices == 1 and why in reason, (change, reason)
    assert cpu_replicas(3, **{**base, "cores": 8}) == (3, "requested")
    with pytest.raises(ValueError, match="≥ 1"):
        cpu_replicas(0, **base)


def test_driver_default_devices_follow_the_host(images: Path, tmp_path: Path):
    """Without device flags a run on a 2-core CPU host trains two single-threaded mirrored
    replicas (results/cpu_recipe/README.md), and says so; elsewhere one device."""
    from recipes.training_setup import available_cores

    workdir = tmp_path / "run"
    result = _run([sys.executable, "-m", "recipes.train", "--model=hyperprior_tiny",
                   f"--train_data={images}", f"--workdir={workdir}", "--patchsize=32",
                   "--batchsize=2", "--num_steps=2", "--precision=float32"])
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((workdir / "config.json").read_text())
    split = available_cores() == 2
    assert config["config"]["cpu_devices"] == (2 if split else 1)
    assert config["strategy"]["replicas"] == (2 if split else 1)
    assert config["config"]["strategy"] == ("mirrored" if split else "auto")
    assert config["threads"]["effective_intra_op"] == (1 if split else 0)
    assert "CPU devices: " in result.stderr


def test_driver_mirrored_two_cpus_end_to_end(images: Path, tmp_path: Path):
    workdir = tmp_path / "run"
    result = _run(_train_cmd(images, workdir, "--strategy=mirrored", "--cpu_devices=2",
                             "--num_steps=4", "--checkpoint_every=2", "--image_every=4",
                             "--schedule=cosine", "--warmup_steps=2", "--clip_norm=0.5",
                             "--intra_op_threads=1", "--inter_op_threads=8",
                             "--precision=float32"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Precision: float32 (requested" in result.stderr
    config = json.loads((workdir / "config.json").read_text())
    assert config["strategy"]["replicas"] == 2
    assert config["data"]["skipped_small"] == 1 and config["data"]["images"] == 7
    assert "tensorflow" in config["packages"]
    log = json.loads((workdir / "training_log.json").read_text())
    assert log["steps"] == 4 and np.isfinite(log["final"]["loss"])
    assert log["data"]["throughput"]["images_per_second"] > 0
    assert [r["step"] for r in log["history"]] == [1, 2, 3, 4]
    # What the run used, recorded.
    assert log["steps_per_second"] > 0
    assert log["threads"]["effective_intra_op"] == 1 and log["threads"]["effective_inter_op"] == 8
    assert log["optimizer"]["global_clipnorm"] == 0.5 and log["precision"]["policy"] == "float32"
    assert log["schedule"]["name"] == "cosine" and log["schedule"]["warmup_steps"] == 2
    rates = [r["learning_rate"] for r in log["history"]]
    assert rates[0] < rates[1] and rates[2] > rates[3]  # warm-up, then the decay
    assert config["schedule"] == log["schedule"] and config["threads"]["intra_op_threads"] == 1
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


#: Two replicas of the real training step; spies report the gradient norm each replica has
#: before the all-reduce, and the one the clipping sees, and what it leaves.
CLIP_SPY = r"""
import json, sys
import tensorflow as tf
from recipes import distribute, trainer
distribute.split_cpu(2)
config = trainer.resolve_config("hyperprior_tiny", sys.argv[2], smoke=True, train_data=sys.argv[1],
                                patchsize=32, batchsize=4, clip_norm=0.5, precision="float32")
strategy = distribute.get_strategy("mirrored")
run = trainer.Trainer(config, strategy)
run.prepare_data()
opt = run.optimizer
aggregate, clip = opt.aggregate_gradients, opt._clip_gradients
def norm(grads):
    return tf.linalg.global_norm([g for g in grads if g is not None])
def replica():
    return tf.distribute.get_replica_context().replica_id_in_sync_group
def spy_aggregate(grads_and_vars):
    grads_and_vars = list(grads_and_vars)
    tf.print("local", replica(), norm([g for g, _ in grads_and_vars]), output_stream=sys.stdout)
    return aggregate(grads_and_vars)
def spy_clip(grads):
    clipped = clip(grads)
    tf.print("clip", replica(), norm(grads), norm(clipped), output_stream=sys.stdout)
    return clipped
opt.aggregate_gradients, opt._clip_gradients = spy_aggregate, spy_clip
iterator = iter(strategy.distribute_datasets_from_function(run.dataset_fn))
run.train_step(iterator, tf.constant(1.0))
"""


def test_clipping_applies_to_the_all_reduced_gradient(images: Path, tmp_path: Path):
    result = _run([sys.executable, "-c", CLIP_SPY, str(images), str(tmp_path / "run")])
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, dict[int, list[float]]] = {"local": {}, "clip": {}}
    for line in result.stdout.splitlines():
        kind, replica, *values = line.split()
        seen[kind][int(replica)] = [float(v) for v in values]
    assert sorted(seen["local"]) == sorted(seen["clip"]) == [0, 1]
    local = [seen["local"][r][0] for r in (0, 1)]
    assert local[0] != local[1]  # each replica has its own crops
    before = [seen["clip"][r][0] for r in (0, 1)]
    after = [seen["clip"][r][1] for r in (0, 1)]
    # Both replicas clip the same (summed) gradient, whose norm is at most the sum of theirs.
    assert before[0] == before[1] and before[0] <= local[0] + local[1] + 1e-3
    assert before[0] > 0.5 and all(abs(a - 0.5) < 1e-3 for a in after)


def test_a_resumed_run_draws_new_crops_and_noise(images: Path, tmp_path: Path):
    """Data order, crops and training noise are seeded by (run seed, start step): a run
    resumed at step k does not replay the batches it began with, and the same start
    gives the same draws."""
    import tensorflow as tf

    from recipes import distribute, trainer

    config = trainer.resolve_config("hyperprior_tiny", str(tmp_path / "run"), smoke=True,
                                    train_data=str(images), patchsize=32, batchsize=4,
                                    precision="float32")
    run = trainer.Trainer(config, distribute.get_strategy("one_device"))
    run.prepare_data()

    def draws(start_step: int):
        run.start_segment(start_step)
        batch = next(iter(run.dataset_fn()))
        # The parallel decode may reorder a batch: compare the crops as a multiset.
        return sorted(tf.reduce_sum(batch, [1, 2, 3]).numpy().tolist()), tf.random.uniform([4]).numpy()

    (crops_0, noise_0), (crops_40, noise_40) = draws(0), draws(40)
    assert crops_0 != crops_40 and not np.allclose(noise_0, noise_40)
    np.testing.assert_array_equal(draws(40)[1], noise_40)


def test_stop_after_and_time_budget_end_runs_by_training_wall_time(images: Path, tmp_path: Path):
    workdir = tmp_path / "timed"
    common = ("--num_steps=100000", "--schedule=cosine", "--time_budget=12", "--checkpoint_every=1000")
    first = _run(_train_cmd(images, workdir, *common, "--stop_after=5"))
    assert first.returncode == 0, first.stderr[-3000:]
    log = json.loads((workdir / "training_log.json").read_text())
    assert 5 <= log["wall_time_seconds"] < 12 and 0 < log["steps"] < 100000
    assert (workdir / "weights.npz").exists()  # a stop writes weights, as a finished run does
    second = _run(_train_cmd(images, workdir, *common))  # resumed: runs to the budget
    assert second.returncode == 0, second.stderr[-3000:]
    final = json.loads((workdir / "training_log.json").read_text())
    assert final["start_step"] == log["steps"] and final["wall_time_seconds"] >= 12
    assert final["schedule"]["time_budget_seconds"] == 12.0
    # The decay ran on the clock: the last learning rate is the cosine's floor.
    assert final["history"][-1]["learning_rate"] == pytest.approx(1e-6, rel=1e-3)


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


@pytest.mark.slow  # CI time; the fast suite covers the parts in-process
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


def test_weights_carry_their_whole_training_chain_to_the_published_record(images, tmp_path):
    """A fine-tune keeps the record of the weights it started from (even once that file is
    replaced), its snapshot and final weights carry the chain, and publishing sums it."""
    from export import publish
    from recipes import snapshot, trainer
    from recipes.provenance import chain
    from zoo import weights

    def train(name, steps, **kw):
        config = trainer.resolve_config(
            "hyperprior_tiny", str(tmp_path / name), smoke=True, train_data=str(images),
            patchsize=32, num_steps=steps, checkpoint_every=steps, data_throughput_batches=1,
            precision="float32", **kw)
        return trainer.run(config)

    first = train("first", 3)
    start = tmp_path / "start.npz"
    (tmp_path / "first" / "weights.npz").rename(start)
    second = train("second", 2, init_from=str(start), lmbda=0.02)
    start.write_bytes(b"replaced by the next snapshot")  # the chain no longer needs it
    snap = snapshot.snapshot(tmp_path / "second", tmp_path / "snap.npz")
    for path in (tmp_path / "second" / "weights.npz", tmp_path / "snap.npz"):
        record = weights.load(path).artifact_metadata["training"]
        segments = chain(record)
        assert [s["steps"] for s in segments] == [3, 2], path
        assert [s["precision"] for s in segments] == ["float32", "float32"]
        assert record["started_from"]["file"] == "start.npz"
        assert record["started_from"]["sha256"] == first["weights_sha256"]
    assert snap["started_from"]["steps"] == 3
    entry = publish.publish(tmp_path / "second" / "weights.npz", {"bpp": 0.5, "psnr": 30.0}, 2,
                            records_dir=tmp_path / "records", weights_dir=tmp_path / "records")
    assert entry.steps == 5 and len(entry.chain) == 2
    assert entry.wall_time_hours == pytest.approx(
        (first["wall_time_seconds"] + second["wall_time_seconds"]) / 3600, abs=1e-4)
    assert entry.chain[0]["schedule"]["name"] == "published" and entry.chain[1]["run"]
