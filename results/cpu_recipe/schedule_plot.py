"""Schedule study at a fixed wall-clock budget: table and curves from schedule_study.sh.

    python results/cpu_recipe/schedule_plot.py    # writes schedule.md and schedule.png here

For each arm and each quarter of the budget: the steps and training wall time reached
(training_log_<q>.json) and the real-file results on the natural-size validation crops
(natural_<q>/hyperprior-mse.per_image.json), and at the end on Kodak: mean bpp, mean PSNR, and
the rate-distortion cost the models minimize, J = bpp + λ·MSE (MSE on 0..255, mean
over images), which ranks arms that land at different rates. Lower J is better.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
LMBDA = 0.013
SETS = ("kodak", "natural")


def real_files(folder: Path) -> dict[str, float] | None:
    path = folder / "hyperprior-mse.per_image.json"
    if not path.exists():
        return None
    images = json.loads(path.read_text())["images"]
    bpp = [i["bpp"] for i in images]
    mse = [255.0**2 / 10 ** (i["psnr-rgb"] / 10) for i in images]
    n = len(images)
    return {"images": n, "bpp": sum(bpp) / n,
            "psnr": sum(i["psnr-rgb"] for i in images) / n,
            "cost": sum(b + LMBDA * m for b, m in zip(bpp, mse)) / n}


def arms() -> dict[str, list[dict]]:
    found = {}
    for folder in sorted(p for p in (HERE / "schedule").iterdir() if p.is_dir()):
        points = []
        for quarter in (1, 2, 3, 4):
            log_path = folder / f"training_log_{quarter}.json"
            results = {s: real_files(folder / f"{s}_{quarter}") for s in SETS}
            if not log_path.exists() or not results["natural"]:
                continue
            log = json.loads(log_path.read_text())
            points.append({"quarter": quarter, "steps": log["steps"] + log["start_step"],
                           "seconds": log["wall_time_seconds"], **results})
        if points:
            flags = (folder / "flags.txt").read_text().strip() if (folder / "flags.txt").exists() else ""
            found[folder.name] = {"flags": flags, "points": points}
    return found


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = arms()
    if not found:
        raise SystemExit(f"no results under {HERE / 'schedule'}: run schedule_study.sh first")
    final = {a: d["points"][-1] for a, d in found.items() if d["points"][-1]["kodak"]}
    ranking = sorted(final, key=lambda a: final[a]["kodak"]["cost"])
    lines = [
        "| arm | flags | steps | train s | Kodak bpp | Kodak PSNR | Kodak J | natural bpp | "
        "natural PSNR | natural J |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm in ranking:
        p = final[arm]
        k, n = p["kodak"], p["natural"]
        lines.append(
            f"| `{arm}` | `{found[arm]['flags']}` | {p['steps']} | {p['seconds']:.0f} | "
            f"{k['bpp']:.3f} | {k['psnr']:.2f} | {k['cost']:.3f} | {n['bpp']:.3f} | "
            f"{n['psnr']:.2f} | {n['cost']:.3f} |")
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for arm in ranking:
        points = found[arm]["points"]
        minutes = [p["seconds"] / 60 for p in points]
        axes[0].plot(minutes, [p["natural"]["psnr"] for p in points], marker="o", label=arm)
        axes[1].plot(minutes, [p["natural"]["cost"] for p in points], marker="o", label=arm)
        axes[2].plot([p["natural"]["bpp"] for p in points], [p["natural"]["psnr"] for p in points],
                     marker="o", label=arm)
    axes[0].set_ylabel("PSNR (dB), natural-size validation crops")
    axes[1].set_ylabel("J = bpp + λ·MSE, natural-size validation crops")
    axes[2].set_xlabel("bpp (real files)")
    axes[2].set_ylabel("PSNR (dB)")
    for ax in axes[:2]:
        ax.set_xlabel("training wall time (min)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"hyperprior N=64 M=96, λ={LMBDA}, mixed_bfloat16, one thread per arm, two arms "
                 "at a time; real files", fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "schedule.png", dpi=100)
    budget = max(p["seconds"] for p in final.values())
    text = [f"Budget ≈ {budget:.0f} s of training wall time per arm; ranked by Kodak J "
            "(lower is better).", "", *lines]
    for arm in ranking:
        rows = ", ".join(f"{p['seconds']:.0f} s: {p['natural']['psnr']:.2f} dB / "
                         f"{p['natural']['bpp']:.3f} bpp" for p in found[arm]["points"])
        text.append(f"- `{arm}` on the natural-size crops over time: {rows}")
    (HERE / "schedule.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    if not math.isfinite(final[ranking[0]]["kodak"]["cost"]):
        raise SystemExit("non-finite cost")


if __name__ == "__main__":
    main()
