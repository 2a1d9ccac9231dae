"""Parity curves: real-file bpp, PSNR and RD cost on Kodak against training steps.

    python results/cpu_recipe/parity_plot.py     # writes parity.png and parity.md here

Reads every arm in results/cpu_recipe/parity/: the zoo's runs (parity.sh:
eval_<steps>/hyperprior-mse.per_image.json) and CompressAI's (compressai_reference.py:
eval_<steps>.json), plus the reference numbers of the issue. Besides bpp and PSNR it
gives the cost both trainers minimize, J = bpp + λ·MSE (MSE on 0..255; both averaged
over the images), which ranks runs that land at different rates. The plot shows the
runs evaluated on all 24 Kodak images (session of 2026-12-07: two seeds per trainer,
one thin line per run, the mean of the seeds bold); earlier arms were evaluated on the
first 8 and appear in the table only.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LMBDA = 0.013
#: (steps, bpp, PSNR, images) from the issue "Training at this CPU's limit".
REFERENCES = {
    "CompressAI 1.2.8 (clip 1.0), issue": [(1500, 0.582, 23.87, 4), (5000, 0.554, 24.20, 8)],
    "zoo trainer before (no clip), issue": [(1500, 0.727, 21.27, 4), (5000, 0.883, 23.45, 8)],
}


def _point(steps: int, bpp: list[float], psnr: list[float]) -> dict:
    mse = [255.0**2 / 10 ** (p / 10) for p in psnr]
    n = len(bpp)
    return {"steps": steps, "images": n, "bpp": sum(bpp) / n, "psnr": sum(psnr) / n,
            "cost": sum(b + LMBDA * m for b, m in zip(bpp, mse)) / n}


def arms() -> dict[str, list[dict]]:
    found = {}
    for folder in sorted(p for p in (HERE / "parity").iterdir() if p.is_dir()):
        points = []
        for per_image in folder.glob("eval_*/hyperprior-mse.per_image.json"):
            images = json.loads(per_image.read_text())["images"]
            points.append(_point(int(per_image.parent.name.split("_")[1]),
                                 [i["bpp"] for i in images], [i["psnr-rgb"] for i in images]))
        for result in folder.glob("eval_*.json"):
            data = json.loads(result.read_text())
            points.append(_point(data["steps"], data["per_image"]["bpp"], data["per_image"]["psnr"]))
        if points:
            found[folder.name] = sorted(points, key=lambda p: p["steps"])
    return found


#: Seeded 24-image arms, by name: the trainer (and set-up) each belongs to.
TRAINERS = [
    (r"compressai_seed\d+", "CompressAI 1.2.8"),
    (r"seed\d+_float32|rerun_seed\d+_float32", "zoo float32"),
    (r"seed\d+_bfloat16", "zoo bfloat16"),
    (r"side4scale_seed\d+", "zoo, CompressAI's side density and σ output"),
]


def trainer_of(arm: str) -> str | None:
    """The trainer of a seeded 24-image arm ('zoo float32', ...), None for other arms."""
    for pattern, trainer in TRAINERS:
        if re.fullmatch(pattern, arm):
            return trainer
    return None


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = arms()
    lines = ["| arm | steps | images | bpp | PSNR (dB) | J = bpp + λ·MSE |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, points in found.items():
        lines += [f"| {name} | {p['steps']} | {p['images']} | {p['bpp']:.3f} | {p['psnr']:.2f} | "
                  f"{p['cost']:.3f} |" for p in points]
    for name, points in REFERENCES.items():
        lines += [f"| {name} | {s} | {n} | {b:.3f} | {q:.2f} | |" for s, b, q, n in points]
    # Seeded runs on all 24 images: the mean of the seeds per trainer and step.
    groups: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for name, points in found.items():
        trainer = trainer_of(name)
        if trainer and all(p["images"] == 24 for p in points):
            for p in points:
                groups[trainer][p["steps"]].append(p)
    summary = ["| trainer | steps | runs | bpp | PSNR (dB) | J |", "| --- | --- | --- | --- | --- | --- |"]
    fig, all_axes = plt.subplots(1, 4, figsize=(20, 4))
    axes, rd = all_axes[:3], all_axes[3]
    colors = dict(zip([t for _, t in TRAINERS], ["tab:red", "tab:blue", "tab:green", "tab:purple"]))
    for name, points in found.items():
        trainer = trainer_of(name)
        if trainer not in groups:
            continue
        for ax, key in zip(axes, ("bpp", "psnr", "cost")):
            ax.plot([p["steps"] for p in points], [p[key] for p in points], color=colors.get(trainer),
                    alpha=0.35, linewidth=1, marker=".")
    for trainer, by_step in sorted(groups.items()):
        steps = sorted(by_step)
        means = {k: [sum(p[k] for p in by_step[s]) / len(by_step[s]) for s in steps]
                 for k in ("bpp", "psnr", "cost")}
        for ax, key in zip(axes, ("bpp", "psnr", "cost")):
            ax.plot(steps, means[key], color=colors.get(trainer), linewidth=2.5, marker="o",
                    label=trainer)
        rd.plot(means["bpp"], means["psnr"], color=colors.get(trainer), marker="o", label=trainer)
        for i, s in enumerate(steps):
            rd.annotate(f"{s // 1000}k", (means["bpp"][i], means["psnr"][i]), fontsize=7,
                        textcoords="offset points", xytext=(4, -8))
        summary += [f"| {trainer} | {s} | {len(by_step[s])} | {means['bpp'][i]:.3f} | "
                    f"{means['psnr'][i]:.2f} | {means['cost'][i]:.3f} |" for i, s in enumerate(steps)]
    for ax, label in zip(axes, ("bpp (real files)", "PSNR (dB)", "J = bpp + λ·MSE (lower is better)")):
        ax.set_xlabel("training steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    rd.set_xlabel("bpp (real files)")
    rd.set_ylabel("PSNR (dB)")
    rd.set_title("means in the RD plane (up-left is better)", fontsize=9)
    rd.grid(alpha=0.3)
    axes[2].legend(fontsize=8)
    fig.suptitle("hyperprior N=64 M=96, 128² crops, batch 8, λ=0.013, Adam 1e-4, clip 1.0; "
                 "24 Kodak images, real files; thin: one run, bold: mean of the seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(HERE / "parity.png", dpi=110)
    text = ["Mean of the seeds, 24 Kodak images:", "", *summary, "", "Every arm:", "", *lines]
    (HERE / "parity.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
