"""Decoder fuzzing: damaged, truncated, extended, spliced and re-checksummed files.

A section of the reliability suite, `python -m recipes.reliability`.
"""

from __future__ import annotations

import inspect
import math
import random
import time
from typing import Any

import numpy as np

from recipes.faults.workers import KODAK, Worker


def _pack_version(header, payloads: list[bytes], version: int) -> bytes | None:
    """File bytes of container `version`, or None if this library cannot write it."""
    from zoo import container

    if "version" in inspect.signature(container.pack).parameters:
        return container.pack(header, payloads, version=version)
    return container.pack(header, payloads) if version == container.VERSION else None


def _damage(data: bytes, others: list[bytes], rng: random.Random, kind: str) -> bytes:
    buf = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "bytes":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == "truncate":
        buf = buf[: rng.randrange(len(buf))]
    elif kind == "extend":
        buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    elif kind == "insert":
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif kind == "delete":
        at = rng.randrange(len(buf))
        del buf[at : at + rng.randint(1, 8)]
    else:  # splice: a prefix of this file and a suffix of another (another family, image…)
        other = rng.choice(others)
        buf = buf[: rng.randrange(len(buf))] + other[rng.randrange(len(other)) :]
    return bytes(buf)


DAMAGE_KINDS = ("flip", "bytes", "truncate", "extend", "insert", "delete", "splice")


def _rechecksummed(header, payloads: list[bytes], rng: random.Random, version: int) -> bytes | None:
    """A well-formed file (valid checksum) whose payloads were altered: hostile, not damaged."""
    damaged = []
    for p in payloads:
        p = bytearray(p)
        if p:
            choice = rng.randrange(3)
            if choice == 0:
                p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
            elif choice == 1:
                p = p[: rng.randrange(len(p))]
            else:
                p += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        damaged.append(bytes(p))
    return _pack_version(header, damaged, version)


def fuzz_images(quick: bool) -> list[np.ndarray]:
    """Small real crops (odd and prime sides, 1×1, 1×N) to compress and then damage."""
    from zoo import read_image

    photo = read_image(KODAK / "kodim01.png") if (KODAK / "kodim01.png").exists() else (
        np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8))
    crops = [photo[101:138, 211:264]]
    if not quick:  # Each new shape costs a graph trace per family.
        crops += [photo[:13, :97]]
    return [np.ascontiguousarray(c) for c in crops]


