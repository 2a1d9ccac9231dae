"""Can a hyperprior-family decoder desynchronize? Measures the drift of the continuous
scale indexes between the encoder and decoders in other processes and settings.

The encoder's continuous indexes s (in `zoo.index_guard` order) are recorded while it
codes a file; each decoder's are recorded while it decodes the file. For every position:
δ = s_decoder − s_encoder. A decoder *without* the guard reads a latent with the wrong
table wherever floor(s_encoder) ≠ floor(s_decoder) ("naive flips"); the guarded decoder
takes the encoder's index at every position within `index_guard.MARGIN` of a boundary,
so it is safe while max |δ| < MARGIN. Run by `python -m recipes.reliability --only drift`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _clipped_floor(s: np.ndarray, num_scales: int) -> np.ndarray:
    return np.floor(np.clip(s, 0.0, num_scales - 1.0)).astype(np.int64)


def record(codec, op: str, arg) -> np.ndarray:
    """Runs `codec.compress(arg)` (op "encode") or `codec.decompress(arg)` ("decode") with
    the conditional's continuous indexes recorded; returns them flat in guard order."""
    import tensorflow as tf

    model = codec.model
    cond = model.conditional
    cls = type(cond)
    pieces: list[tuple[int, np.ndarray]] = []

    def grab(start, values):
        pieces.append((int(start.numpy()), values.numpy().astype(np.float64).ravel()))
        return np.int32(0)

    def recorded(s, start=0):
        return tf.py_function(grab, [tf.cast(start, tf.int64), s], tf.int32)

    def guard_payload(s):
        with tf.control_dependencies([recorded(tf.reshape(s, [-1]))]):
            return cls.guard_payload(cond, s)

    def guarded_indexes(s, guard, start=0):
        with tf.control_dependencies([recorded(s, start)]):
            return cls.guarded_indexes(cond, s, guard, start)

    cond.guard_payload, cond.guarded_indexes = guard_payload, guarded_indexes
    model._coding_fns = {}
    try:
        codec.compress(arg) if op == "encode" else codec.decompress(arg)
    finally:
        del cond.guard_payload, cond.guarded_indexes
        model._coding_fns = {}
    pieces.sort(key=lambda p: p[0])
    return np.concatenate([p[1] for p in pieces]) if pieces else np.zeros([0])


def compare(encoder: np.ndarray, decoder: np.ndarray, num_scales: int, margin: float
            ) -> dict[str, Any]:
    """Drift statistics of one decode against the encoder's indexes."""
    if encoder.shape != decoder.shape:
        return {"positions": int(encoder.size), "shape_mismatch": True}
    delta = np.abs(decoder - encoder)
    flips = _clipped_floor(encoder, num_scales) != _clipped_floor(decoder, num_scales)
    nearest = np.clip(np.round(encoder), 1, num_scales - 1)
    listed = np.abs(encoder - nearest) < margin
    return {
        "positions": int(encoder.size),
        "max_abs_delta": float(delta.max(initial=0.0)),
        "positions_changed": int(np.count_nonzero(delta)),
        "naive_flips": int(np.count_nonzero(flips)),
        "flips_outside_guard": int(np.count_nonzero(flips & ~listed)),
        "listed": int(np.count_nonzero(listed)),
    }


def summarize(rows: list[dict[str, Any]], margin: float) -> dict[str, Any]:
    """Totals over every (model, image, setting) comparison."""
    deltas = [r["max_abs_delta"] for r in rows if "max_abs_delta" in r]
    total = {
        "comparisons": len(rows),
        "positions": sum(r["positions"] for r in rows),
        "max_abs_delta": max(deltas, default=0.0),
        "comparisons_with_drift": sum(1 for r in rows if r.get("positions_changed")),
        "naive_flips": sum(r.get("naive_flips", 0) for r in rows),
        "flips_outside_guard": sum(r.get("flips_outside_guard", 0) for r in rows),
        "shape_mismatches": sum(1 for r in rows if r.get("shape_mismatch")),
        "listed": sum(r.get("listed", 0) for r in rows),
        "margin": margin,
    }
    total["ok"] = (total["flips_outside_guard"] == total["shape_mismatches"] == 0
                   and total["max_abs_delta"] < margin and total["comparisons"] > 0)
    return total
