"""Prints the README's table of shipped models from the registry records.

    python results/pretrained/table.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import zoo  # noqa: E402
from zoo import pretrained  # noqa: E402


def main() -> None:
    print("| model | metric | λ | Kodak bpp | PSNR (dB) | MS-SSIM | steps | CPU wall time | file |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    total = 0
    for e in sorted(zoo.list_pretrained(), key=lambda e: (e.name, e.metric, e.lmbda)):
        kw = e.config["kwargs"]
        size = f"N={kw.get('num_filters')}, M={kw.get('num_latents')}"
        nbytes = pretrained.weights_file(e).stat().st_size
        total += nbytes
        print(f"| `{e.name}` ({size}) | {e.metric} | {e.lmbda:g} | {e.kodak['bpp']:.3f} | "
              f"{e.kodak['psnr']:.2f} | {e.kodak.get('ms_ssim', float('nan')):.4f} | "
              f"{e.steps:,} | {e.wall_time_hours:.2f} h | {nbytes / 1e6:.1f} MB |")
    print(f"\n{len(zoo.list_pretrained())} models, {total / 1e6:.1f} MB "
          f"({Path(pretrained.PACKAGE_WEIGHTS)})")


if __name__ == "__main__":
    main()
