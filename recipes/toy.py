"""Trains coders of the toy sources and draws the figures of seed 004, sections II-III.

Ballé et al., "Nonlinear Transform Coding", arXiv:2007.03034 (figs. 1-8).

    python -m recipes.toy --source=laplace --method=ntc --proxy=noise --lmbda=4 --output=/tmp/toy
    python -m recipes.toy --sweep --output=/tmp/toy_out

Loss convention: rate (bits per sample vector) + λ · E‖x − x̂‖² (summed over dims).
Each run writes `<source>_<method>_lmbda<λ>_quantization.png` (and `_transforms.png`
for 1-D transform coders, `_jacobians.png` for 2-D NTC); every invocation writes
`rd_<source>.png` and `results.json`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from recipes import toy_plots
from zoo import create_model
from zoo.toy import references
from zoo.toy.ntc import OFFSET_METHODS, PROXIES, TransformCoder
from zoo.toy.sources import SOURCES, get_source
from zoo.toy.training import evaluate_on_grid, train

METHODS = ("vecvq", "ntc", "ltc")
#: Per-method training defaults, sized to take seconds on a 2-core CPU (the seed's
#: notebook runs 50-100k steps of 1024 samples at 1e-3).
TRAINING = {
    "vecvq": dict(steps=6000, batch_size=512, learning_rate=1e-2),
    "ntc": dict(steps=3000, batch_size=256, learning_rate=3e-3),
    "ltc": dict(steps=5000, batch_size=256, learning_rate=3e-2),
}
SWEEP_LMBDAS = {"laplace": (1.0, 4.0, 16.0), "banana": (0.3, 1.0, 10.0)}
SWEEP_METHODS = {
    "laplace": ("vecvq", "ntc:noise", "ntc:dither", "ntc:ste", "ntc:soft_round"),
    "banana": ("vecvq", "ntc:noise", "ntc:ste", "ltc:noise"),
}


@dataclass(frozen=True)
class RunSpec:
    """One model to train: source, method, λ and the training schedule."""

    source: str
    method: str
    lmbda: float
    proxy: str = "noise"
    offset: str = "search"
    steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 0

    @property
    def label(self) -> str:
        return "VECVQ" if self.method == "vecvq" else f"{self.method.upper()} ({self.proxy})"

    @property
    def slug(self) -> str:
        method = self.method if self.method == "vecvq" else f"{self.method}-{self.proxy}"
        return f"{self.source}_{method}_lmbda{self.lmbda:g}"

    def training(self) -> dict:
        chosen = dict(
            steps=self.steps, batch_size=self.batch_size, learning_rate=self.learning_rate
        )
        return {**TRAINING[self.method], **{k: v for k, v in chosen.items() if v is not None}}


def parse_method(spec: str) -> tuple[str, str]:
    """Splits a method spec: "ntc:ste" -> ("ntc", "ste"); "vecvq" -> ("vecvq", "noise")."""
    method, _, proxy = spec.partition(":")
    proxy = proxy or "noise"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if proxy not in PROXIES:
        raise ValueError(f"unknown proxy {proxy!r}; known: {', '.join(PROXIES)}")
    return method, proxy


def build(spec: RunSpec):
    kwargs = dict(source=spec.source, lmbda=spec.lmbda)
    if spec.method != "vecvq":
        kwargs["proxy"] = spec.proxy
    return create_model(f"toy_{spec.method}", **kwargs)


def run(spec: RunSpec, output: str | None = None, progress: bool = True) -> dict:
    """Trains, fixes the offset, evaluates against the exact density, and draws the model."""
    source = get_source(spec.source)
    model = build(spec)
    start = time.time()
    train(model, source, seed=spec.seed, progress=progress, desc=spec.slug, **spec.training())
    seconds = time.time() - start
    if isinstance(model, TransformCoder) and spec.proxy != "dither":
        samples = source.sample(10_000, tf.random.Generator.from_seed(spec.seed + 1))
        model.choose_offset(samples, spec.offset)
    metrics = evaluate_on_grid(model, source)
    result = {**asdict(spec), **spec.training(), "label": spec.label, **metrics}
    result["train_seconds"] = seconds
    if isinstance(model, TransformCoder):
        result["offset"] = model.offset.numpy().tolist()
    logging.info(
        "%s: rate %.4f, distortion %.5f, loss %.4f",
        spec.slug,
        metrics["rate"],
        metrics["distortion"],
        metrics["loss"],
    )
    if output:
        base = os.path.join(output, spec.slug)
        title = f"{spec.label}, λ = {spec.lmbda:g}"
        toy_plots.plot_quantization(model, source, base + "_quantization.png", title)
        if isinstance(model, TransformCoder) and source.dims == 1:
            toy_plots.plot_transforms_1d(model, source, base + "_transforms.png", title)
        if isinstance(model, TransformCoder) and source.dims == 2:
            toy_plots.plot_jacobians_2d(model, source, base + "_jacobians.png", title)
    return result


def reference_curves(source_name: str, results: list[dict]) -> tuple[dict, dict, str]:
    """Reference curves for the R-D figure, and the baseline Lagrangian per λ.

    Laplace: Sullivan's ECSQ (baseline) and R(D) by Blahut-Arimoto. Banana: the Shannon
    lower bound, with VECVQ's measured Lagrangian as the baseline.
    """
    lmbdas = sorted({r["lmbda"] for r in results})
    source = get_source(source_name)
    if source_name == "laplace":
        dense = np.geomspace(0.5 * min(lmbdas), 2.0 * max(lmbdas), 40)
        ecsq = [references.sullivan_ecsq_laplace(lm) for lm in dense]
        rd = references.laplace_rate_distortion(np.geomspace(dense[0], dense[-1], 10))
        curves = {
            "Sullivan's optimal ECSQ": ([q.distortion for q in ecsq], [q.rate for q in ecsq]),
            "R(D) (Blahut-Arimoto)": ([p.distortion for p in rd], [p.rate for p in rd]),
        }
        baseline = {lm: references.sullivan_ecsq_laplace(lm).lagrangian(lm) for lm in lmbdas}
        return curves, baseline, "Sullivan's ECSQ"
    dists = np.geomspace(0.5 * min(r["distortion"] for r in results), source.variance, 50)
    curves = {
        "Shannon lower bound": (
            dists,
            references.shannon_lower_bound(source.differential_entropy_bits, source.dims, dists),
        )
    }
    baseline = {r["lmbda"]: r["loss"] for r in results if r["method"] == "vecvq"}
    return curves, baseline, "VECVQ"


def write_summary(results: list[dict], output: str, config: dict) -> None:
    """results.json and one R-D figure per source."""
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "results.json"), "w") as f:
        json.dump({"config": config, "results": results}, f, indent=1)
    for name in sorted({r["source"] for r in results}):
        rows = [r for r in results if r["source"] == name]
        curves, baseline, baseline_name = reference_curves(name, rows)
        path = os.path.join(output, f"rd_{name}.png")
        toy_plots.plot_rate_distortion(
            rows, get_source(name), curves, path, baseline or None, baseline_name
        )


def sweep(
    sources, methods_by_source: dict, lmbdas_by_source: dict, output: str, **overrides
) -> list[dict]:
    """Trains every method at every λ on every source; returns all results."""
    results = []
    for name in sources:
        for method_spec in methods_by_source[name]:
            method, proxy = parse_method(method_spec)
            for lmbda in lmbdas_by_source[name]:
                spec = RunSpec(name, method, float(lmbda), proxy, **overrides)
                results.append(run(spec, output))
    return results


FLAGS = flags.FLAGS
flags.DEFINE_enum("source", "laplace", list(SOURCES), "Toy source.")
flags.DEFINE_enum("method", "vecvq", list(METHODS), "Coding method.")
flags.DEFINE_enum("proxy", "noise", list(PROXIES), "Quantization proxy of NTC/LTC.")
flags.DEFINE_enum("offset", "search", list(OFFSET_METHODS), "How to fix the offset after training.")
flags.DEFINE_float("lmbda", 4.0, "Lagrange multiplier: loss = bits + λ·squared error.")
flags.DEFINE_integer("steps", None, "Training steps (default: per method).")
flags.DEFINE_integer("batch_size", None, "Samples per step (default: per method).")
flags.DEFINE_float("learning_rate", None, "Initial Adam learning rate (default: per method).")
flags.DEFINE_integer("seed", 0, "Seed of the sampler and the noise.")
flags.DEFINE_bool("sweep", False, "Train every method at several λ on both sources.")
flags.DEFINE_list("sources", list(SOURCES), "Sources of the sweep.")
flags.DEFINE_list(
    "methods", None, "Sweep methods, e.g. vecvq,ntc:noise,ltc:noise (default: per source)."
)
flags.DEFINE_list("lmbdas", None, "Sweep λ values (default: per source).")
flags.DEFINE_string("output", "/tmp/toy", "Directory for PNGs and results.json.")
CONFIG_FLAGS = (
    "source",
    "method",
    "proxy",
    "offset",
    "lmbda",
    "steps",
    "batch_size",
    "learning_rate",
    "seed",
    "sweep",
    "sources",
    "methods",
    "lmbdas",
    "output",
)


def main(argv):
    del argv
    os.makedirs(FLAGS.output, exist_ok=True)
    overrides = dict(
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        seed=FLAGS.seed,
        offset=FLAGS.offset,
    )
    config = {name: FLAGS[name].value for name in CONFIG_FLAGS}
    if FLAGS.sweep:
        methods = {s: FLAGS.methods or SWEEP_METHODS[s] for s in FLAGS.sources}
        lmbdas = {
            s: [float(v) for v in FLAGS.lmbdas] if FLAGS.lmbdas else SWEEP_LMBDAS[s]
            for s in FLAGS.sources
        }
        results = sweep(FLAGS.sources, methods, lmbdas, FLAGS.output, **overrides)
    else:
        spec = RunSpec(FLAGS.source, FLAGS.method, FLAGS.lmbda, FLAGS.proxy, **overrides)
        results = [run(spec, FLAGS.output)]
    write_summary(results, FLAGS.output, config)
    for r in results:
        print(
            f"{r['source']:8s} {r['label']:18s} λ={r['lmbda']:<6g} rate={r['rate']:.4f} "
            f"D={r['distortion']:.5f} loss={r['loss']:.4f}"
        )


if __name__ == "__main__":
    app.run(main)
