"""The encoder-effort table: per family, BD-rate of each effort level against "fast" and
encode seconds per image, from the recipes.evaluate outputs in results/encoder_effort/;
and `rd.png` beside this script, every family's curves at every effort on one figure."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def plot() -> None:
    from recipes.evaluation import read_curve
    from recipes.plots import plot_rd

    curves = []
    for folder in sorted(p for p in HERE.iterdir() if (p / "bd_rate.json").is_file()):
        names = json.loads((folder / "bd_rate.json").read_text())["psnr"]
        curves += [read_curve(folder, name) for name in sorted(names)]
    plot_rd(curves, HERE / "rd.png", "Kodak (24 images): encoder effort fast vs refine, "
            "shipped weights, real files")


def main() -> None:
    print("| family | effort | images | BD-rate vs fast (PSNR) | bpp range | "
          "encode s/image | decode s/image |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for folder in sorted(p for p in HERE.iterdir() if (p / "bd_rate.json").is_file()):
        bd = json.loads((folder / "bd_rate.json").read_text())["psnr"]
        for curve_file in sorted(folder.glob("*-*.json")):
            if curve_file.name.endswith(".per_image.json") or curve_file.name == "bd_rate.json":
                continue
            curve = json.loads(curve_file.read_text())
            name = curve["name"]
            effort = name.split("@")[1] if "@" in name else "fast"
            fast = name.split("@")[0]
            results = curve["results"]
            bpp = results["bpp"]
            encode = sum(results["encoding_time"]) / len(results["encoding_time"])
            decode = sum(results["decoding_time"]) / len(results["decoding_time"])
            vs_fast = bd.get(name, {}).get(fast)
            bd_text = "—" if effort == "fast" or vs_fast is None else f"{vs_fast:+.2f} %"
            images = curve.get("dataset", {}).get("num_images", "")
            print(f"| {folder.name} | {effort} | {images} | {bd_text} | "
                  f"{min(bpp):.3f}–{max(bpp):.3f} | {encode:.1f} | {decode:.2f} |")


if __name__ == "__main__":
    main()
    plot()
