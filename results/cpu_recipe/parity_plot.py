"""Parity curves: real-file bpp and PSNR on the first 8 Kodak images against training
steps, for each arm in results/cpu_recipe/parity/ and the reference numbers of the issue
(CompressAI 1.2.8 ScaleHyperprior; the zoo's trainer before this work).

    python results/cpu_recipe/parity_plot.py     # writes parity.png and parity.md here
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: (steps, bpp, PSNR, images) from the issue "Training at this CPU's limit".
REFERENCES = {
    "CompressAI 1.2.8 (clip 1.0)": [(1500, 0.582, 23.87, 4), (5000, 0.554, 24.20, 8)],
    "zoo trainer before (no clip)": [(1500, 0.727, 21.27, 4), (5000, 0.883, 23.45, 8)],
}


def arms() -> dict[str, list[tuple[int, float, float, int]]]:
    found = {}
    for folder in sorted((HERE / "parity").iterdir()):
        points = []
        for curve in folder.glob("eval_*/hyperprior-mse.json"):
            steps = int(curve.parent.name.split("_")[1])
            data = json.loads(curve.read_text())
            points.append((steps, data["results"]["bpp"][0], data["results"]["psnr-rgb"][0],
                           data["dataset"]["num_images"]))
        if points:
            found[folder.name] = sorted(points)
    return found


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {**arms(), **REFERENCES}
    fig, (ax_bpp, ax_psnr) = plt.subplots(1, 2, figsize=(11, 4))
    lines = ["| arm | steps | images | bpp | PSNR (dB) |", "| --- | --- | --- | --- | --- |"]
    for name, points in curves.items():
        steps = [p[0] for p in points]
        style = "--" if name in REFERENCES else "-"
        ax_bpp.plot(steps, [p[1] for p in points], style, marker="o", label=name)
        ax_psnr.plot(steps, [p[2] for p in points], style, marker="o", label=name)
        lines += [f"| {name} | {s} | {n} | {b:.3f} | {q:.2f} |" for s, b, q, n in points]
    for ax, label in ((ax_bpp, "bpp (real files)"), (ax_psnr, "PSNR (dB)")):
        ax.set_xlabel("training steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_psnr.legend(fontsize=8)
    fig.suptitle("hyperprior N=64 M=96, 128² crops, batch 8, λ=0.013, Adam 1e-4; "
                 "first 8 Kodak images (references at 1.5k: first 4)", fontsize=9)
    fig.tight_layout()
    fig.savefig(HERE / "parity.png", dpi=110)
    (HERE / "parity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
