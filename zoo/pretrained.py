"""Pretrained weights: frozen records next to each family, found by name, metric and λ.

Records live in `zoo/models/<family>.pretrained.json` (written by the recipes, never
edited by hand), one JSON object per entry with the fields of `PretrainedEntry`.
Weight files are looked up, in order, inside the package (`zoo/weights/`), in the
user cache (`$LIC_ZOO_CACHE`, default `~/.cache/lic-zoo`), then under the base URL
`$LIC_ZOO_WEIGHTS_URL` (http(s):// or anything tf.io.gfile reads, e.g. gs://), from
where they are copied into the cache (only after their sha256 matches). The full
sha256 is checked on every load.

`$LIC_ZOO_RECORDS` names extra record files or directories (os.pathsep-separated;
a directory contributes its `*.pretrained.json`), searched after the package's. Weight
files of such records are also looked up next to the record file. It lets a user (or a
test) register weights without touching the installed package.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import urllib.request
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo.errors import WeightsError

PACKAGE_WEIGHTS = Path(__file__).parent / "weights"
RECORDS_DIR = Path(__file__).parent / "models"
CACHE_ENV = "LIC_ZOO_CACHE"
URL_ENV = "LIC_ZOO_WEIGHTS_URL"
RECORDS_ENV = "LIC_ZOO_RECORDS"


@dataclass(frozen=True)
class PretrainedEntry:
    """One published set of weights."""

    name: str
    metric: str
    lmbda: float
    quality: int
    version: int
    file: str
    sha256: str
    fingerprint: str
    config: dict = field(hash=False)
    training_data: str = ""
    steps: int = 0
    wall_time_hours: float = 0.0
    kodak: dict = field(default_factory=dict, hash=False)
    #: For variable-rate entries: the (min, max) λ it serves.
    lmbda_range: tuple[float, float] | None = None
    #: What the rate trade-off parameter is called for this family ("lmbda", "beta").
    tradeoff: str = "lmbda"
    #: Non-empty once the weights are no longer shipped (`export.publish.retire`): when
    #: and why, e.g. "2026-12-08, replaced by v2". The record stays, so that a file made
    #: with these weights is refused with a message naming them.
    retired: str = ""
    #: The training segments that made the weights, oldest first (`recipes.provenance.chain`:
    #: steps, wall time, precision, schedule, crops, data of each); steps and
    #: wall_time_hours are their totals. Empty in records from before chains were kept.
    chain: list = field(default_factory=list, hash=False)
    #: Folder of the record file (weights may sit beside it); not part of the record.
    source_dir: str = field(default="", compare=False, repr=False)

    def __post_init__(self):
        # A variable-rate model's builder config names its range; records written before
        # ranges were recorded (or by a publisher unaware of them) still serve it.
        kwargs = (self.config or {}).get("kwargs", {}) if isinstance(self.config, dict) else {}
        if self.lmbda_range is None and kwargs.get("lmbda_range") is not None:
            low, high = (float(v) for v in kwargs["lmbda_range"])
            object.__setattr__(self, "lmbda_range", (low, high))
        elif self.lmbda_range is not None:
            object.__setattr__(self, "lmbda_range", tuple(float(v) for v in self.lmbda_range))

    def record(self) -> dict[str, Any]:
        """The JSON object stored in a `<family>.pretrained.json` file."""
        record = asdict(self)
        del record["source_dir"]
        if self.lmbda_range is not None:
            record["lmbda_range"] = list(self.lmbda_range)
        return record

    def serves(self, lmbda: float) -> bool:
        if self.lmbda_range is not None:
            low, high = self.lmbda_range
            return low * (1 - 1e-9) <= lmbda <= high * (1 + 1e-9)
        return math.isclose(self.lmbda, lmbda, rel_tol=1e-9)

    def summary(self) -> str:
        lam = (
            f"λ∈[{self.lmbda_range[0]:g}, {self.lmbda_range[1]:g}]"
            if self.lmbda_range else f"λ={self.lmbda:g}"
        )
        k = self.kodak
        quality = (
            f"Kodak {k['bpp']:.3f} bpp, {k['psnr']:.2f} dB, MS-SSIM {k.get('ms_ssim', float('nan')):.4f}"
            if k else "not evaluated"
        )
        return f"{self.name:<14} {self.metric:<8} {lam:<22} q{self.quality} v{self.version}  {quality}"

    def describe(self) -> str:
        """"name (metric, λ=…) weights vN", as errors name an entry."""
        lam = (f"λ∈[{self.lmbda_range[0]:g}, {self.lmbda_range[1]:g}]"
               if self.lmbda_range else f"λ={self.lmbda:g}")
        return f"{self.name} ({self.metric}, {lam}) weights v{self.version}"

    def retired_message(self) -> str:
        """Why a file made with these (retired) weights cannot be decoded here."""
        return (f"{self.describe()} were retired ({self.retired}) and are no longer shipped; "
                f"decode the file with the release that shipped them, or pass their weights "
                f"file ({self.file}, sha256 {self.sha256[:16]}…) with --weights")


def record_files() -> list[Path]:
    """The package's record files, then those named by `$LIC_ZOO_RECORDS`."""
    files = sorted(RECORDS_DIR.glob("*.pretrained.json"))
    for item in filter(None, os.environ.get(RECORDS_ENV, "").split(os.pathsep)):
        path = Path(item).expanduser()
        files += sorted(path.glob("*.pretrained.json")) if path.is_dir() else [path]
    return files


