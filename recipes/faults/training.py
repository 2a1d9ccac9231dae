"""Training faults: SIGKILL at random moments and resume; a failing checkpoint write.

A section of the reliability suite, `python -m recipes.reliability`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from recipes.faults.workers import FAIL_CHECKPOINT_ENV, ROOT


def make_training_images(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        base = rng.normal(128, 40, (6, 6, 3)).clip(0, 255).astype(np.uint8)
        Image.fromarray(base).resize((96, 80), Image.BICUBIC).save(folder / f"img{i}.png")
    return folder


def _train_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", FAIL_CHECKPOINT_ENV)}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), **extra)
    return env


def _train_cmd(images: Path, workdir: Path, num_steps: int, every: int) -> list[str]:
    return [sys.executable, "-m", "recipes.train", "--smoke", "--model", "hyperprior_tiny",
            f"--train_data={images}", f"--workdir={workdir}", "--patchsize=32",
            f"--num_steps={num_steps}", f"--checkpoint_every={every}", "--log_every=1",
            "--data_throughput_batches=1", "--image_every=1000000"]


def read_checkpoint(folder: Path) -> tuple[int | None, str]:
    """(step, problem) of the latest checkpoint: every tensor read, floats finite."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(folder))
    if latest is None:
        return None, ""
    try:
        reader = tf.train.load_checkpoint(latest)
        step = None
        for name, dtype in reader.get_variable_to_dtype_map().items():
            value = reader.get_tensor(name)
            if dtype.is_floating and not np.isfinite(value).all():
                return None, f"{latest}: {name} is not finite"
            if name.startswith("step/"):
                step = int(value)
        return step, "" if step is not None else f"{latest}: no step variable"
    except Exception as exc:
        return None, f"{latest} does not load: {type(exc).__name__}: {exc}"


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def kill_resume(kills: int, folder: Path, seed: int = 0, log=print) -> dict[str, Any]:
    """SIGKILLs a training run at random moments, `kills` times; then lets it finish.

    A quarter of the kills land at a random time during start-up; the others a random
    0–0.6 s after a random number (1–6) of new steps, which with a checkpoint every step
    often falls inside a checkpoint write.
    """
    rng = random.Random(seed)
    images = make_training_images(folder / "images")
    workdir = folder / "run"
    cmd = _train_cmd(images, workdir, 100_000, 1)
    metrics, checkpoints = workdir / "metrics.jsonl", workdir / "checkpoints"
    counts: dict[str, Any] = {"kills": 0, "intact_after_kill": 0, "resumes": 0, "progressed": 0,
                              "steps": [], "problems": []}
    previous = 0
    startup = 20.0
    for i in range(kills):
        with tempfile.TemporaryFile("w+") as err:
            started = time.time()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=_train_env(), stdout=subprocess.DEVNULL,
                                    stderr=err)
            before = _lines(metrics)
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.5, startup))
            else:
                target = before + rng.randint(1, 6)
                deadline = time.time() + 600
                while _lines(metrics) < target and proc.poll() is None and time.time() < deadline:
                    time.sleep(0.02)
                startup = max(5.0, time.time() - started)
                time.sleep(rng.uniform(0, 0.6))
            if proc.poll() is not None:
                err.seek(0)
                counts["problems"].append(f"run {i} exited {proc.returncode}: {err.read()[-500:]}")
                continue
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            counts["kills"] += 1
            err.seek(0)
            text = err.read()
        if previous and f"(step {previous})" in text and "Resumed from" in text:
            counts["resumes"] += 1
        step, problem = read_checkpoint(checkpoints)
        if problem:
            counts["problems"].append(f"after kill {i}: {problem}")
            continue
        counts["intact_after_kill"] += 1
        step = step or 0
        counts["steps"].append(step)
        if step > previous:
            counts["progressed"] += 1
        elif step < previous:
            counts["problems"].append(f"after kill {i}: step went back {previous} -> {step}")
        previous = step
        log(f"  train: kill {i + 1}/{kills} at {time.time() - started:.1f} s, checkpoint step {step}")
    # The same command (a few more steps) resumes and finishes.
    final = subprocess.run(_train_cmd(images, workdir, previous + 3, 1), cwd=ROOT,
                           env=_train_env(), capture_output=True, text=True, timeout=900)
    counts["final_exit"] = final.returncode
    if final.returncode == 0:
        record = json.loads((workdir / "training_log.json").read_text())
        counts["final_start_step"], counts["final_steps"] = record["start_step"], record["steps"]
        if previous and f"(step {previous})" in final.stderr:
            counts["resumes"] += 1
        finished = record["start_step"] == previous and record["steps"] == previous + 3
    else:
        counts["problems"].append(f"final run exited {final.returncode}: {final.stderr[-800:]}")
        finished = False
    counts["ok"] = (finished and not counts["problems"] and counts["kills"] == kills
                    and counts["intact_after_kill"] == kills)
    return counts


def checkpoint_write_failure(folder: Path, fail_at: int = 4) -> dict[str, Any]:
    """A checkpoint write that fails (simulated full disk) keeps the previous one usable."""
    images = make_training_images(folder / "images")
    workdir = folder / "run"
    result = subprocess.run(_train_cmd(images, workdir, 8, 2), cwd=ROOT, capture_output=True,
                            text=True, timeout=900,
                            env=_train_env(**{FAIL_CHECKPOINT_ENV: str(fail_at)}))
    step, problem = read_checkpoint(workdir / "checkpoints")
    message = [line for line in result.stderr.splitlines() if "checkpoint" in line.lower()]
    resumed = subprocess.run(_train_cmd(images, workdir, 8, 2), cwd=ROOT, capture_output=True,
                             text=True, timeout=900, env=_train_env())
    counts = {"exit_code": result.returncode, "message": message[-1] if message else "",
              "previous_checkpoint_step": step, "problem": problem,
              "resume_exit_code": resumed.returncode,
              "resumed_from": step if f"(step {step})" in resumed.stderr else None}
    counts["ok"] = (result.returncode != 0 and step == fail_at - 2 and not problem
                    and "intact" in counts["message"] and resumed.returncode == 0
                    and counts["resumed_from"] == fail_at - 2)
    return counts
