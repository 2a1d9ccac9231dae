"""Deterministic decoding across processes, threads and oneDNN, and scale-index drift.

A section of the reliability suite, `python -m recipes.reliability`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipes.faults.workers import PORTABLE_ENV, Worker, call_loaded

DECODER_SETTINGS = [{"threads": t, "onednn": o} for t in (1, 2) for o in ("0", "1")]


def full_size_weights() -> list[str]:
    """One trained full-size artifact shipped under zoo/ per model name and metric (the
    middle of its λ ladder): every shipped family is measured, not only the first."""
    import zoo
    from zoo import pretrained

    by_model: dict[tuple[str, str], list] = {}
    for entry in zoo.list_pretrained():
        by_model.setdefault((entry.name, entry.metric), []).append(entry)
    found = []
    for key in sorted(by_model):
        entries = sorted(by_model[key], key=lambda e: e.lmbda)
        found.append(str(pretrained.weights_file(entries[len(entries) // 2])))
    return found


def determinism(weights: dict[str, str], images: list[Path], log=print) -> dict[str, Any]:
    """Encodes in one process, decodes in one process per thread/oneDNN setting; compares
    pixels. Every codec is portable (`zoo.Codec(portable=True)`): float64 after entropy
    decoding, the mode that promises the same pixels everywhere."""
    from zoo import read_image

    counts: dict[str, Any] = {"families": sorted(weights), "images": len(images),
                              "settings": DECODER_SETTINGS, "files": 0, "decodes": 0,
                              "mismatches": 0, "decode_failures": 0, "examples": []}
    files = []  # (label, weights path, data, expected digest)
    encoder = Worker(env={PORTABLE_ENV: "1"}, timeout=900.0)
    for name, path in weights.items():
        try:
            if path not in encoder.loaded:
                encoder.load(path)
        except RuntimeError as exc:
            counts["decode_failures"] += 1
            counts["examples"].append(str(exc)[:300])
            continue
        for image_path in images:
            status, value = encoder.call("compress", (path, read_image(image_path)), 900.0)
            if status != "ok":
                counts["decode_failures"] += 1
                counts["examples"].append(f"{name} {image_path.name}: encode {status} {value}")
                continue
            files.append((f"{name}/{image_path.name}", path, value[0], value[1]))
    encoder.close()
    counts["files"] = len(files)
    for setting in DECODER_SETTINGS:
        worker = Worker(env={"TF_ENABLE_ONEDNN_OPTS": setting["onednn"], PORTABLE_ENV: "1"},
                        threads=setting["threads"], timeout=900.0)
        try:
            for label, path, data, expected in files:
                status, value = call_loaded(worker, "decode", path, data)
                counts["decodes"] += 1
                if status != "ok":
                    counts["decode_failures"] += 1
                    note = f"{label} {setting}: {status} {value}"
                elif value[0] != expected:
                    counts["mismatches"] += 1
                    note = f"{label} {setting}: pixels differ from the encoder's reconstruction"
                else:
                    continue
                if len(counts["examples"]) < 20:
                    counts["examples"].append(note)
        finally:
            worker.close()
        log(f"  determinism: {setting} done ({counts['decodes']} decodes so far)")
    counts["ok"] = counts["mismatches"] == counts["decode_failures"] == 0 and counts["files"] > 0
    return counts


def drift(weights: dict[str, str], images: list[Path], encoder: Worker,
          log=print) -> dict[str, Any]:
    """Continuous scale-index drift between the encoder and each decoder setting, for the
    index-guarded families (`recipes.index_drift`): could a naive decoder desync?"""
    from recipes import index_drift
    from zoo import index_guard, read_image

    rows, files, examples = [], [], []
    for name, path in weights.items():
        try:
            if path not in encoder.loaded:
                encoder.load(path)
        except RuntimeError as exc:
            examples.append(str(exc)[:300])
            continue
        for image_path in images:
            status, value = encoder.call("drift_encode", (path, read_image(image_path)), 900.0)
            if status != "ok":
                examples.append(f"{name} {image_path.name}: encode {status} {value}")
            elif value is not None:
                files.append((name, image_path.name, path, *value))
    per_setting = {}
    for setting in DECODER_SETTINGS:
        worker = Worker(env={"TF_ENABLE_ONEDNN_OPTS": setting["onednn"]},
                        threads=setting["threads"], timeout=900.0)
        setting_rows = []
        try:
            for name, image_name, path, data, s_enc, num_scales in files:
                status, s_dec = call_loaded(worker, "drift_decode", path, data)
                if status != "ok":
                    examples.append(f"{name} {image_name} {setting}: decode {status} {s_dec}")
                    continue
                row = index_drift.compare(s_enc, s_dec, num_scales, index_guard.MARGIN)
                row.update(model=name, image=image_name, **setting)
                setting_rows.append(row)
        finally:
            worker.close()
        rows += setting_rows
        key = f"threads={setting['threads']} onednn={setting['onednn']}"
        per_setting[key] = index_drift.summarize(setting_rows, index_guard.MARGIN)
        log(f"  drift: {key}: max |δ| {per_setting[key]['max_abs_delta']:.3g}, "
            f"naive flips {per_setting[key]['naive_flips']}")
    out = index_drift.summarize(rows, index_guard.MARGIN)
    out.update(models=sorted({f[0] for f in files}), images=len(images),
               per_setting=per_setting, errors=examples[:20])
    out["ok"] = out["ok"] and not examples
    return out
