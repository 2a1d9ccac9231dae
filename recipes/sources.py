"""Where images come from: one rule for "files on disk or a TFDS dataset", shared by
training (`recipes.data`) and evaluation (`recipes.datasets`).

    resolve("photos/")          -> Source("files", "photos/")
    resolve("photos/**/*.png")  -> Source("files", ...)      (a glob)
    resolve("kodak")            -> Source("tfds", "kodak")
    resolve("clic:1.0.0")       -> Source("tfds", "clic:1.0.0")  (name[/config][:version])
    resolve("tfds:my/data")     -> Source("tfds", "my/data")     (forced)

A spec is files when it exists, holds a glob character, is written like a path (starts
with `/`, `.` or `~`, ends with a separator) or ends in an image suffix; a path that does
not exist still counts as files, so the user hears "no images found" rather than a TFDS
error. Anything else is a TFDS name. How a TFDS dataset is read (prepared only, or built
offline for the project's own builders) stays with each caller.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from zoo.image_io import IMAGE_SUFFIXES

TFDS_PREFIX = "tfds:"
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Source:
    """A resolved image source: `kind` "files" (folder, file or glob) or "tfds"."""

    kind: str
    #: The path or glob as given, or the TFDS name without `tfds:`.
    spec: str

    @property
    def is_local(self) -> bool:
        return self.kind == "files"

    @property
    def builder_name(self) -> str:
        """The TFDS builder without config or version (`clic/2020:1.0.0` -> `clic`)."""
        return self.spec.split(":")[0].split("/")[0]


def _has_image_suffix(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def resolve(spec: str) -> Source:
    """Files or TFDS, by the rules of the module docstring."""
    if spec.startswith(TFDS_PREFIX):
        return Source("tfds", spec.removeprefix(TFDS_PREFIX))
    looks_like_path = (
        spec.startswith(("/", ".", "~"))
        or spec.endswith(os.sep)
        or any(c in spec for c in GLOB_CHARS)
        or _has_image_suffix(spec)
    )
    return Source("files" if looks_like_path or os.path.exists(spec) else "tfds", spec)


def is_local(spec: str) -> bool:
    """Whether `spec` names files on disk (rather than a TFDS dataset)."""
    return resolve(spec).is_local


def image_files(spec: str) -> list[str]:
    """The image files (`IMAGE_SUFFIXES`) a folder, a single file or a glob names, sorted.

    `~` is expanded; a folder is listed, not globbed, so names with spaces, parentheses
    or brackets are safe; `**` in a glob recurses. A single file is taken whatever its
    suffix. Empty when nothing matches (each caller raises its own error).
    """
    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        found = [str(p) for p in Path(path).iterdir() if p.is_file() and _has_image_suffix(p)]
    elif os.path.isfile(path):
        found = [path]
    else:
        found = [
            p for p in glob.glob(path, recursive=True) if os.path.isfile(p) and _has_image_suffix(p)
        ]
    return sorted(found)
