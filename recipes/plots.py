"""Rate-distortion plots (PSNR and MS-SSIM dB against bpp, one PNG) and tables.

Learned models are solid lines with markers, classical codecs dashed, published
curves ("anchors") thin dotted lines; everything is drawn with matplotlib's Agg
backend, so no display is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from recipes.evaluation import QUALITY_AXES, Curve  # noqa: E402

_STYLE = {
    "learned": {"linestyle": "-", "marker": "o", "linewidth": 2.0, "markersize": 4},
    "classical": {"linestyle": "--", "marker": ".", "linewidth": 1.4, "markersize": 5},
    "anchor": {"linestyle": ":", "marker": "", "linewidth": 1.2},
}


def plot_rd(
    curves: Sequence[Curve], path: str | Path, title: str = "", max_bpp: float | None = None
) -> Path:
    """Draws every curve on a PSNR panel and an MS-SSIM (dB) panel; returns the path.

    Args:
      curves: measured and published curves.
      path: PNG to write.
      title: figure title (e.g. the dataset).
      max_bpp: right end of the rate axis; default a little past the measured curves.
    """
    measured = [c for c in curves if c.kind != "anchor"]
    if max_bpp is None:
        rates = [r for c in measured for r in c.results.get("bpp", [])]
        max_bpp = 1.05 * max(rates) if rates else None
    figure, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, curve in enumerate(curves):
        style = dict(_STYLE.get(curve.kind, _STYLE["classical"]))
        style["color"] = colors[index % len(colors)]
        for ax, axis in zip(axes, QUALITY_AXES):
            bpp, quality = curve.points(axis)
            if len(bpp):
                ax.plot(bpp, quality, label=curve.name, **style)
    for ax, axis in zip(axes, QUALITY_AXES):
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(QUALITY_AXES[axis][1])
        ax.grid(True, alpha=0.3)
        if max_bpp:
            ax.set_xlim(0, max_bpp)
        _fit_y_to_measured(ax, measured, axis, max_bpp)
    axes[0].legend(fontsize=8, loc="lower right")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _fit_y_to_measured(ax, measured: Sequence[Curve], axis: str, max_bpp: float | None) -> None:
    """Anchors can span far wider ranges; keep the measured curves readable."""
    values = [
        q for c in measured for b, q in zip(*c.points(axis)) if max_bpp is None or b <= max_bpp
    ]
    if values:
        low, high = min(values), max(values)
        margin = 0.05 * (high - low) + 0.5
        ax.set_ylim(low - margin, high + margin)


def _pct(value: float) -> str:
    return "    n/a" if not math.isfinite(value) else f"{value:+6.1f}%"


def format_tables(curves: Sequence[Curve], bd_table: dict) -> str:
    """A points table (per curve and λ / quality) and a BD-rate table."""
    name_width = max([16] + [len(c.name) + 2 for c in curves])
    lines = [
        f"{'model/codec':<{name_width}}{'param':>9}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}"
        f"{'MS-SSIM dB':>11}{'enc ms':>9}{'dec ms':>9}"
    ]
    for curve in curves:
        r = curve.results
        for i, parameter in enumerate(curve.parameters):
            lines.append(
                f"{curve.name:<{name_width}}{parameter:>9.4g}{r['bpp'][i]:>8.3f}{r['psnr-rgb'][i]:>8.2f}"
                f"{r['ms-ssim-rgb'][i]:>9.4f}{r['ms-ssim-rgb-db'][i]:>11.2f}"
                f"{r['encoding_time'][i] * 1e3:>9.1f}{r['decoding_time'][i] * 1e3:>9.1f}"
            )
    tests = [c.name for c in curves]
    # In the order they were computed: classical codecs first, then published curves.
    references = list(dict.fromkeys(ref for row in bd_table["psnr"].values() for ref in row))
    order = {name: i for i, name in enumerate(tests)}
    references.sort(key=lambda n: order.get(n, len(order)))  # stable: anchors keep theirs
    if references:
        width = max(17, *(len(t) + 2 for t in tests))
        lines += ["", "BD-rate (PSNR / MS-SSIM; negative = fewer bits than the reference)"]
        lines.append(f"{'reference':<34}" + "".join(f"{t:>{width}}" for t in tests))
        for ref in references:
            cells = []
            for test in tests:
                psnr = bd_table["psnr"][test].get(ref)
                msssim = bd_table["ms-ssim"][test].get(ref)
                cells.append("-" if psnr is None else f"{_pct(psnr)} /{_pct(msssim)}")
            lines.append(f"{ref:<34}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)
