"""Figures of the toy-source lab, after seed 004 (Ballé et al., "Nonlinear Transform Coding",
arXiv:2007.03034, figs. 1-8): quantization cells and codebooks over the source density,
transforms with their Jacobians, and rate-distortion curves.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo.toy.ntc import TransformCoder  # noqa: E402
from zoo.toy.sources import ToySource  # noqa: E402
from zoo.toy.vecvq import VECVQ  # noqa: E402

CELL_COLOR = "#e377c2"


def effective_code(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a model does to each row of x: (cell label, reproduction, P(cell)).

    Transform coders are shown with their fixed offset (o = 0 for dithered ones).
    """
    x = tf.constant(x, tf.float32)
    if isinstance(model, VECVQ):
        k = model.encode(x).numpy()
        probs = tf.nn.softmax(model.logits).numpy()
        return k, model.codebook.numpy()[k], probs[k]
    y_hat = model.quantize(model.analysis(x), model.offset)
    k = np.round((y_hat - model.offset).numpy()).astype(np.int64)
    labels = k[:, 0] if k.shape[1] == 1 else k[:, 0] * 100_003 + k[:, 1]
    probs = 2.0 ** -model.prior.bits(y_hat).numpy()
    return labels, model.synthesis(y_hat).numpy(), probs


