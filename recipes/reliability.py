"""The reliability suite: fuzzed decoders, hostile images, crash-resume, deterministic decoding.

    python -m recipes.reliability --quick        # CI-sized: a few hundred files, 3 kills
    python -m recipes.reliability                # full: 10,000+ files, 20 kills, all Kodak
    python -m recipes.reliability --only fuzz,images --json counts.json

    parent (this process)                     worker processes (spawned, watched)
    ─────────────────────                     ───────────────────────────────────
    fuzz:  mutate / truncate / extend /  ──►  Codec.decompress(file) ─► ok | BitstreamError
           splice / re-checksum files    ◄──  | other exception | no answer (hang) | death (crash)
    images: PNG writer (all colour types, Adam7, tRNS) ─► zoo.read_image ─► rule checked
    train:  recipes.train --smoke ─► SIGKILL at random moments ─► checkpoint intact? resumed?
    determinism: encode in one process ─► decode in 4 (threads 1|2 × oneDNN 0|1) ─► same pixels?
    drift: the same, comparing continuous scale indexes ─► could a decoder without the index
           guard (zoo.index_guard) desync? does any drift exceed the guard's margin?
    weights: tampered / truncated / forged / mismatched artifacts ─► WeightsError before use

Families are found at run time (every registered tiny image model), and every container
version in `zoo.container.SUPPORTED_VERSIONS` this library can write is fuzzed. Every
decode runs in a worker process with a memory cap and a watchdog, so a crash or a hang is
counted, never suffered. The process exits non-zero when any count shows a failure.
Each section is a module of `recipes.faults`; this module runs them and sums them up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from recipes.faults.decoding import DECODER_SETTINGS, determinism, drift, full_size_weights
from recipes.faults.fuzz import fuzz, oversized_header_probe
from recipes.faults.images import codec_odd_sizes, hostile_images, large_png, png_bytes
from recipes.faults.training import checkpoint_write_failure, kill_resume
from recipes.faults.weights import weights_integrity
from recipes.faults.workers import KODAK, Worker, image_families, make_weights

__all__ = [  # the sections, for callers and tests
    "DECODER_SETTINGS", "KODAK", "Worker", "checkpoint_write_failure", "codec_odd_sizes",
    "determinism", "drift", "full_size_weights", "fuzz", "hostile_images", "image_families",
    "kill_resume", "large_png", "make_weights", "oversized_header_probe", "png_bytes",
    "weights_integrity",
]


# The command ------------------------------------------------------------------------------

SECTIONS = ("fuzz", "images", "weights", "train", "determinism", "drift")


def run(quick: bool, only: tuple[str, ...] = SECTIONS, folder: Path | None = None,
        log=print) -> dict[str, Any]:
    """Runs the chosen sections; returns every count (see `summary` for the headline)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="lic_reliability_"))
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"mode": "quick" if quick else "full"}
    need_workers = {"fuzz", "determinism", "drift"} & set(only)
    worker = Worker() if need_workers else None
    try:
        tiny = {}
        if worker:
            # Built in a process of their own: a worker then builds each family once.
            maker = Worker()
            try:
                tiny = make_weights(image_families(), folder, maker)
            finally:
                maker.close()
        if "fuzz" in only:
            log(f"fuzz: {len(tiny)} families {sorted(tiny)}")
            results["fuzz"] = fuzz(worker, tiny, 300 if quick else 10_000, 2 if quick else 12,
                                   log=log)
            results["codec_sizes"] = codec_odd_sizes(worker, tiny["hyperprior_tiny"])
            if not quick:
                results["oversized_header"] = oversized_header_probe(worker,
                                                                     tiny["hyperprior_tiny"])
        if "images" in only:
            log("images: hostile PNGs, non-images, oversized headers")
            results["images"] = hostile_images(quick)
        if "weights" in only:
            log("weights: tampered, truncated, forged, mismatched artifacts")
            results["weights"] = weights_integrity(folder / "weights")
        if "train" in only:
            kills = 3 if quick else 20
            log(f"train: {kills} SIGKILLs, then a failing checkpoint write")
            results["train"] = kill_resume(kills, folder / "kill", log=log)
            results["checkpoint_write_failure"] = checkpoint_write_failure(folder / "enospc")
        if {"determinism", "drift"} & set(only):
            images = sorted(KODAK.glob("kodim*.png"))[: 2 if quick else None]
            chosen = dict(tiny)
            if not quick:
                chosen.update({f"{Path(p).stem} (shipped)": p for p in full_size_weights()})
            shape = f"{len(chosen)} models × {len(images)} Kodak images × {len(DECODER_SETTINGS)}"
            if "determinism" in only:
                log(f"determinism: {shape} decoder settings")
                results["determinism"] = determinism(chosen, images, log=log)
            if "drift" in only:
                log(f"drift: the index-guarded of {shape} decoder settings")
                results["drift"] = drift(chosen, images, worker, log=log)
    finally:
        if worker:
            worker.close()
    results["summary"] = summary(results)
    return results


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The headline counts the issue asks for."""
    fz, im = results.get("fuzz", {}), results.get("images", {})
    tr, de = results.get("train", {}), results.get("determinism", {})
    out = {
        "files_fuzzed": fz.get("files_fuzzed"), "damaged": fz.get("damaged"),
        "rejected": fz.get("rejected"), "crashed": fz.get("crashed"), "hung": fz.get("hung"),
        "wrong_exception": fz.get("wrong_exception"),
        "undamaged_exact": f"{fz.get('exact')}/{fz.get('undamaged')}" if fz else None,
        "images_tried": im.get("images_tried"), "images_following_rule": im.get("followed_rule"),
        "kills": tr.get("kills"), "resumes": tr.get("resumes"),
        "decodes_compared": de.get("decodes"),
        "decode_mismatches": (de.get("mismatches", 0) + fz.get("decode_mismatches", 0)
                              if de or fz else None),
        "decode_failures": de.get("decode_failures"),
        "index_drift_max": results.get("drift", {}).get("max_abs_delta"),
        "naive_index_flips": results.get("drift", {}).get("naive_flips"),
        "flips_outside_guard": results.get("drift", {}).get("flips_outside_guard"),
        "unloadable_families": fz.get("unloadable"),
    }
    sections = [k for k in ("fuzz", "codec_sizes", "images", "weights", "train",
                            "checkpoint_write_failure", "determinism", "drift") if k in results]
    out["failed_sections"] = [k for k in sections if not results[k].get("ok")]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size (a few hundred files).")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--workdir", help="scratch folder (default: a new temp dir)")
    parser.add_argument("--json", help="also write every count to this JSON file")
    args = parser.parse_args(argv)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    started = time.time()
    results = run(args.quick, only, Path(args.workdir) if args.workdir else None,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    results["seconds"] = round(time.time() - started)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps({k: v for k, v in results.items() if k != "summary"}, indent=1,
                     default=str))
    print("\nsummary:")
    for key, value in results["summary"].items():
        print(f"  {key:24s} {value}")
    return 1 if results["summary"]["failed_sections"] else 0


if __name__ == "__main__":
    sys.exit(main())
