"""Compact weights of an unfinished training run, so it can resume from the repository.

    python -m recipes.snapshot --workdir runs/anchor --output results/pretrained/runs/anchor.npz

Restores the latest checkpoint of `--workdir` (the run's own config.json says what it
trains), builds the coding tables and writes a compact weights artifact (float16
kernels, `export.compact`) whose metadata records the run's config, steps and wall
time. Training resumes from it, when the checkpoints are gone, with the run's own flags
plus `--init_from <that file>` (`recipes.train`; the step count starts again from 0,
and the artifact's `training.steps` says how many came before).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory of recipes.train.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Compact weights file to write.", required=True)


def snapshot(workdir: str | os.PathLike, output: str | os.PathLike) -> dict:
    """Writes the compact weights of `workdir`'s latest checkpoint; returns its record."""
    import tensorflow as tf

    from export.compact import compact
    from recipes import trainer as trainer_lib
    from zoo import weights

    saved = json.loads(Path(workdir, "config.json").read_text())
    fields = {f.name for f in trainer_lib.dataclasses.fields(trainer_lib.TrainConfig)}
    config = trainer_lib.TrainConfig(**{k: v for k, v in saved["config"].items() if k in fields})
    if not tf.train.latest_checkpoint(os.path.join(str(workdir), "checkpoints")):
        raise FileNotFoundError(f"{workdir} has no checkpoint")
    config = trainer_lib.dataclasses.replace(config, init_from=None)
    trainer = trainer_lib.Trainer(config, tf.distribute.get_strategy())
    step = trainer.restore()
    record = {
        "run": Path(workdir).name,
        "config": saved["config"],
        "steps": step,
        "wall_time_seconds": float(trainer.wall_time.numpy()),
        "data": saved["config"].get("train_data"),
        "precision": saved.get("precision", {}).get("policy"),
        "schedule": saved.get("schedule"),
        "started_from": trainer.started_from(),
    }
    model = getattr(trainer, "coding_model", None)
    model = model() if callable(model) else trainer.model
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp, "weights.npz")
        weights.save(model, full, training=record)
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        record["sha256"] = compact(full, output)
    return record


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    record = snapshot(_WORKDIR.value, _OUTPUT.value)
    print(json.dumps({k: v for k, v in record.items() if k != "config"}, indent=1))


if __name__ == "__main__":
    app.run(main)
