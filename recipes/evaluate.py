"""Rate-distortion evaluation: learned models and classical codecs on real files.

    # Classical codecs only, 4 Kodak images (what ships with the project):
    python -m recipes.evaluate --model=none --max_images=4 --output=runs/eval_quick
    # Weights from `python -m recipes.train`, against JPEG/WebP and a published curve:
    python -m recipes.evaluate --weights=runs/hp/weights.npz --codecs=jpeg,webp \\
        --anchors=kodak_published.json --anchor_curves='tfc-paper/bpg444'
    # Every pretrained λ of a model on a folder of images:
    python -m recipes.evaluate --model=hyperprior --dataset=/data/photos
    # Every shipped model (all families and metrics) against the classical codecs:
    python -m recipes.evaluate --model=pretrained --output=runs/kodak

Writes `<output>/<curve>.json` (CompressAI's schema), `<curve>.per_image.json`,
`bd_rate.json`, `summary.txt`, `rd.png` and `run.json` (flags, git revision, library
versions); prints the table at the end. The logic lives in `recipes.evaluation`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from recipes import classical, evaluation, provenance  # noqa: E402

_MODEL = flags.DEFINE_string(
    "model", None, "Registry name of a learned model; `pretrained`: every shipped model "
    "(one curve per model and metric); `none` (or unset without --weights) evaluates "
    "classical codecs only.")
_LMBDA = flags.DEFINE_list(
    "lmbda", [], "λ values of pretrained weights (default: every pretrained λ of --model).")
_WEIGHTS = flags.DEFINE_list(
    "weights", [], "Weight files (zoo.weights.save) to evaluate instead of pretrained ones.")
_METRIC = flags.DEFINE_enum(
    "metric", "mse", ["mse", "ms-ssim"], "Which pretrained weights: optimized for MSE or MS-SSIM.")
_CODECS_ONLY = flags.DEFINE_bool("codecs_only", False, "Skip learned models.")
_DATASET = flags.DEFINE_string(
    "dataset", "kodak", "tfds name (kodak, cid22, any tfds image dataset) or a folder / glob.")
_SPLIT = flags.DEFINE_string("split", None, "tfds split (default: test, validation or train).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data_dir.")
_MANUAL_DIR = flags.DEFINE_string(
    "manual_dir", None, "tfds manual_dir (for cid22: the folder with training/, validation/).")
_MAX_IMAGES = flags.DEFINE_integer("max_images", None, "Use only this many images.")
_OUTPUT = flags.DEFINE_string("output", "runs/evaluate", "Output directory.")
_CODECS = flags.DEFINE_list(
    "codecs", classical.available_codecs(), f"Classical codecs ({', '.join(classical.CODECS)}) "
    "or `none`; default: all that this Pillow/pillow_heif build supports.")
_QUALITIES = flags.DEFINE_multi_string(
    "qualities", [], "Override a codec's quality sweep, e.g. --qualities=jpeg=20,50,80 "
    "(jpeg2000 takes target bpp).")
_ANCHORS = flags.DEFINE_list("anchors", [], "JSON files of published RD curves.")
_ANCHOR_CURVES = flags.DEFINE_list(
    "anchor_curves", ["*"], "Glob patterns choosing curves in the --anchors files.")
_BD_METHOD = flags.DEFINE_enum(
    "bd_method", "pchip", ["pchip", "cubic"], "BD-rate interpolation of log-rate.")
_PLOT = flags.DEFINE_bool("plot", True, "Write the rate-distortion plot rd.png.")
_EFFORT = flags.DEFINE_list(
    "effort", ["fast"], "Encoder effort of the learned models (zoo.effort): fast, refine, max "
    "or a number of refinement steps; several give one curve each, compared with 'fast'.")


def config_from_flags() -> evaluation.EvalConfig:
    codecs = [c for c in _CODECS.value if c.lower() != "none"]
    return evaluation.EvalConfig(
        output=_OUTPUT.value,
        dataset=_DATASET.value,
        split=_SPLIT.value,
        data_dir=_DATA_DIR.value,
        manual_dir=_MANUAL_DIR.value,
        max_images=_MAX_IMAGES.value,
        model=None if _CODECS_ONLY.value else _MODEL.value,
        lmbdas=[float(v) for v in _LMBDA.value],
        weights=[] if _CODECS_ONLY.value else _WEIGHTS.value,
        metric=_METRIC.value,
        codecs=[classical.get_codec(c).name for c in codecs],
        qualities=classical.parse_qualities(_QUALITIES.value),
        anchors=_ANCHORS.value,
        anchor_curves=_ANCHOR_CURVES.value,
        bd_method=_BD_METHOD.value,
        plot=_PLOT.value,
        efforts=_EFFORT.value,
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from zoo.errors import ZooError

    config = config_from_flags()
    try:
        report = evaluation.run(config)
    except (ZooError, ValueError) as exc:
        # A missing or damaged model is the user's to fix: say so without a traceback.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    record = {
        "flags": {f.name: f.value for f in flags.FLAGS.get_key_flags_for_module(sys.modules[__name__])},
        "git_revision": (provenance.git_revision() or {}).get("revision", "unknown"),
        "versions": provenance.package_versions(),
        "seconds": round(report.seconds, 1),
    }
    Path(config.output, "run.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(report.table)
    print(f"\n{len(report.curves)} curves in {report.seconds:.0f} s; results in {config.output}")


if __name__ == "__main__":
    app.run(main)
