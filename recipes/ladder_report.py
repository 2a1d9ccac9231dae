"""Kodak report for the `ladder` family (issue #8, point 4): coded-sampling rate against
its bound, quality, and coding speed on this machine.

    python -m recipes.ladder_report --weights runs/ladder/weights.npz \\
        --output results/ladder_kodak [--max_images N] [--coding is-gs]

Per image, from the real compressed file (`Codec.compress`, container included):

- `bpp`: file bits / pixels; `payload_bpp`: the coded samples alone (`container.unpack`).
- `kl_bits`: KL[q‖p] in bits summed over both levels, as the model computes it while
  coding that image (`LadderNetwork.encode_latents`; level 1's prior is the one set by
  the *coded* level-2 sample, so this is the KL of exactly the samples in the file).
- `bound_bits` = KL + 2·log2(KL + 1), per image (KL over both levels). The logarithm is
  base 2: KL is in bits and the bound (Harsha et al. 2007, used in Flamich 2019 §3.4 and
  in `zoo.coded_sampling`'s tests) holds with the log in the same unit as the KL. The
  bound leaves out its O(1) term, which the group samplers pay per group (segment
  sizes, shard counts, an unfilled last index), plus 16 bits per float16 outlier and
  the container header; `file_over_bound` shows how much that costs.
- `psnr`, `ms_ssim` (`zoo.metrics.image_quality`), and `encode_s`, `decode_s`: wall
  seconds of one `Codec.compress` / `Codec.decompress` (after an untimed warm-up on a
  small crop). Every file is decoded twice and the two images must be identical.

Writes `report.json` (rows, means, model description, weights fingerprint, coding
method, machine) and `bpp_vs_bound.png` to --output and prints the table. The thesis
(Table 4.1, on a GPU) needs 56–452 s to encode and 25–141 s to decode an image; the
table's last lines give this run's factor against the fastest of those.

`--coding` overrides the weights' coding scheme (`coded_sampling.SCHEMES`). Files carry
the weights' fingerprint but not the scheme, so files written under an override decode
only with a model given the same `coding=`. `rejection` uses the weights' index table
(the universal default unless `fit_index_table` was run before saving).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from zoo.coded_sampling import SCHEMES  # noqa: E402

KODAK_DIR = Path(__file__).resolve().parent / "data" / "kodak"
#: Flamich 2019, Table 4.1 (GPU): coding seconds per Kodak image, fastest and slowest.
THESIS_SECONDS = {"encode": (56.0, 452.0), "decode": (25.0, 141.0)}
_MEAN_KEYS = (
    "bpp", "payload_bpp", "kl_bpp", "bound_bpp", "file_over_bound", "psnr", "ms_ssim",
    "ms_ssim_db", "encode_s", "decode_s",
)


def bound_bits(kl_bits: float) -> float:
    """KL + 2·log2(KL + 1), KL in bits (see the module docstring for the base)."""
    return kl_bits + 2.0 * math.log2(kl_bits + 1.0)


def load_model(weights: str | os.PathLike, coding: str | None = None):
    """The ladder-family model of a weights artifact, optionally with another coding scheme."""
    from zoo import weights as zoo_weights
    from zoo.models.ladder import LadderNetwork

    model = zoo_weights.load(weights)
    if not isinstance(model, LadderNetwork):
        raise ValueError(f"{weights} holds a {model.registry_name} model, not a ladder network")
    return with_coding(model, coding)


def with_coding(model, coding: str | None):
    """Sets the model's coding scheme in place (validated); None keeps it."""
    from zoo import coded_sampling

    if coding is not None:
        coded_sampling.scheme_samplers(coding)  # raises ValueError on an unknown name
        model.coding = coding
    return model


def kodak_images(folder: str | os.PathLike | None = None,
                 max_images: int | None = None) -> list[tuple[str, object]]:
    """(name, uint8 [H, W, 3]) of a folder's or glob's images in name order."""
    import glob

    import zoo

    source = Path(folder) if folder else KODAK_DIR
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() == ".png")
    else:
        paths = sorted(Path(p) for p in glob.glob(str(source)))
    paths = paths[:max_images] if max_images else paths
    if not paths:
        raise ValueError(f"no images in {source}")
    return [(p.stem, zoo.read_image(p)) for p in paths]


