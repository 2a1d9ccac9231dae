"""Publishes trained weights as a pretrained entry: `python -m export.publish`.

    python -m export.publish --weights run/weights.npz --eval run/kodak.json --version 1

copies the artifact to `zoo/weights/<name>-<metric>-<λ>-v<version>.npz` (never over an
existing file) and appends its frozen record to `zoo/models/<family>.pretrained.json`.
`--retire=1` then retires version 1 of the same model, metric and λ: its weights file is
deleted and its record marked `retired`, so that a file made with it is refused with a
message naming that version (instead of "unknown weights").
The evaluation JSON is what `recipes.evaluate` writes; its mean Kodak numbers are read
from the top level or from a `mean`/`results`/`kodak` object, under the keys `bpp`,
`psnr` (or `psnr-rgb`) and `ms_ssim` (or `ms-ssim`, `ms-ssim-rgb`); lists are averaged.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from recipes import provenance  # noqa: E402
from zoo import pretrained, weights  # noqa: E402, weights
from zoo.errors import WeightsError  # noqa: E402
from zoo.models.base import quality_index  # noqa: E402
from zoo.registry import get_spec  # noqa: E402

_KEYS = {"bpp": ("bpp",), "psnr": ("psnr", "psnr-rgb"), "ms_ssim": ("ms_ssim", "ms-ssim", "ms-ssim-rgb")}


def kodak_numbers(evaluation: dict[str, Any]) -> dict[str, float]:
    """Mean bpp / PSNR (/ MS-SSIM) from an evaluation JSON object."""
    for scope in ("mean", "results", "kodak"):
        if isinstance(evaluation.get(scope), dict):
            evaluation = evaluation[scope]
            break
    found = {}
    for key, aliases in _KEYS.items():
        for alias in aliases:
            if alias in evaluation:
                value = evaluation[alias]
                value = sum(value) / len(value) if isinstance(value, list) else value
                found[key] = float(value)
                break
    if "bpp" not in found or "psnr" not in found:
        raise ValueError(f"evaluation has no bpp/psnr (keys: {sorted(evaluation)})")
    return found


def publish(
    weights_path: str | os.PathLike,
    evaluation: dict[str, Any],
    version: int,
    records_dir: str | os.PathLike = pretrained.RECORDS_DIR,
    weights_dir: str | os.PathLike = pretrained.PACKAGE_WEIGHTS,
    training_data: str | None = None,
    steps: int | None = None,
    wall_time_hours: float | None = None,
) -> pretrained.PretrainedEntry:
    """Copies a weights artifact into `weights_dir` and appends its record.

    Raises:
      WeightsError: unreadable artifact, or that file/version is already published.
    """
    data = Path(weights_path).read_bytes()
    meta, _ = weights.read(data, str(weights_path))
    name, metric, lmbda = meta["config"]["name"], meta["metric"], float(meta["lmbda"])
    family = get_spec(name).family
    filename = f"{name}-{metric}-{lmbda:g}-v{int(version)}.npz"
    target = Path(weights_dir) / filename
    records_path = Path(records_dir) / f"{family}.pretrained.json"
    records = json.loads(records_path.read_text()) if records_path.exists() else []
    for record in records:
        same = (record["name"], record["metric"], record["version"]) == (name, metric, version)
        if same and math.isclose(record["lmbda"], lmbda, rel_tol=1e-9):
            raise WeightsError(f"{name} {metric} λ={lmbda:g} v{version} is already published")
    if target.exists():
        raise WeightsError(f"{target} exists; a published file is never overwritten")
    training = meta.get("training", {})
    segments = provenance.chain(training)
    if wall_time_hours is None:  # the whole chain's, where the artifact records one
        wall_time_hours = sum(float(s.get("wall_time_seconds", 0.0)) for s in segments) / 3600.0
    if steps is None and segments:
        steps = sum(int(s.get("steps", 0)) for s in segments)
    entry = pretrained.PretrainedEntry(
        name=name, metric=metric, lmbda=lmbda, quality=quality_index(lmbda, metric),
        version=int(version), file=filename, sha256=weights.file_sha256(weights_path),
        fingerprint=meta["fingerprint"], config=meta["config"],
        training_data=training_data or str(training.get("data", meta.get("training_data", ""))),
        steps=int(steps if steps is not None else training.get("steps", meta.get("steps", 0))),
        wall_time_hours=round(float(wall_time_hours), 4),
        kodak=kodak_numbers(evaluation), chain=segments,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights_path, target)
    _write_records(records_path, records + [entry.record()])
    return entry


def _write_records(records_path: Path, records: list[dict]) -> None:
    records_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = records_path.with_name(records_path.name + ".partial")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, records_path)


def retire(
    name: str, metric: str, lmbda: float, version: int, reason: str,
    records_dir: str | os.PathLike = pretrained.RECORDS_DIR,
    weights_dir: str | os.PathLike = pretrained.PACKAGE_WEIGHTS,
) -> dict:
    """Marks version `version` of (name, metric, λ) retired (`reason`: when and why) and
    deletes its weights file from `weights_dir`; returns the record.

    Raises:
      WeightsError: no such record, or it is retired already.
    """
    if not reason:
        raise ValueError("retiring weights needs a reason (when, and what replaces them)")
    records_path = Path(records_dir) / f"{get_spec(name).family}.pretrained.json"
    records = json.loads(records_path.read_text()) if records_path.exists() else []
    for record in records:
        if (record["name"], record["metric"], record["version"]) == (name, metric, version) \
                and math.isclose(record["lmbda"], lmbda, rel_tol=1e-9):
            if record.get("retired"):
                raise WeightsError(f"{record['file']} was retired already ({record['retired']})")
            record["retired"] = reason
            _write_records(records_path, records)
            (Path(weights_dir) / record["file"]).unlink(missing_ok=True)
            return record
    raise WeightsError(f"no record of {name} {metric} λ={lmbda:g} v{version} in {records_path}")


def main(argv: list[str]) -> None:
    del argv
    from absl import flags

    f = flags.FLAGS
    entry = publish(
        f.weights, json.loads(Path(f.eval).read_text()), f.version,
        records_dir=f.records_dir or pretrained.RECORDS_DIR,
        weights_dir=f.weights_dir or pretrained.PACKAGE_WEIGHTS,
        training_data=f.training_data, steps=f.steps, wall_time_hours=f.wall_time_hours,
    )
    print(f"published {entry.file}\n  {entry.summary()}")
    if f.retire is not None:
        today = datetime.date.today().isoformat()
        old = retire(entry.name, entry.metric, entry.lmbda, f.retire,
                     f"{today}, replaced by v{entry.version}",
                     records_dir=f.records_dir or pretrained.RECORDS_DIR,
                     weights_dir=f.weights_dir or pretrained.PACKAGE_WEIGHTS)
        print(f"retired {old['file']} ({old['retired']})")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("weights", None, "weights artifact from recipes.train", required=True)
    flags.DEFINE_string("eval", None, "evaluation JSON from recipes.evaluate", required=True)
    flags.DEFINE_integer("version", None, "entry version (a retrain gets a new one)", required=True)
    flags.DEFINE_string("training_data", None, "training data description (default: artifact's)")
    flags.DEFINE_integer("steps", None, "training steps (default: the sum over the artifact's "
                         "chain of training segments; give the total for older artifacts)")
    flags.DEFINE_float("wall_time_hours", None, "training wall time (default: the chain's sum)")
    flags.DEFINE_integer("retire", None, "then retire this version of the same model, "
                         "metric and λ (its file deleted, its record kept and marked)")
    flags.DEFINE_string("records_dir", None, "where records go (default: zoo/models)")
    flags.DEFINE_string("weights_dir", None, "where weights go (default: zoo/weights)")
    app.run(main)
