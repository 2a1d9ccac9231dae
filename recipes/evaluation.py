"""Rate-distortion evaluation of zoo models and classical codecs on real files.

Every point is measured on real bitstreams: an image is encoded to the bytes a user
would store (zoo container / JPEG / WebP / ... files, headers included), decoded back,
and compared with the original:

* bpp = file bytes × 8 / (H × W) of the original, unpadded image;
* PSNR over 8-bit RGB; MS-SSIM over RGB, also in dB as −10 log10(1 − MS-SSIM);
* encoding and decoding wall-clock seconds (learned models are traced once before).

Per λ / quality the results are averaged over images (PSNR and MS-SSIM are means of the
per-image values; `ms-ssim-rgb-db` is the dB of the mean MS-SSIM, as CompressAI plots
it) and written in CompressAI's JSON schema, so its plotting tools read them:

    {"name": "jpeg", "description": "...", "results": {"bpp": [...], "psnr-rgb": [...],
     "ms-ssim-rgb": [...], "ms-ssim-rgb-db": [...], "encoding_time": [...],
     "decoding_time": [...]}}

Published curves ("anchors") are read from JSON files in either the tfc-paper layout
(`bpp_psnr`, `psnr`, `bpp_ms-ssim`, `ms-ssim`), CompressAI's flat layout (`bpp`,
`psnr`, `ms-ssim`) or CompressAI result files (`name`, `results`).
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from recipes import bd_rate as bd
from zoo import metrics

#: The two quality axes: name -> (results key, label).
QUALITY_AXES = {"psnr": ("psnr-rgb", "PSNR (dB)"), "ms-ssim": ("ms-ssim-rgb-db", "MS-SSIM (dB)")}
_MEAN_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")

Image = tuple[str, np.ndarray]


@dataclass
class Curve:
    """One rate-distortion curve: measured here (learned/classical) or published (anchor)."""

    name: str
    kind: str  # "learned", "classical" or "anchor"
    description: str = ""
    #: Averages per λ / quality, CompressAI keys ("bpp", "psnr-rgb", ...).
    results: dict[str, list[float]] = field(default_factory=dict)
    #: Rates per quality key where they differ from results["bpp"] (published curves).
    rates: dict[str, list[float]] = field(default_factory=dict)
    parameter: str = "quality"
    parameters: list[float] = field(default_factory=list)
    per_image: list[dict] = field(default_factory=list)

    def points(self, axis: str) -> tuple[np.ndarray, np.ndarray]:
        """(bpp, quality) along "psnr" or "ms-ssim" (dB); empty when unknown."""
        key = QUALITY_AXES[axis][0]
        values = self.results.get(key)
        if not values:
            return np.zeros(0), np.zeros(0)
        rates = self.rates.get(key, self.results.get("bpp", []))
        return np.asarray(rates, np.float64), np.asarray(values, np.float64)

    def to_json(self) -> dict:
        """CompressAI's schema, plus what produced each point."""
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "parameter": self.parameter,
            "parameters": self.parameters,
            "results": self.results,
        }


# Measuring ------------------------------------------------------------------------------


def measure_image(
    name: str, image: np.ndarray, encode: Callable[[np.ndarray], bytes],
    decode: Callable[[bytes], np.ndarray],
) -> dict:
    """Encodes and decodes one image for real; returns its size, quality and timings."""
    start = time.perf_counter()
    data = encode(image)
    encoded = time.perf_counter()
    decoded_image = decode(data)
    decoded = time.perf_counter()
    if decoded_image.shape != image.shape or decoded_image.dtype != np.uint8:
        raise RuntimeError(
            f"{name}: decoded {decoded_image.dtype} {decoded_image.shape}, "
            f"expected uint8 {image.shape}"
        )
    quality = metrics.image_quality(image, decoded_image)
    return {
        "image": name,
        "bytes": len(data),
        "bpp": len(data) * 8.0 / (image.shape[0] * image.shape[1]),
        "psnr-rgb": quality["psnr"],
        "ms-ssim-rgb": quality["ms-ssim"],
        "ms-ssim-rgb-db": quality["ms-ssim-db"],
        "encoding_time": encoded - start,
        "decoding_time": decoded - encoded,
    }