def measure(codec, image, name: str = "image") -> tuple[dict, object]:
    """One image: (report row, decoded uint8 image). See the module docstring."""
    import numpy as np
    import tensorflow as tf

    from zoo import container, metrics
    from zoo.models.base import pad_to_stride

    pixels = image.shape[0] * image.shape[1]
    start = time.perf_counter()
    data = codec.compress(image)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decompress(data)
    decode_s = time.perf_counter() - start
    if not np.array_equal(decoded, codec.decompress(data)):
        raise RuntimeError(f"{name}: two decodes of the same file differ")

    _, payloads = container.unpack(data)
    # The model's own view of the same coding run: shared randomness makes the samplers
    # deterministic, so these are the file's payloads and the KL of its samples.
    # Padded as the coder's tiles pad (replicate): the same analysis input as compress.
    x = pad_to_stride(tf.cast(image, tf.float32)[None], codec.model.stride)
    strings, code_bits, kls = codec.model.encode_latents(x)
    if [bytes(s.numpy()) for s in strings] != payloads:
        raise RuntimeError(f"{name}: re-encoding gave other payloads; the KL would not match")
    kl = float(sum(kls.values()))
    file_bits, payload_bits = 8 * len(data), 8 * sum(len(p) for p in payloads)
    quality = metrics.image_quality(image, decoded)
    row = {
        "image": name, "height": int(image.shape[0]), "width": int(image.shape[1]),
        "file_bits": file_bits, "payload_bits": payload_bits,
        "payload_bits_per_level": {str(i + 1): 8 * len(p) for i, p in enumerate(payloads)},
        "sampler_code_bits": float(code_bits),
        "kl_bits": kl, "kl_bits_per_level": {str(k): v for k, v in sorted(kls.items())},
        "bound_bits": bound_bits(kl),
        "bpp": file_bits / pixels, "payload_bpp": payload_bits / pixels,
        "kl_bpp": kl / pixels, "bound_bpp": bound_bits(kl) / pixels,
        "file_over_bound": file_bits / bound_bits(kl) if kl > 0 else math.inf,
        "psnr": quality["psnr"], "ms_ssim": quality["ms-ssim"],
        "ms_ssim_db": quality["ms-ssim-db"],
        "encode_s": encode_s, "decode_s": decode_s,
    }
    return row, decoded


def describe(model) -> dict:
    """What the report needs to say about the model: config, trade-off, coding, size."""
    import numpy as np

    from zoo import coded_sampling

    default_table = np.allclose(model.index_pmf.numpy(), coded_sampling.default_index_pmf())
    meta = dict(getattr(model, "artifact_metadata", None) or {})
    for key in ("format", "config", "fingerprint"):
        meta.pop(key, None)
    return {
        "name": model.registry_name,
        "config": model.builder_config,
        "lmbda": model.lmbda,
        "beta": model.beta,
        "levels": model.levels,
        "likelihood": model.likelihood,
        "gamma_target": model.gamma_target,
        "coding": model.coding,
        "coding_seed": model.coding_seed,
        "index_table": "universal default" if default_table else "fitted",
        "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        "training": meta,
    }


def _machine() -> dict:
    import numpy as np
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
        "platform": platform.platform(), "python": sys.version.split()[0],
        "tensorflow": tf.__version__, "numpy": np.__version__,
    }


