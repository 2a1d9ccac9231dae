"""Compacts a weights artifact for shipping: `python -m export.compact IN OUT`.

Rounds every convolution/dense kernel to float16 precision once and stores the kernels
as float16 (`zoo.weights.round_kernels`, `save(half_kernels=True)`): the file is about
half the size and loads back exactly into float32 variables. The rounded model is a new
model (new fingerprint), so evaluate the compact file, not the original, before
publishing it. Training metadata (steps, wall time, data) is carried over.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_DERIVED = ("format", "config", "fingerprint", "metric", "lmbda")


def compact(source: str | os.PathLike, target: str | os.PathLike) -> str:
    """Writes the compact form of artifact `source` to `target`; returns its sha256."""
    from pathlib import Path

    from zoo import weights

    data = Path(source).read_bytes()
    model = weights.load(data=data)
    meta, _ = weights.read(data, str(source))  # plain dicts (Keras wraps model attributes)
    metadata = {k: v for k, v in meta.items() if k not in _DERIVED}
    metadata["compacted_from"] = weights.fingerprint(model)
    weights.round_kernels(model)
    model.build_coders()
    return weights.save(model, target, half_kernels=True, **metadata)


def main(argv: list[str]) -> int:
    from zoo.errors import ZooError

    if len(argv) != 3 or argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    try:
        digest = compact(argv[1], argv[2])
    except (ZooError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    before, after = os.path.getsize(argv[1]), os.path.getsize(argv[2])
    print(f"{argv[2]}: {after / 1e6:.2f} MB (was {before / 1e6:.2f} MB), sha256 {digest[:16]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