def _save(fig, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_quantization(model, source: ToySource, path: str, title: str = "") -> None:
    """Cells and codebook over the density (figs. 1, 2, 4, 6, 8)."""
    if source.dims == 1:
        _plot_quantization_1d(model, source, path, title)
    else:
        _plot_quantization_2d(model, source, path, title)


def _plot_quantization_1d(model, source, path, title):
    ((lo, hi),) = source.extent
    x = np.linspace(lo, hi, 8001)[:, None]
    labels, recon, probs = effective_code(model, x)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.fill_between(x[:, 0], source.prob(x), color="tab:blue", alpha=0.3, label="source density")
    for edge in x[1:, 0][labels[1:] != labels[:-1]]:
        ax.axvline(edge, color="gray", ls=":", lw=1)
    stalks = ax.twinx()
    _, first = np.unique(labels, return_index=True)
    stalks.vlines(recon[first, 0], 0, probs[first], color="black", lw=2)
    stalks.plot(recon[first, 0], probs[first], "ko", ms=4, label="code vectors")
    stalks.set_ylim(0, 1.05 * max(probs.max(), 1e-3))
    stalks.set_ylabel("P(k)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, None)
    ax.set_xlabel("x")
    ax.set_ylabel("p(x)")
    ax.set_title(title)
    _save(fig, path)


def _plot_quantization_2d(model, source, path, title, resolution: int = 400):
    (x0, x1), (y0, y1) = source.extent
    gx, gy = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    labels, recon, probs = effective_code(model, grid)
    density = source.prob(grid).reshape(resolution, resolution)
    labels = labels.reshape(resolution, resolution)
    edges = np.zeros_like(labels, dtype=bool)
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ax.imshow(density, origin="lower", extent=(x0, x1, y0, y1), cmap="Blues")
    overlay = np.zeros((*edges.shape, 4))
    overlay[edges] = matplotlib.colors.to_rgba(CELL_COLOR)
    ax.imshow(overlay, origin="lower", extent=(x0, x1, y0, y1), interpolation="nearest")
    _, first = np.unique(labels.ravel(), return_index=True)
    # Only code vectors that carry mass; the rest are unused.
    used = first[probs[first] > 1e-4]
    ax.plot(recon[used, 0], recon[used, 1], "o", color="black", ms=3.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_title(title)
    _save(fig, path)


def plot_transforms_1d(
    model: TransformCoder, source: ToySource, path: str, title: str = ""
) -> None:
    """g_a and g_s with the latent bin boundaries (figs. 4, 6, 7), and L_o over o (fig. 6)."""
    ((lo, hi),) = source.extent
    x = np.linspace(lo, hi, 2001, dtype=np.float32)[:, None]
    y = model.analysis(x).numpy()[:, 0]
    offset = float(model.offset.numpy()[0])
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 7), gridspec_kw=dict(height_ratios=[3, 1.3])
    )
    top.plot(x[:, 0], y, color="tab:blue", label="analysis y = g_a(x)")
    ys = np.linspace(y.min() - 0.5, y.max() + 0.5, 2001, dtype=np.float32)[:, None]
    top.plot(
        model.synthesis(ys).numpy()[:, 0],
        ys[:, 0],
        color="tab:orange",
        label="synthesis x̂ = g_s(y)",
    )
    codes = np.arange(math.floor(y.min()) - 1, math.ceil(y.max()) + 2) + offset
    top.plot(model.synthesis(codes[:, None].astype(np.float32)).numpy()[:, 0], codes, "ko", ms=3)
    for edge in codes + 0.5:
        top.axhline(edge, color="gray", ls=":", lw=1)
    top.set_xlim(lo, hi)
    top.set_ylim(y.min() - 0.5, y.max() + 0.5)
    top.set_xlabel("x")
    top.set_ylabel("y")
    top.legend(loc="upper left")
    top.set_title(f"{title}  (offset o = {offset:.2f})")
    offsets = np.linspace(-0.5, 0.5, 41, dtype=np.float32)[:, None]
    samples = source.sample(5_000, tf.random.Generator.from_seed(7))
    bottom.plot(offsets[:, 0], model.offset_losses(samples, offsets), color="tab:green")
    bottom.axvline(offset, color="black", ls="--", lw=1)
    bottom.set_xlabel("quantization offset o")
    bottom.set_ylabel("L_NTC,o [bits]")
    _save(fig, path)


def _jacobian(fn, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-point Jacobians of a pointwise map: row i is the gradient of Σ_b fn(x_b)_i."""
    x = tf.constant(points, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        out = fn(x)
        rows = [tf.reduce_sum(out[:, i]) for i in range(out.shape[1])]
    jac = np.stack([tape.gradient(row, x).numpy() for row in rows], axis=1)
    return jac, out.numpy()


def plot_jacobians_2d(model: TransformCoder, source: ToySource, path: str, title: str = "") -> None:
    """Local Jacobians of g_a (inverse, left) and g_s (right) over the density (fig. 5)."""
    (x0, x1), (y0, y1) = source.extent
    gx, gy = np.linspace(x0, x1, 300), np.linspace(y0, y1, 300)
    density = source.prob(np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)).reshape(300, 300)
    coarse = np.stack(np.meshgrid(np.linspace(x0, x1, 14), np.linspace(y0, y1, 14)), -1)
    coarse = coarse.reshape(-1, 2).astype(np.float32)
    coarse = coarse[source.prob(coarse) > 0.02 * density.max()]
    jac_a, y = _jacobian(model.analysis, coarse)  # [B, M, N]
    jac_s, x_tilde = _jacobian(model.synthesis, y)  # [B, N, M]
    panels = [
        ("columns of ∇g_a(x)⁻¹ at x", coarse, np.linalg.inv(jac_a)),
        ("columns of ∇g_s(y) at g_s(g_a(x))", x_tilde, jac_s),
    ]
    # Columns are the displacements in x of a step along each latent axis. Their
    # lengths span orders of magnitude (a latent axis the code barely uses has a
    # near-singular analysis Jacobian), so only directions are drawn, at one length.
    arrow = 0.7 * (x1 - x0) / 14
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, (label, points, jac) in zip(axes, panels):
        ax.imshow(density, origin="lower", extent=(x0, x1, y0, y1), cmap="Blues")
        for col, color in ((0, "tab:red"), (1, "tab:orange")):
            vec = jac[:, :, col] / np.linalg.norm(jac[:, :, col], axis=1, keepdims=True)
            ax.quiver(
                points[:, 0],
                points[:, 1],
                arrow * vec[:, 0],
                arrow * vec[:, 1],
                color=color,
                angles="xy",
                scale_units="xy",
                scale=1.0,
                width=0.004,
                headwidth=3,
                headlength=3.5,
                headaxislength=3,
            )
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_title(f"{title}: {label}")
    _save(fig, path)


def plot_rate_distortion(
    results: list[dict],
    source: ToySource,
    curves: dict,
    path: str,
    baseline: dict | None = None,
    baseline_name: str = "",
) -> None:
    """R-D points of every method with the computed reference curves (fig. 3).

    Args:
      results: dicts with "label", "lmbda", "rate", "distortion", "loss".
      source: the source the results belong to.
      curves: {label: (distortions, rates)} reference curves, drawn dashed.
      path: the PNG to write.
      baseline: {λ: Lagrangian} of a reference; if given, a second panel shows each
        method's excess loss over it (the R-D panel hides differences of 0.01 bit).
      baseline_name: what the baseline is, for the panel title.
    """
    fig, axes = plt.subplots(1, 2 if baseline else 1, figsize=(13 if baseline else 7, 5.5))
    axes = np.atleast_1d(axes)
    for label, (d, r) in curves.items():
        axes[0].plot(d, r, "--", lw=1.5, label=label)
    for label in sorted({r["label"] for r in results}):
        rows = sorted((r for r in results if r["label"] == label), key=lambda r: r["lmbda"])
        axes[0].plot(
            [r["distortion"] for r in rows], [r["rate"] for r in rows], "o-", ms=5, label=label
        )
        if baseline:
            rows = [r for r in rows if r["lmbda"] in baseline]
            excess = [r["loss"] - baseline[r["lmbda"]] for r in rows]
            axes[1].plot([r["lmbda"] for r in rows], excess, "o-", ms=5, label=label)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("distortion E‖x − x̂‖²")
    axes[0].set_ylabel("rate [bits]")
    axes[0].set_title(f"{source.name}: rate-distortion")
    axes[0].grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    if baseline:
        axes[1].set_xscale("log")
        axes[1].set_xticks(sorted(baseline), [f"{v:g}" for v in sorted(baseline)])
        axes[1].minorticks_off()
        axes[1].axhline(0.0, color="black", lw=1)
        axes[1].set_xlabel("λ")
        axes[1].set_ylabel("excess Lagrangian R + λD [bits]")
        axes[1].set_title(f"{source.name}: loss above {baseline_name}")
        axes[1].grid(True, which="both", alpha=0.3)
        axes[1].legend(fontsize="small")
    _save(fig, path)