def _state(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise WeightsError(f"cannot read pretrained records {path}: {exc.strerror}") from None
    return str(path), stat.st_mtime_ns, stat.st_size


def read_records(path: Path) -> list[PretrainedEntry]:
    """Parses one record file; unknown or missing fields are an error."""
    known = {f.name for f in fields(PretrainedEntry)} - {"source_dir"}
    try:
        records = json.loads(path.read_text())
        entries = []
        for record in records:
            unknown = set(record) - known
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            if record.get("lmbda_range"):
                record["lmbda_range"] = tuple(record["lmbda_range"])
            entries.append(PretrainedEntry(**record, source_dir=str(path.parent)))
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"{path} is not a valid pretrained record file: {exc}") from None
    return entries


@lru_cache(maxsize=8)
def _entries_of(states: tuple[tuple[str, int, int], ...]) -> tuple[PretrainedEntry, ...]:
    return tuple(e for path, _, _ in states for e in read_records(Path(path)))


def _entries() -> tuple[PretrainedEntry, ...]:
    # Keyed on the files' mtimes and sizes: records published in this process show up.
    return _entries_of(tuple(_state(p) for p in record_files()))


def list_pretrained(name: str | None = None, metric: str | None = None,
                    retired: bool = False) -> list[PretrainedEntry]:
    """Every shipped pretrained entry (optionally of one model name and metric);
    `retired=True` lists the retired ones instead."""
    return [
        e for e in _entries()
        if (name is None or e.name == name) and (metric is None or e.metric == metric)
        and bool(e.retired) == retired
    ]


def find(name: str, lmbda: float, metric: str = "mse") -> PretrainedEntry:
    """The newest entry of `name` and `metric` serving `lmbda`; a miss lists what exists."""
    from zoo.registry import get_spec

    get_spec(name)  # unknown names fail with close matches
    candidates = [e for e in list_pretrained(name, metric) if e.serves(lmbda)]
    if candidates:
        return max(candidates, key=lambda e: e.version)
    available = list_pretrained(name, metric)
    gone = [e for e in list_pretrained(name, metric, retired=True) if e.serves(lmbda)]
    if not available:
        if gone:
            raise WeightsError(max(gone, key=lambda e: e.version).retired_message())
        raise WeightsError(
            f"no pretrained weights for {name} ({metric}); train them with "
            f"`python -m recipes.train --model={name} --lmbda={lmbda:g}` and pass "
            f"the resulting weights file with --weights PATH"
        )
    ranges = sorted(
        {f"[{e.lmbda_range[0]:g}, {e.lmbda_range[1]:g}]" if e.lmbda_range else f"{e.lmbda:g}"
         for e in available}
    )
    was = f" ({max(gone, key=lambda e: e.version).describe()} were retired)" if gone else ""
    raise WeightsError(
        f"no pretrained {name} ({metric}) for λ={lmbda:g}{was}; available λ: {', '.join(ranges)}"
    )


def resolve(spec: str) -> Path:
    """A weights file named by its path or as `name@λ` (MSE) / `name@λ@metric` of an entry."""
    if Path(spec).is_file():
        return Path(spec)
    name, *rest = spec.split("@")
    if len(rest) not in (1, 2):
        raise WeightsError(f"{spec!r}: no such weights file, and not name@λ of a pretrained entry")
    try:
        lmbda = float(rest[0])
    except ValueError:
        raise WeightsError(f"{spec!r}: λ {rest[0]!r} is not a number") from None
    return weights_file(find(name, lmbda, *rest[1:]))


