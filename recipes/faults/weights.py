"""Weights integrity: tampered, truncated, forged and mismatched artifacts.

A section of the reliability suite, `python -m recipes.reliability`.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def weights_integrity(folder: Path) -> dict[str, Any]:
    """Tampered, truncated, forged and mismatched artifacts: each must raise WeightsError."""
    import tensorflow as tf

    import zoo
    from zoo import weights

    folder.mkdir(parents=True, exist_ok=True)
    tf.random.set_seed(1)
    model = zoo.create_model("hyperprior_tiny")
    path = folder / "good.npz"
    sha = weights.save(model, path)
    data = path.read_bytes()
    meta, arrays = weights.read(data)

    def forged(meta_: dict, arrays_: dict) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **arrays_, __meta__=np.frombuffer(json.dumps(meta_).encode(), np.uint8))
        return buf.getvalue()

    kernel = next(k for k in arrays if "kernel" in k)
    other = zoo.create_model("factorized_tiny")
    other.build_coders()
    cases: dict[str, tuple[bytes, str | None]] = {
        "one byte flipped (sha256 given)": (data[:100] + bytes([data[100] ^ 1]) + data[101:], sha),
        "truncated": (data[: len(data) // 2], None),
        "truncated by 1 byte": (data[:-1], None),
        "empty": (b"", None),
        "random bytes": (os.urandom(4096), None),
        "value changed, zip rewritten": (forged(meta, {**arrays, kernel: arrays[kernel] * 1.001}),
                                         None),
        "array missing": (forged(meta, {k: v for k, v in arrays.items() if k != kernel}), None),
        "extra array": (forged(meta, {**arrays, "9999/extra:0": np.zeros(3, np.float32)}), None),
        "dtype changed": (forged(meta, {**arrays, kernel: arrays[kernel].astype(np.float64)}),
                          None),
        "shape changed": (forged(meta, {**arrays, kernel: arrays[kernel].reshape(-1)}), None),
        "config names another family": (forged({**meta, "config": other.builder_config}, arrays),
                                        None),
        "other family's arrays": (forged(meta, weights.variable_arrays(other)), None),
        "unknown format": (forged({**meta, "format": "lic-zoo-weights/99"}, arrays), None),
        "pickled object array": (_pickled_artifact(meta), None),
        "fingerprint field forged": (forged({**meta, "fingerprint": "0" * 64}, arrays), None),
    }
    counts: dict[str, Any] = {"cases": len(cases) + 1, "refused": 0, "accepted": []}
    for label, (blob, checksum) in cases.items():
        try:
            weights.load(data=blob, sha256=checksum)
            counts["accepted"].append(label)
        except zoo.WeightsError:
            counts["refused"] += 1
        except Exception as exc:
            counts["accepted"].append(f"{label}: {type(exc).__name__} instead of WeightsError")
    # A compressed file refuses a codec with other weights (fingerprint in the header).
    codec = zoo.Codec(weights.load(path))
    file = codec.compress(np.zeros((8, 8, 3), np.uint8))
    tf.random.set_seed(2)
    try:
        zoo.Codec(zoo.create_model("hyperprior_tiny")).decompress(file)
        counts["accepted"].append("file decoded by other weights")
    except zoo.ModelMismatchError:
        counts["refused"] += 1
    counts["ok"] = counts["refused"] == counts["cases"]
    return counts


def _pickled_artifact(meta: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8),
             **{"0000/x:0": np.array([{"a": 1}], dtype=object)})
    return buf.getvalue()
