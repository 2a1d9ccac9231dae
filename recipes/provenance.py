"""Where a result came from: the source revision and the package versions, recorded by
training logs (`recipes.trainer`) and evaluation runs (`recipes.evaluate`), and the
atomic JSON writer of the training records."""

from __future__ import annotations

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