def average(records: Sequence[dict]) -> dict[str, float]:
    """Means over images of one λ / quality (MS-SSIM dB of the mean MS-SSIM)."""
    means = {key: float(np.mean([r[key] for r in records])) for key in _MEAN_KEYS}
    means["ms-ssim-rgb-db"] = metrics.ms_ssim_db(means["ms-ssim-rgb"])
    return means


def sweep(
    curve: Curve,
    settings: Sequence[tuple[float, Callable[[np.ndarray], bytes], Callable[[bytes], np.ndarray]]],
    images: Sequence[Image],
    progress: bool = True,
) -> Curve:
    """Fills `curve` with one averaged point per (parameter, encode, decode) setting."""
    keys = ("bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "encoding_time", "decoding_time")
    curve.results = {key: [] for key in keys}
    bar = tqdm(
        total=len(settings) * len(images), desc=f"{curve.name:<14}", unit="img",
        disable=not progress, leave=True,
    )
    with bar:
        for parameter, encode, decode in settings:
            records = []
            for name, image in images:
                record = measure_image(name, image, encode, decode)
                record[curve.parameter] = parameter
                records.append(record)
                bar.update()
            means = average(records)
            for key in keys:
                curve.results[key].append(means[key])
            curve.parameters.append(parameter)
            curve.per_image.extend(records)
            bar.set_postfix(bpp=f"{means['bpp']:.3f}", psnr=f"{means['psnr-rgb']:.2f}")
    return curve


def evaluate_classical(
    codec_name: str, images: Sequence[Image], qualities: Sequence[float] | None = None,
    progress: bool = True,
) -> Curve:
    """One classical codec swept over `qualities` (default: its own ladder)."""
    from recipes.classical import get_codec

    codec = get_codec(codec_name)
    qualities = tuple(qualities) if qualities else codec.qualities
    curve = Curve(codec.name, "classical", codec.description, parameter=codec.quality_name)
    settings = [
        (q, lambda image, q=q: codec.encode(image, q), codec.decode) for q in qualities
    ]
    return sweep(curve, settings, images, progress)


def evaluate_learned(
    name: str, codecs: Sequence, images: Sequence[Image], progress: bool = True,
    effort: str | int = "fast",
) -> Curve:
    """One curve from zoo `Codec`s (one per λ) of the same model, encoded at `effort`
    (`zoo.effort`; the curve is named `<name>@<effort>` unless it is "fast")."""
    if str(effort) != "fast":
        name = f"{name}@{effort}"
    curve = Curve(name, "learned", parameter="lmbda")
    descriptions = []
    settings = []
    for codec in sorted(codecs, key=lambda c: c.lmbda):
        # Trace the coding functions once so that timings measure coding, not tracing.
        # A variable-rate codec codes at its own `rate` (the λ it was asked for).
        warm = images[0][1][:64, :64]
        codec.decompress(codec.compress(warm))
        settings.append((codec.lmbda,
                         lambda image, c=codec: c.compress(image, effort=effort),
                         codec.decompress))
        descriptions.append(f"λ={codec.lmbda:g}: weights {codec.fingerprint[:12]}")
    curve.description = (f"{name} (zoo container files, encoder effort {effort}); "
                         + "; ".join(descriptions))
    return sweep(curve, settings, images, progress)


# Which learned codecs to run --------------------------------------------------------------


def learned_codecs(
    model: str | None, lmbdas: Sequence[float] = (), weights: Sequence[str] = (),
    metric: str = "mse",
) -> dict[str, list]:
    """Zoo `Codec`s to evaluate, grouped into curves named `<model>-<metric>`.

    Args:
      model: registry name, "pretrained" (every shipped model: one curve per name and
        metric), or None / "none" (then only `weights` count).
      lmbdas: λ values of pretrained weights; default every pretrained λ of `model`.
      weights: weight files to use instead of pretrained ones (any model).
      metric: which pretrained weights ("mse" or "ms-ssim").
    """
    import zoo
    from zoo import weights as zoo_weights

    model = None if model in (None, "", "none") else model
    groups: dict[str, list] = {}
    if weights:
        for path in weights:
            codec = zoo.Codec(zoo_weights.load(path))
            if model is not None and codec.name != model:
                raise ValueError(f"{path} holds {codec.name} weights, not {model}")
            groups.setdefault(f"{codec.name}-{codec.metric}", []).append(codec)
        return groups
    if model is None:
        return groups
    if model == "pretrained":
        shipped = {(e.name, e.metric, e.lmbda) for e in zoo.list_pretrained()}  # newest only
        for name, metric_, lmbda in sorted(shipped):
            groups.setdefault(f"{name}-{metric_}", []).append(zoo.get(name, lmbda, metric_))
        return groups
    if not lmbdas:
        lmbdas = sorted({e.lmbda for e in zoo.list_pretrained(model, metric)})
        if not lmbdas:
            raise zoo.WeightsError(
                f"no pretrained weights for {model} ({metric}) yet; pass --weights PATH "
                f"(from `python -m recipes.train`) or evaluate classical codecs alone "
                f"with --model=none"
            )
    groups[f"{model}-{metric}"] = [zoo.get(model, lmbda, metric) for lmbda in lmbdas]
    return groups


# Published curves -------------------------------------------------------------------


def _anchor_curve(name: str, record: dict) -> Curve | None:
    if "results" in record:  # A CompressAI result file.
        record = record["results"]
    curve = Curve(name, "anchor", "published")
    psnr = record.get("psnr-rgb", record.get("psnr"))
    msssim = record.get("ms-ssim-rgb", record.get("ms-ssim"))
    if psnr:
        curve.results["psnr-rgb"] = [float(v) for v in psnr]
        curve.rates["psnr-rgb"] = [float(v) for v in record.get("bpp_psnr", record.get("bpp"))]
    if msssim:
        # Some files already hold dB (> 1); the usual ones hold MS-SSIM in [0, 1].
        db = [float(v) if v > 1 else metrics.ms_ssim_db(float(v)) for v in msssim]
        curve.results["ms-ssim-rgb-db"] = db
        curve.rates["ms-ssim-rgb-db"] = [
            float(v) for v in record.get("bpp_ms-ssim", record.get("bpp"))
        ]
    return curve if curve.results else None


def load_anchors(path: str | Path, patterns: Sequence[str] = ("*",)) -> list[Curve]:
    """Published curves from a JSON file, those whose name matches any of `patterns`."""
    data = json.loads(Path(path).read_text())
    if "results" in data and "name" in data:
        candidates = {str(data["name"]): data}
    else:
        candidates = {
            key: value for key, value in data.items()
            if isinstance(value, dict) and not key.startswith("_")
        }
    curves = []
    for name, record in candidates.items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            curve = _anchor_curve(name, record)
            if curve is not None:
                curves.append(curve)
    if not curves:
        raise ValueError(f"no curve in {path} matches {list(patterns)}")
    return curves


# BD-rates and files -------------------------------------------------------------------


def bd_rates(
    tests: Sequence[Curve], references: Sequence[Curve], method: str = "pchip"
) -> dict[str, dict[str, dict[str, float]]]:
    """{axis: {test: {reference: BD-rate %}}} for every test/reference pair."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for axis in QUALITY_AXES:
        table[axis] = {}
        for test in tests:
            row = {}
            for ref in references:
                if ref.name == test.name:
                    continue
                ref_bpp, ref_q = ref.points(axis)
                test_bpp, test_q = test.points(axis)
                row[ref.name] = (
                    bd.bd_rate(ref_bpp, ref_q, test_bpp, test_q, method)
                    if len(ref_bpp) and len(test_bpp) else math.nan
                )
            table[axis][test.name] = row
    return table


def slug(name: str) -> str:
    """A file name for a curve name ("tfc-paper/bpg444" -> "tfc-paper_bpg444")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def read_curve(output: str | Path, name: str) -> Curve:
    """A curve back from what `write_outputs` wrote (summary and per-image files)."""
    output = Path(output)
    summary = json.loads((output / f"{slug(name)}.json").read_text())
    details = output / f"{slug(name)}.per_image.json"
    per_image = json.loads(details.read_text())["images"] if details.is_file() else []
    return Curve(summary["name"], summary["kind"], summary.get("description", ""),
                 results=summary["results"], parameter=summary["parameter"],
                 parameters=summary["parameters"], per_image=per_image)


def write_outputs(
    output: str | Path, curves: Sequence[Curve], bd_table: dict, dataset: dict,
    method: str,
) -> list[Path]:
    """Writes `<curve>.json` (CompressAI schema), `<curve>.per_image.json`, `bd_rate.json`."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for curve in curves:
        summary = {**curve.to_json(), "dataset": dataset}
        path = output / f"{slug(curve.name)}.json"
        path.write_text(json.dumps(summary, indent=2) + "\n")
        details = output / f"{slug(curve.name)}.per_image.json"
        details.write_text(json.dumps(
            {"name": curve.name, "parameter": curve.parameter, "dataset": dataset,
             "images": curve.per_image}, indent=1) + "\n")
        written += [path, details]
    path = output / "bd_rate.json"
    path.write_text(json.dumps({"method": method, "unit": "percent", **bd_table}, indent=2) + "\n")
    return written + [path]


# The whole run -----------------------------------------------------------------------------


@dataclass
class EvalConfig:
    """Everything `python -m recipes.evaluate` can set (see its flags)."""

    output: str = "runs/evaluate"
    dataset: str = "kodak"
    split: str | None = None
    data_dir: str | None = None
    manual_dir: str | None = None
    max_images: int | None = None
    model: str | None = None
    lmbdas: Sequence[float] = ()
    weights: Sequence[str] = ()
    metric: str = "mse"
    codecs: Sequence[str] = ("jpeg", "webp", "jpeg2000", "avif", "heif")
    qualities: dict[str, tuple[float, ...]] = field(default_factory=dict)
    anchors: Sequence[str] = ()
    anchor_curves: Sequence[str] = ("*",)
    bd_method: str = "pchip"
    plot: bool = True
    progress: bool = True
    #: Encoder effort levels of the learned models (`zoo.effort`): one curve each.
    efforts: Sequence[str] = ("fast",)


@dataclass
class Report:
    curves: list[Curve]
    anchors: list[Curve]
    bd_table: dict
    table: str
    files: list[Path]
    seconds: float


def run(config: EvalConfig) -> Report:
    """Evaluates the configured models and codecs; writes JSON (and a plot) to `output`."""
    from recipes import datasets

    start = time.perf_counter()
    # Resolve the models first: a missing weights file should fail before any coding.
    groups = learned_codecs(config.model, config.lmbdas, config.weights, config.metric)
    images = datasets.load_images(
        config.dataset, split=config.split, max_images=config.max_images,
        data_dir=config.data_dir, manual_dir=config.manual_dir,
    )
    if not images:
        raise ValueError(f"dataset {config.dataset!r} yielded no images")
    if not groups and not config.codecs:
        raise ValueError("nothing to evaluate: no model, weights or classical codec given")
    curves = [
        evaluate_learned(name, codecs, images, config.progress, effort)
        for name, codecs in groups.items() for effort in config.efforts
    ]
    curves += [
        evaluate_classical(name, images, config.qualities.get(name), config.progress)
        for name in config.codecs
    ]
    anchors = [c for path in config.anchors for c in load_anchors(path, config.anchor_curves)]
    classical = [c for c in curves if c.kind == "classical"]
    # With several encoder efforts, each learned curve is also compared with its "fast" one.
    fast = [c for c in curves if c.kind == "learned" and "@" not in c.name]
    references = classical + anchors + (fast if len(config.efforts) > 1 else [])
    bd_table = bd_rates(curves, references, config.bd_method)
    dataset = {
        "source": config.dataset, "split": config.split, "num_images": len(images),
        "images": [name for name, _ in images],
    }
    files = write_outputs(config.output, curves, bd_table, dataset, config.bd_method)
    if config.plot:
        from recipes.plots import plot_rd

        title = f"{config.dataset} ({len(images)} images)"
        files.append(plot_rd(curves + anchors, Path(config.output) / "rd.png", title))
    from recipes.plots import format_tables

    table = format_tables(curves, bd_table)
    (Path(config.output) / "summary.txt").write_text(table + "\n")
    return Report(curves, anchors, bd_table, table, files, time.perf_counter() - start)