def entry_by_fingerprint(name: str, metric: str, fingerprint_prefix: bytes,
                         ) -> PretrainedEntry | None:
    """The entry, shipped or retired, whose weights have this fingerprint (prefix)."""
    hexprefix = fingerprint_prefix.hex()
    for retired in (False, True):
        for entry in list_pretrained(name, metric, retired=retired):
            if entry.fingerprint.startswith(hexprefix):
                return entry
    return None


def find_by_fingerprint(name: str, metric: str, fingerprint_prefix: bytes) -> PretrainedEntry:
    """The shipped entry that made a file (its header's model, metric and fingerprint).

    Raises:
      WeightsError: no entry has these weights, or they were retired (the message names
        their version).
    """
    hexprefix = fingerprint_prefix.hex()
    entry = entry_by_fingerprint(name, metric, fingerprint_prefix)
    if entry is not None and entry.retired:
        raise WeightsError(f"the file was made by {entry.retired_message()}")
    if entry is not None:
        return entry
    raise WeightsError(
        f"the file was made by {name} ({metric}) with weights {hexprefix}, which are not "
        f"among the pretrained weights; decode it with the Codec (or --weights) that made it"
    )


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "lic-zoo"))


def _download(url: str, target: Path, sha256: str) -> None:
    """Fetches `url` into `target`, which appears only if its sha256 matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    try:
        if url.startswith(("http://", "https://")):
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
                f.write(response.read())
        else:
            import tensorflow as tf

            tf.io.gfile.copy(url, str(tmp), overwrite=True)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"could not fetch weights from {url}: {exc}") from None
    actual = hashlib.sha256(tmp.read_bytes()).hexdigest()
    if actual != sha256:
        tmp.unlink(missing_ok=True)
        raise WeightsError(
            f"weights fetched from {url} failed their integrity check (sha256 {actual[:16]}…, "
            f"the registry says {sha256[:16]}…); nothing was cached or loaded"
        )
    os.replace(tmp, target)


def weights_file(entry: PretrainedEntry) -> Path:
    """Where the entry's file is: package, beside its record, cache, else fetched from the URL."""
    folders = [PACKAGE_WEIGHTS] + ([Path(entry.source_dir)] if entry.source_dir else [])
    for folder in folders + [cache_dir()]:
        if (folder / entry.file).is_file():
            return folder / entry.file
    base = os.environ.get(URL_ENV)
    if not base:
        raise WeightsError(
            f"weights file {entry.file} for {entry.name} is not installed (looked in "
            f"{', '.join(str(f) for f in folders)} and {cache_dir()}); set {URL_ENV} to a "
            f"base URL to fetch it"
        )
    target = cache_dir() / entry.file
    _download(base.rstrip("/") + "/" + entry.file, target, entry.sha256)
    return target


def load_model(entry: PretrainedEntry) -> Any:
    """The entry's model with its weights, after checking the file's full sha256.

    Raises:
      WeightsError: missing, truncated or tampered file (nothing is loaded).
    """
    from zoo import weights

    path = weights_file(entry)
    # `weights.load` hashes the bytes before parsing anything (and never unpickles).
    model = weights.load(path, sha256=entry.sha256)
    if weights.fingerprint(model) != entry.fingerprint:
        raise WeightsError(f"{path}: weights do not match the registry's fingerprint")
    return model


def get(name: str, lmbda: float, metric: str = "mse"):
    """A ready `Codec` with the pretrained weights of `name` at `lmbda`.

    λ must match an entry exactly (`math.isclose`), or lie in a variable-rate entry's
    range, in which case the codec compresses at `lmbda` by default.

    Raises:
      RegistryError: unknown model name.
      WeightsError: no entry for `lmbda` (the message lists the available λ), or the
        weights are missing or fail their integrity check.
    """
    from zoo.codec import Codec

    entry = find(name, lmbda, metric)
    model = load_model(entry)
    if entry.lmbda_range is None:
        return Codec(model)
    if model.rate_spec is None or model.rate_spec.name != "lmbda":
        raise WeightsError(f"{entry.file}: the record gives a λ range, but {name} is not "
                           "a λ-parameterized model")
    try:
        return Codec(model, rate=lmbda)  # compresses at the λ asked for unless told otherwise
    except ValueError as exc:
        raise WeightsError(f"{entry.file}: the record's λ range exceeds the model's: {exc}") from None
