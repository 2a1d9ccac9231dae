"""One model, many rates, at this machine's scale: `python -m recipes.rate_study`.

Reproduces the comparisons of seed 004 Fig. 12 (λ-parameterizations vs separately
trained models) and seed 001 Fig. 5 (test-time scaling of quantization steps):

    for λ in lambdas:            train <family>     at λ                ─┐ same steps,
    for p in parameterizations:  train <family>_vr  λ ~ logU(λ range)    ├ patches, batch
    for m in step_models:        train m at max λ, then sweep β ∈ betas  ─┘ and data
    Kodak, real files ─> curves (JSON), rd.png, BD-rate table vs the separate models

    python -m recipes.rate_study --quick --workdir /tmp/rate_study     # minutes, tiny
    python -m recipes.rate_study --workdir runs/rate_study             # hours on a CPU
    python -m recipes.rate_study --groups full,step &  python -m recipes.rate_study --groups vr
                                          # two processes, then once more to evaluate
    python -m recipes.rate_study --init_from hyperprior@0.013 --function_lr_multiplier 30
                                          # every variant fine-tuned from one trained model

Trained variants are reused when their `weights.npz` exists, so an interrupted study
resumes where it stopped (a partly trained variant resumes from its checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from recipes import evaluation, trainer  # noqa: E402
from recipes.evaluation import Curve  # noqa: E402
from zoo.variable_rate import PARAMETERIZATIONS  # noqa: E402

CID22_TRAINING = "/work/shared/datasets/cid22/training"
FULL = "separate models"


@dataclass
class StudyConfig:
    """Everything that determines a study; every variant is trained with the same schedule."""

    workdir: str = "runs/rate_study"
    family: str = "hyperprior"
    lambdas: Sequence[float] = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
    parameterizations: Sequence[str] = PARAMETERIZATIONS
    function: str = "spline"
    #: Models whose rate moves by scaling quantization steps at test time (seed 001).
    step_models: Sequence[str] = ("learned_step", "gdn_fixed_step")
    betas: Sequence[float] = (1.0, 1.6, 2.5, 4.0, 6.3, 10.0)
    model_overrides: dict[str, Any] = field(
        default_factory=lambda: {"num_filters": 64, "num_latents": 96})
    tiny: bool = False
    num_steps: int = 3000
    batchsize: int = 8
    patchsize: int = 128
    learning_rate: float = 1e-4
    train_data: str = CID22_TRAINING
    eval_data: str = "kodak"
    max_images: int | None = None
    seed: int = 0
    #: Warm start: every variant starts from these trained weights (a path, or
    #: `name@λ` of a pretrained entry), so the study compares how each way of covering
    #: the rate axis moves one trained model in the same number of steps.
    init_from: str | None = None
    #: How much faster the functions of λ learn than the transforms (`LambdaFunction`).
    function_lr_multiplier: float = 1.0
    progress: bool = True
    #: Variant groups to train ("full", "vr", "step"): several processes can train
    #: disjoint groups of one study at once, then one more run (all groups) evaluates.
    groups: Sequence[str] = ("full", "vr", "step")

    @property
    def lmbda_range(self) -> tuple[float, float]:
        return float(min(self.lambdas)), float(max(self.lambdas))

    def model_name(self, name: str) -> str:
        return f"{name}_tiny" if self.tiny else name

    def init_weights(self) -> str | None:
        """The warm-start weights file (`name@λ` resolved to the pretrained entry's file)."""
        from zoo import pretrained

        return str(pretrained.resolve(self.init_from)) if self.init_from else None


def quick_config(workdir: str, **changes: Any) -> StudyConfig:
    """Tiny models, 100 steps, three λ, 2 Kodak images: a few minutes in all."""
    values = dict(workdir=workdir, lambdas=(0.0035, 0.013, 0.0483), betas=(1.0, 2.5, 6.3),
                  model_overrides={}, tiny=True, num_steps=100, batchsize=4, patchsize=64,
                  learning_rate=1e-3, max_images=2)
    values.update(changes)
    return StudyConfig(**values)


# Training ---------------------------------------------------------------------------------


def train_variant(config: StudyConfig, tag: str, model: str, lmbda: float | None = None,
                  overrides: dict[str, Any] | None = None) -> Path:
    """Trains one variant in `<workdir>/<tag>` (skipped if its weights exist); returns them."""
    workdir = Path(config.workdir) / tag
    weights = workdir / "weights.npz"
    if weights.is_file():
        return weights
    run_config = trainer.resolve_config(
        model, str(workdir), train_data=config.train_data, lmbda=lmbda,
        model_overrides={**config.model_overrides, **(overrides or {})},
        num_steps=config.num_steps, batchsize=config.batchsize, patchsize=config.patchsize,
        learning_rate=config.learning_rate, seed=config.seed,
        checkpoint_every=max(1, config.num_steps // 4), log_every=max(1, config.num_steps // 20),
        image_every=10 * config.num_steps, data_throughput_batches=2,
        init_from=config.init_weights(),
    )
    log = trainer.run(run_config)
    return Path(log["weights"])


def train_all(config: StudyConfig) -> dict[str, Any]:
    """Trains every variant; returns {"full": {λ: path}, "vr": {p: path}, "step": {m: path}}."""
    import zoo

    family = config.model_name(config.family)
    vr = config.model_name(f"{config.family}_vr")
    paths: dict[str, Any] = {"full": {}, "vr": {}, "step": {}}
    for lmbda in config.lambdas if "full" in config.groups else ():
        paths["full"][lmbda] = train_variant(config, f"full-{lmbda:g}", family, lmbda)
    low, high = config.lmbda_range
    for parameterization in config.parameterizations if "vr" in config.groups else ():
        paths["vr"][parameterization] = train_variant(
            config, f"vr-{parameterization}", vr, None,
            {"parameterization": parameterization, "function": config.function,
             "lmbda_range": [low, high],
             "function_lr_multiplier": config.function_lr_multiplier},
        )
    for name in config.step_models if "step" in config.groups else ():
        if config.model_name(name) not in zoo.list_models():
            continue
        # Trained at the highest rate; β ≥ 1 only lowers it (seed 001 §4).
        paths["step"][name] = train_variant(config, f"step-{name}", config.model_name(name), high)
    return paths


def _load_step_codec(config: StudyConfig, path: Path):
    """A step-scaling model with its latent means estimated on training crops (seed 001 §3.1)."""
    import zoo
    from recipes import data as data_lib
    from zoo import weights

    model = weights.load(path)
    if hasattr(model, "estimate_mean"):
        paths = data_lib.scan_images(data_lib.image_paths(config.train_data), config.patchsize).paths
        crops = data_lib.train_dataset(paths, config.patchsize, config.batchsize, seed=config.seed)
        model.estimate_mean(crops.take(8))
    return zoo.Codec(model)


# Evaluation -------------------------------------------------------------------------------


def sweep_rates(name: str, codec, rates: Sequence[float], parameter: str,
                 images, progress: bool) -> Curve:
    """One curve from one variable-rate codec coding every image at every rate."""
    warm = images[0][1][:64, :64]
    codec.decompress(codec.compress(warm, rates[0]))  # trace once, so timings measure coding
    settings = [(r, lambda image, r=r: codec.compress(image, r), codec.decompress) for r in rates]
    curve = Curve(name, "learned", f"{codec.name}, weights {codec.fingerprint[:12]}",
                  parameter=parameter)
    return evaluation.sweep(curve, settings, images, progress)


def evaluate_all(config: StudyConfig, paths: dict[str, Any]) -> list[Curve]:
    """The curves of the study: separate models first (the BD-rate reference)."""
    import zoo
    from recipes import datasets

    # The Kodak images ship with the project: read the folder, no tfds preparation.
    source = str(datasets.KODAK_DIR) if config.eval_data == "kodak" else config.eval_data
    images = datasets.load_images(source, max_images=config.max_images)
    full = evaluation.evaluate_learned(
        FULL, [zoo.load(p) for p in paths["full"].values()], images, config.progress)
    curves = [full]
    for parameterization, path in paths["vr"].items():
        curves.append(sweep_rates(parameterization, zoo.load(path), list(config.lambdas),
                                   "lmbda", images, config.progress))
    for name, path in paths["step"].items():
        curves.append(sweep_rates(f"{name} (β scaling)", _load_step_codec(config, path),
                                   list(config.betas), "beta", images, config.progress))
    return curves


def coverage_table(curves: list[Curve], bd_table: dict) -> str:
    """One row per curve: the rates it spans, how much of the separate models' span that
    covers (on a log scale, where BD-rates integrate), and its BD-rates against them.

    A BD-rate is computed over the overlap only, so a curve that barely moves along the
    rate axis can score well on a sliver: read the two columns together.
    """
    import math

    full = next(c for c in curves if c.name == FULL)
    lo, hi = min(full.results["bpp"]), max(full.results["bpp"])
    lines = [f"{'variant':<30}{'bpp span':>16}{'covers':>9}{'BD PSNR':>10}{'BD MS-SSIM':>12}"]
    for curve in curves:
        a, b = min(curve.results["bpp"]), max(curve.results["bpp"])
        overlap = max(0.0, math.log(min(b, hi)) - math.log(max(a, lo))) / math.log(hi / lo)
        bd = [bd_table[m].get(curve.name, {}).get(FULL) for m in ("psnr", "ms-ssim")]
        cells = ["ref" if curve is full else ("-" if v is None else f"{v:+.1f}%") for v in bd]
        lines.append(f"{curve.name:<30}{f'{a:.3f}-{b:.3f}':>16}{overlap:>9.0%}"
                     f"{cells[0]:>10}{cells[1]:>12}")
    return "\n".join(lines)


def report(config: StudyConfig, curves: list[Curve]) -> dict[str, Any]:
    """Writes curves (JSON), bd_rate.json, rd.png and summary.txt; returns the BD table."""
    from recipes import plots

    out = Path(config.workdir) / "results"
    reference = [c for c in curves if c.name == FULL]
    bd_table = evaluation.bd_rates(curves, reference)  # the reference's own row stays empty
    images = curves[0].per_image
    dataset = {"source": config.eval_data, "num_images": len({r["image"] for r in images})}
    evaluation.write_outputs(out, curves, bd_table, dataset, "pchip")
    start = f" from {config.init_from}" if config.init_from else ""
    title = (f"Kodak ({dataset['num_images']} images), {config.num_steps} steps per model{start}, "
             f"{config.model_name(config.family)}")
    png = plots.plot_rd(curves, out / "rd.png", title)
    table = plots.format_tables(curves, bd_table) + "\n\n" + coverage_table(curves, bd_table)
    (out / "summary.txt").write_text(table + "\n")
    (out / "study.json").write_text(json.dumps(
        {"config": dataclasses.asdict(config), "bd_rate_vs_separate_models": bd_table},
        indent=2, default=str) + "\n")
    return {"bd_table": bd_table, "table": table, "plot": str(png), "output": str(out)}


def curve_names(config: StudyConfig) -> list[str]:
    """The study's curves, in report order."""
    return ([FULL] + list(config.parameterizations)
            + [f"{m} (β scaling)" for m in config.step_models])


def run(config: StudyConfig, report_only: bool = False) -> dict[str, Any]:
    """Trains (or reuses) every variant, evaluates them and writes the report.

    `report_only`: rebuild the report (tables, plot) from the curves a finished run wrote.
    """
    if report_only:
        out = Path(config.workdir) / "results"
        return report(config, [evaluation.read_curve(out, n) for n in curve_names(config)
                               if (out / f"{evaluation.slug(n)}.json").is_file()])
    Path(config.workdir).mkdir(parents=True, exist_ok=True)
    paths = train_all(config)
    if set(config.groups) != {"full", "vr", "step"}:
        return {"table": f"trained {', '.join(config.groups)}; run all groups to evaluate",
                "plot": None, "output": config.workdir}
    curves = evaluate_all(config, paths)
    return report(config, curves)


def main(argv: Sequence[str]) -> None:
    del argv
    from absl import flags

    f = flags.FLAGS
    changes: dict[str, Any] = {}
    if f.num_steps:
        changes["num_steps"] = f.num_steps
    if f.max_images:
        changes["max_images"] = f.max_images
    for name in ("patchsize", "batchsize", "learning_rate"):
        if getattr(f, name):
            changes[name] = getattr(f, name)
    if f.lambdas:
        changes["lambdas"] = tuple(float(v) for v in f.lambdas)
    if f.parameterizations:
        changes["parameterizations"] = tuple(f.parameterizations)
    if f.step_models is not None:
        changes["step_models"] = tuple(m for m in f.step_models if m)
    if f.model_overrides:
        changes["model_overrides"] = json.loads(f.model_overrides)
    if f.groups:
        changes["groups"] = tuple(f.groups)
    changes.update(family=f.family, train_data=f.train_data, eval_data=f.eval_data,
                   function=f.function, seed=f.seed, init_from=f.init_from,
                   function_lr_multiplier=f.function_lr_multiplier)
    config = (quick_config(f.workdir, **changes) if f.quick
              else StudyConfig(workdir=f.workdir, **changes))
    result = run(config, report_only=f.report_only)
    print(result["table"])
    print(f"\nplot: {result['plot']}\nresults: {result['output']}")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("workdir", "runs/rate_study", "Where variants and results go.")
    flags.DEFINE_bool("quick", False, "Tiny models, 100 steps, 3 λ, 2 Kodak images.")
    flags.DEFINE_string("family", "hyperprior", "Fixed-rate family; `<family>_vr` must exist.")
    flags.DEFINE_list("lambdas", None, "λ of the separate models (also the VR range and sweep).")
    flags.DEFINE_list("parameterizations", None, f"Subset of {', '.join(PARAMETERIZATIONS)}.")
    flags.DEFINE_list("step_models", None, "Test-time step-scaling models (empty: none).")
    flags.DEFINE_enum("function", "spline", ["spline", "mlp"], "Functions of λ.")
    flags.DEFINE_integer("num_steps", None, "Training steps per variant.")
    flags.DEFINE_integer("patchsize", None, "Training crop side (default 128).")
    flags.DEFINE_integer("batchsize", None, "Training batch size (default 8).")
    flags.DEFINE_float("learning_rate", None, "Adam learning rate of every variant (default 1e-4).")
    flags.DEFINE_integer("max_images", None, "Evaluate on the first N Kodak images.")
    flags.DEFINE_string("model_overrides", None, "JSON builder arguments for every variant.")
    flags.DEFINE_string("train_data", CID22_TRAINING, "Training images (folder, glob or tfds).")
    flags.DEFINE_string("eval_data", "kodak", "Evaluation images (tfds name, folder or glob).")
    flags.DEFINE_integer("seed", 0, "Seed of crops and λ draws.")
    flags.DEFINE_bool("report_only", False, "Rebuild tables and plot from the curves of a "
                      "finished study (no training, no coding).")
    flags.DEFINE_string("init_from", None, "Warm start every variant from these weights: a "
                        "file or name@λ of a pretrained entry (e.g. hyperprior@0.013).")
    flags.DEFINE_float("function_lr_multiplier", 1.0, "Learning-rate multiplier of the "
                       "functions of λ (e.g. 30 when warm-starting).")
    flags.DEFINE_list("groups", None, "Train only these variant groups (full, vr, step), to "
                      "split a study over processes; evaluation needs all three.")
    app.run(main)