def report(
    model,
    images: Iterable[tuple[str, object]],
    output: str | os.PathLike,
    weights_path: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Measures every (name, uint8 [H, W, 3]) image with the model; writes `report.json`
    and `bpp_vs_bound.png` into `output` and returns the report (rows under "images",
    means under "mean"). Decoded images are kept under the returned dict's "decoded"
    key (not written to JSON)."""
    from tqdm import tqdm

    import zoo
    from zoo import weights as zoo_weights

    images = list(images)
    if not images:
        raise ValueError("no images to report on")
    codec = zoo.Codec(model)
    # Untimed warm-up (first calls of the layers and the range coder) on a small crop.
    crop = images[0][1][:64, :64]
    codec.decompress(codec.compress(crop))

    rows, decoded = [], {}
    for name, image in tqdm(images, desc="images", unit="image", disable=not progress):
        row, decoded[name] = measure(codec, image, name)
        rows.append(row)
    means = {k: sum(r[k] for r in rows) / len(rows) for k in _MEAN_KEYS}
    result = {
        "issue": "#8 point 4: Kodak report of the ladder family",
        "model": describe(model),
        "coding": model.coding,
        "weights": {
            "path": str(weights_path) if weights_path else None,
            "file_sha256": zoo_weights.file_sha256(weights_path) if weights_path else None,
            "fingerprint": codec.fingerprint,
        },
        "bound": "KL + 2*log2(KL + 1), KL in bits summed over both levels, per image",
        "thesis_gpu_seconds": {k: list(v) for k, v in THESIS_SECONDS.items()},
        "speedup_vs_fastest_thesis": {
            "encode": THESIS_SECONDS["encode"][0] / max(means["encode_s"], 1e-9),
            "decode": THESIS_SECONDS["decode"][0] / max(means["decode_s"], 1e-9),
        },
        "machine": _machine(),
        "images": rows,
        "mean": means,
    }
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_bpp_vs_bound(rows, output / "bpp_vs_bound.png", title=_title(result))
    result["decoded"] = decoded
    return result


def _title(result: dict) -> str:
    model = result["model"]
    return (f"{model['name']} (β={model['beta']:g}, coding {model['coding']}), "
            f"{len(result['images'])} images")


def plot_bpp_vs_bound(rows: Sequence[dict], path: str | os.PathLike, title: str = "") -> Path:
    """Scatter of file (and payload) bpp against the bound's bpp, with y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bound = [r["bound_bpp"] for r in rows]
    actual = [r["bpp"] for r in rows]
    payload = [r["payload_bpp"] for r in rows]
    top = 1.05 * max(bound + actual)
    figure, ax = plt.subplots(figsize=(5.5, 5.2))
    ax.plot([0, top], [0, top], color="0.5", linestyle="--", linewidth=1, label="y = x")
    ax.scatter(bound, actual, s=22, label="file (container included)")
    ax.scatter(bound, payload, s=22, facecolors="none", edgecolors="C1", label="payload only")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("bound KL + 2·log₂(KL + 1) [bpp]")
    ax.set_ylabel("actual [bpp]")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)  # points sit above y = x
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def format_table(result: dict) -> str:
    """The per-image table with a mean row and the comparison with the thesis's times."""
    header = (f"{'image':<10}{'bpp':>8}{'payload':>9}{'KL':>8}{'bound':>8}{'file/bd':>8}"
              f"{'PSNR':>7}{'MS-SSIM':>9}{'enc s':>8}{'dec s':>8}")
    lines = [_title(result), "bpp columns: file, payload, KL, KL + 2·log2(KL + 1)", header]
    for row in [*result["images"], {"image": "mean", **result["mean"]}]:
        lines.append(
            f"{row['image']:<10}{row['bpp']:8.4f}{row['payload_bpp']:9.4f}{row['kl_bpp']:8.4f}"
            f"{row['bound_bpp']:8.4f}{row['file_over_bound']:8.3f}{row['psnr']:7.2f}"
            f"{row['ms_ssim']:9.4f}{row['encode_s']:8.2f}{row['decode_s']:8.2f}"
        )
    speed = result["speedup_vs_fastest_thesis"]
    machine = result["machine"]
    lines.append(
        f"thesis (GPU): encode 56–452 s, decode 25–141 s; here ({machine['cpu_count']} CPU "
        f"cores, load {machine['load_average'][0]:.1f}): {speed['encode']:.0f}× faster to "
        f"encode and {speed['decode']:.0f}× faster to decode than its fastest"
    )
    return "\n".join(lines)


def _define_flags() -> None:
    """Flags exist only when this runs as a program (importing it, as the tests and other
    drivers do, must not claim --output and friends in absl's global registry)."""
    global _WEIGHTS, _OUTPUT, _MAX_IMAGES, _CODING, _IMAGES
    _WEIGHTS = flags.DEFINE_string("weights", None, "Weights artifact of a ladder-family model.")
    _OUTPUT = flags.DEFINE_string("output", "results/ladder_kodak", "Output directory.")
    _MAX_IMAGES = flags.DEFINE_integer("max_images", None, "Use only the first N images.")
    _CODING = flags.DEFINE_enum("coding", None, list(SCHEMES),
                                "Coding scheme (default: the one the weights were built with).")
    _IMAGES = flags.DEFINE_string("images", None, "Folder or glob of images (default: the "
                                  "Kodak PNGs shipped in recipes/data).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _WEIGHTS.value:
        raise app.UsageError("--weights is required")
    from zoo.errors import ZooError

    try:
        model = load_model(_WEIGHTS.value, _CODING.value)
        images = kodak_images(_IMAGES.value, _MAX_IMAGES.value)
    except (ZooError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    result = report(model, images, _OUTPUT.value, weights_path=_WEIGHTS.value)
    print(format_table(result))
    print(f"\nreport.json and bpp_vs_bound.png in {_OUTPUT.value}")


if __name__ == "__main__":
    _define_flags()
    app.run(main)
