"""Where a result came from: the source revision and the package versions, recorded by
training logs (`recipes.trainer`) and evaluation runs (`recipes.evaluate`); the lineage of
trained weights (what a run started from, and what that started from); and the atomic
JSON writer of the training records."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions every record names (those installed).
PACKAGES = ("tensorflow", "tensorflow-compression", "tensorflow-datasets", "keras", "numpy",
            "absl-py", "pillow", "pillow-heif", "lic-zoo")


def git_revision() -> dict[str, Any] | None:
    """Commit of the source tree (and whether it has uncommitted changes), if it is a repo."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        # diff-index only reads; it never refreshes or locks the index.
        dirty = subprocess.run(["git", "-C", str(root), "diff-index", "--quiet", "HEAD", "--"],
                               capture_output=True, timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None
    return {"revision": rev, "dirty": dirty}


def package_versions() -> dict[str, str]:
    """Python's and the installed `PACKAGES`' versions."""
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:  # HEIF decoding depends on the bundled libheif, not only on the wrapper
        import pillow_heif

        found["libheif"] = pillow_heif.libheif_info().get("libheif", "")
    except ImportError:
        pass
    return found


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Writes JSON atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
        json.dump(value, f, indent=2, sort_keys=True, default=str)
        tmp = f.name
    os.replace(tmp, path)


#: A run's lineage file in its work dir: the training record of the weights it started
#: from (`--init_from`), written when it initializes from them.
LINEAGE_FILE = "started_from.json"
#: What `chain` keeps of each training segment.
SEGMENT_KEYS = ("run", "steps", "wall_time_seconds", "precision", "schedule", "learning_rate",
                "patchsize", "batchsize", "clip_norm", "replicas", "data")


def lineage(path: str | os.PathLike) -> dict[str, Any]:
    """The training record of the weights artifact `path` (with its own `started_from`,
    so the whole chain), its file name and sha256; a pretrained entry's record stands in
    for artifacts published without one."""
    from zoo import pretrained, weights

    data = Path(path).read_bytes()
    meta, _ = weights.read(data, str(path))
    digest = hashlib.sha256(data).hexdigest()
    record = dict(meta.get("training") or {})
    if not record:
        entry = next((e for e in pretrained.list_pretrained() + pretrained.list_pretrained(
            retired=True) if e.sha256 == digest), None)
        if entry is not None:
            record = {"run": f"pretrained {entry.describe()}", "steps": entry.steps,
                      "wall_time_seconds": entry.wall_time_hours * 3600.0,
                      "data": entry.training_data}
    record.pop("config", None)  # the flags of the segment: its summary below is enough
    return {"file": Path(path).name, "sha256": digest, **record}


def chain(training: dict[str, Any]) -> list[dict[str, Any]]:
    """Every segment of a training record, oldest first (following `started_from`)."""
    segments = []
    while training:
        segments.append({k: training[k] for k in SEGMENT_KEYS if training.get(k) is not None})
        training = training.get("started_from") or {}
    return segments[::-1]