def fuzz(worker: Worker, weights: dict[str, str], damaged_files: int, hostile_per_case: int,
         seed: int = 0, log=print) -> dict[str, Any]:
    """Damages files of every family × container version; every decode is watched.

    Returns the counts; `failures` lists (at most 20) examples of broken rules.
    """
    from zoo import container

    rng = random.Random(seed)
    counts: dict[str, Any] = {
        "families": sorted(weights), "versions": [], "versions_unwritable": [],
        "files_fuzzed": 0, "damaged": 0, "rejected": 0, "accepted_damaged": 0,
        "wrong_exception": 0, "crashed": 0, "hung": 0, "hostile": 0, "hostile_refused": 0,
        "hostile_decoded": 0, "undamaged": 0, "exact": 0, "decode_mismatches": 0,
        "damage_kinds": {k: 0 for k in DAMAGE_KINDS}, "unloadable": [], "failures": [],
    }

    def fail(what: str) -> None:
        if len(counts["failures"]) < 20:
            counts["failures"].append(what)

    def unexpected(status: str, value: Any, what: str) -> None:
        """A decode that neither refused nor decoded: a wrong exception, a crash, a hang."""
        if status == "error":
            counts["wrong_exception"] += 1
            fail(f"{what}: {value}")
        else:  # crashes and hangs are counted by `decode`
            fail(f"{what}: {status}")

    # Originals: every family × image × version, with the decoder's expected pixels.
    originals = []  # (name, version, data, header, payloads, expected digest, shape)
    for name, path in weights.items():
        try:
            worker.load(path)
        except RuntimeError as exc:
            counts["unloadable"].append(name)
            fail(str(exc)[:300])
            continue
        for image in fuzz_images(damaged_files < 2000):
            status, value = worker.call("compress", (path, image))
            if status != "ok":
                counts[{"hung": "hung", "crashed": "crashed"}.get(status, "wrong_exception")] += 1
                fail(f"{name}: compress {image.shape}: {status} {value}")
                continue
            data, expected, shape = value
            header, payloads = container.unpack(data)
            for version in container.SUPPORTED_VERSIONS:
                # Before format v3 encoders did not pad: the same payloads in an older
                # container decode like the new file only at sizes aligned to the stride.
                if version < getattr(container, "PADDED_SINCE", 0) and any(
                        side % 64 for side in shape):
                    continue
                packed = _pack_version(header, payloads, version)
                if packed is None:
                    if version not in counts["versions_unwritable"]:
                        counts["versions_unwritable"].append(version)
                    continue
                if version not in counts["versions"]:
                    counts["versions"].append(version)
                originals.append((name, path, version, packed, header, payloads, expected, shape))
    if not originals:
        return counts
    all_files = [o[3] for o in originals]
    valid_files = set(all_files)  # a splice can rebuild another original: not damage

    def decode(path: str, data: bytes) -> tuple[str, Any]:
        counts["files_fuzzed"] += 1
        status, value = worker.call("decode", (path, data))
        if status in ("hung", "crashed"):
            counts[status] += 1
        return status, value

    # Undamaged files decode exactly (before and after the damage, in case of state).
    def check_originals() -> None:
        for name, path, version, data, *_, expected, shape in originals:
            counts["undamaged"] += 1
            status, value = decode(path, data)
            if status == "ok" and value[0] == expected:
                counts["exact"] += 1
            else:
                counts["decode_mismatches"] += 1
                fail(f"{name} v{version} {shape}: undamaged file: {status} {value}")

    check_originals()
    started = time.time()
    for i in range(damaged_files):
        name, path, version, data, *_ = originals[i % len(originals)]
        kind = DAMAGE_KINDS[rng.randrange(len(DAMAGE_KINDS))]
        bad = _damage(data, all_files, rng, kind)
        while bad in valid_files:
            bad = _damage(data, all_files, rng, kind)
        counts["damaged"] += 1
        counts["damage_kinds"][kind] += 1
        status, value = decode(path, bad)
        if status == "rejected":
            counts["rejected"] += 1
        elif status == "ok":
            counts["accepted_damaged"] += 1
            fail(f"{name} v{version}: {kind}-damaged file decoded: {bad.hex()[:120]}")
        else:
            unexpected(status, value, f"{name} v{version}: {kind} on {bad.hex()[:120]}")
        if (i + 1) % 2000 == 0:
            log(f"  fuzz: {i + 1}/{damaged_files} damaged files ({time.time() - started:.0f} s)")
    # Hostile, well-formed files: their payloads reach the range decoders.
    for name, path, version, data, header, payloads, _expected, shape in originals:
        for _ in range(hostile_per_case):
            bad = _rechecksummed(header, payloads, rng, version)
            if bad is None or bad == data:
                continue
            counts["hostile"] += 1
            status, value = decode(path, bad)
            if status == "rejected":
                counts["hostile_refused"] += 1
            elif status == "ok" and tuple(value[1]) == tuple(shape) and value[2] == "uint8":
                counts["hostile_decoded"] += 1
            elif status == "ok":
                counts["wrong_exception"] += 1
                fail(f"{name} v{version}: hostile file decoded to {value[1]} not {shape}")
            else:
                unexpected(status, value, f"{name} v{version}: hostile file")
    check_originals()
    counts["worker_restarts"] = worker.restarts
    counts["ok"] = (counts["crashed"] == counts["hung"] == counts["wrong_exception"] == 0
                    and counts["accepted_damaged"] == counts["decode_mismatches"] == 0
                    and not counts["unloadable"]
                    and counts["rejected"] == counts["damaged"])
    return counts


def oversized_header_probe(worker: Worker, path: str, side: int | None = None) -> dict[str, Any]:
    """A well-formed file declaring an image larger than any encoder accepts (no payload):
    by default the first square above `image_io.MAX_PIXELS`."""
    from zoo import container, image_io

    side = side or math.isqrt(image_io.MAX_PIXELS) + 1
    status, value = worker.call("compress", (path, np.zeros((8, 8, 3), np.uint8)))
    header, payloads = container.unpack(value[0])
    big = container.Header(header.model, header.metric, header.lmbda, header.fingerprint,
                           side, side, header.rate)
    started = time.time()
    status, value = worker.call("decode", (path, container.pack(big, [b""] * len(payloads))),
                                timeout=300.0)
    return {"declared": f"{side}×{side}", "max_pixels": image_io.MAX_PIXELS, "status": status,
            "seconds": round(time.time() - started, 1),
            "refused_before_decoding": status == "rejected" and time.time() - started < 2}
