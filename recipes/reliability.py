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
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import io
import json
import multiprocessing
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT / "recipes" / "data" / "kodak"
#: Address-space cap of a decoding worker: a hostile file must be refused, not fill the host.
WORKER_MEMORY_BYTES = 10 << 30
#: The trainer reads this variable to simulate a failing checkpoint write (a full disk).
FAIL_CHECKPOINT_ENV = "LIC_ZOO_DEBUG_FAIL_CHECKPOINT_AT_STEP"
#: Workers with this variable set to 1 decode with portable (float64) codecs.
PORTABLE_ENV = "LIC_ZOO_RELIABILITY_PORTABLE"


def image_families() -> list[str]:
    """Every registered tiny image model, looked up now (families are added over time)."""
    import zoo
    from zoo.registry import get_spec

    return [n for n in zoo.list_models() if get_spec(n).tiny and get_spec(n).family != "toy"]


def digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.shape}{array.dtype}".encode() + array.tobytes()).hexdigest()


# Workers ----------------------------------------------------------------------------------


def _worker_main(conn, env: dict[str, str], threads: int | None, memory: int | None) -> None:
    # Everything that must precede TensorFlow's start-up happens here, in the child.
    os.environ.update(env)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if memory:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import zoo
    from zoo import weights

    codecs: dict[str, Any] = {}
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        op, args = message
        try:
            if op == "make":  # (name, path): a tiny model with fixed weights, saved.
                name, path = args
                tf.random.set_seed(0)
                model = zoo.create_model(name)
                model.build_coders()
                weights.save(model, path)
                reply: tuple = ("ok", path)
            elif op == "load":
                portable = os.environ.get(PORTABLE_ENV) == "1"
                codecs[args] = zoo.Codec(weights.load(args), portable=portable)
                reply = ("ok", codecs[args].fingerprint)
            elif op == "compress":  # (weights, image) -> (file, digest of the decoder's image)
                path, image = args
                data, recon = codecs[path].compress_with_reconstruction(image)
                reply = ("ok", (data, digest(recon), recon.shape))
            elif op == "decode":  # (weights, file) -> (digest, shape)
                path, data = args
                image = codecs[path].decompress(data)
                reply = ("ok", (digest(image), image.shape, str(image.dtype)))
            elif op == "drift_encode":  # (weights, image) -> (file, encoder's indexes) | None
                from recipes import index_drift

                path, image = args
                codec = codecs[path]
                if not codec.model.index_guarded:
                    reply = ("ok", None)
                else:
                    s = index_drift.record(codec, "encode", image)
                    reply = ("ok", (codec.compress(image), s, codec.model.conditional.num_scales))
            elif op == "drift_decode":  # (weights, file) -> decoder's continuous indexes
                from recipes import index_drift

                path, data = args
                reply = ("ok", index_drift.record(codecs[path], "decode", data))
            elif op == "ping":  # Start-up done (the watchdog's clock starts after it).
                reply = ("ok", os.getpid())
            elif op == "_sleep":  # Self-tests of the watchdog.
                time.sleep(args)
                reply = ("ok", None)
            elif op == "_exit":
                os._exit(args)
            else:
                reply = ("error", f"unknown op {op}")
        except zoo.BitstreamError as exc:
            reply = ("rejected", f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # Reported to the parent: a failure of the suite's rules.
            reply = ("error", f"{type(exc).__name__}: {str(exc)[:300]}")
        conn.send(reply)


class Worker:
    """A spawned decoding process behind a watchdog; restarts itself after a crash or hang.

    `call` returns (status, value) with status "ok", "rejected" (BitstreamError),
    "error" (any other exception), "hung" (no answer within the timeout; the process is
    killed) or "crashed" (the process died).
    """

    def __init__(self, env: dict[str, str] | None = None, threads: int | None = None,
                 memory: int | None = WORKER_MEMORY_BYTES, timeout: float = 120.0):
        self.env, self.threads, self.memory, self.timeout = env or {}, threads, memory, timeout
        self.loaded: list[str] = []
        self.process = None
        self.restarts = 0

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, daemon=True,
                                       args=(child, self.env, self.threads, self.memory))
        self.process.start()
        child.close()
        # TensorFlow's start-up can take minutes on a loaded machine: not a hang.
        if self._raw_call("ping", None, 900.0)[0] != "ok":
            raise RuntimeError("decoding worker did not start")
        for path in self.loaded:  # Same weights as before the restart: same fingerprints.
            self._raw_call("load", path, 600.0)

    def _raw_call(self, op: str, args: Any, timeout: float) -> tuple[str, Any]:
        try:
            self.conn.send((op, args))
            if not self.conn.poll(timeout):
                self._kill()
                return "hung", None
            return self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            code = self.process.exitcode if self.process else None
            self._kill()
            return "crashed", code

    def call(self, op: str, args: Any, timeout: float | None = None) -> tuple[str, Any]:
        if self.process is None:
            self._start()
        result = self._raw_call(op, args, timeout or self.timeout)
        if result[0] in ("hung", "crashed"):
            self.restarts += 1
        return result

    def load(self, path: str) -> str:
        status, value = self.call("load", path, 600.0)
        if status != "ok":
            raise RuntimeError(f"worker could not load {path}: {status} {value}")
        self.loaded.append(path)
        return value

    def _kill(self) -> None:
        if self.process is not None and self.process.pid is not None:
            self.process.kill()
            self.process.join(10)
        self.process = None

    def close(self) -> None:
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(10)
            except OSError:
                pass
        self._kill()


def call_loaded(worker: Worker, op: str, path: str, data: Any) -> tuple[str, Any]:
    """`worker.call(op, (path, data))` after loading `path` once; a load failure is an
    ("error", message) result like any other."""
    try:
        if path not in worker.loaded:
            worker.load(path)
        return worker.call(op, (path, data))
    except RuntimeError as exc:
        return "error", str(exc)[:300]


def make_weights(names: list[str], folder: Path, worker: Worker) -> dict[str, str]:
    """Saves each tiny model once, so every worker (and restart) decodes with equal weights."""
    paths = {}
    for name in names:
        path = str(folder / f"{name}.npz")
        status, value = worker.call("make", (name, path), 600.0)
        if status != "ok":
            raise RuntimeError(f"cannot build {name}: {status} {value}")
        paths[name] = path
    return paths


# 1. Decoder fuzzing -----------------------------------------------------------------------


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
        elif status == "error":
            counts["wrong_exception"] += 1
            fail(f"{name} v{version}: {kind}: {value} on {bad.hex()[:120]}")
        else:
            fail(f"{name} v{version}: {kind}: {status} on {bad.hex()[:120]}")
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
            elif status == "error":
                counts["wrong_exception"] += 1
                fail(f"{name} v{version}: hostile file: {value}")
            else:
                fail(f"{name} v{version}: hostile file: {status}")
    check_originals()
    counts["worker_restarts"] = worker.restarts
    counts["ok"] = (counts["crashed"] == counts["hung"] == counts["wrong_exception"] == 0
                    and counts["accepted_damaged"] == counts["decode_mismatches"] == 0
                    and not counts["unloadable"]
                    and counts["rejected"] == counts["damaged"])
    return counts


def oversized_header_probe(worker: Worker, path: str, side: int = 4097) -> dict[str, Any]:
    """A well-formed file declaring an image larger than any encoder accepts (no payload)."""
    from zoo import container, image_io

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


# 2. Hostile images ------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _scanlines(samples: np.ndarray, depth: int, channels: int, first_filter: int) -> bytes:
    """Packs [h, w, channels] samples into filtered scanlines (filter type cycles per row)."""
    h, w = samples.shape[:2]
    if depth < 8:
        per_byte = 8 // depth
        padded = np.zeros((h, -(-w // per_byte) * per_byte), np.uint8)
        padded[:, :w] = samples[..., 0]
        groups = padded.reshape(h, -1, per_byte).astype(np.uint16)
        shifts = (8 - depth * (np.arange(per_byte) + 1)).astype(np.uint16)
        raw = np.bitwise_or.reduce(groups << shifts, axis=-1).astype(np.uint8)
    elif depth == 8:
        raw = samples.reshape(h, w * channels).astype(np.uint8)
    else:
        raw = samples.astype(">u2").reshape(h, w * channels).view(np.uint8).reshape(h, -1)
    bpp = max(1, depth * channels // 8)
    out = bytearray()
    prior = np.zeros(raw.shape[1], np.int32)
    for y in range(h):
        row = raw[y].astype(np.int32)
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]]) if row.size > bpp else (
            np.zeros_like(row))
        upleft = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]]) if row.size > bpp else (
            np.zeros_like(row))
        kind = (first_filter + y) % 5
        predicted = [0, left, prior, (left + prior) // 2, _paeth(left, prior, upleft)][kind]
        out.append(kind)
        out += ((row - predicted) % 256).astype(np.uint8).tobytes()
        prior = row
    return bytes(out)


def png_bytes(samples: np.ndarray, color_type: int, depth: int, *, palette: np.ndarray | None = None,
              trns: bytes | None = None, interlace: bool = False) -> bytes:
    """A PNG written from scratch (any colour type and depth, optionally Adam7-interlaced).

    Args:
      samples: [H, W] or [H, W, C] integer samples (palette indices for colour type 3).
      color_type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
      depth: bits per sample (1, 2, 4, 8, 16 as the type allows).
      palette: [N, 3] uint8 for colour type 3.
      trns: the body of a tRNS chunk (palette alphas, or a transparent gray/RGB colour).
      interlace: Adam7 interlacing, which Pillow cannot write.
    """
    channels = _CHANNELS[color_type]
    samples = np.asarray(samples).reshape(samples.shape[0], samples.shape[1], channels)
    h, w = samples.shape[:2]
    if interlace:
        raw = b"".join(_scanlines(samples[y0::dy, x0::dx], depth, channels, i)
                       for i, (x0, y0, dx, dy) in enumerate(_ADAM7)
                       if samples[y0::dy, x0::dx].size)
    else:
        raw = _scanlines(samples, depth, channels, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type,
                                                          0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    return out + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def large_png(width: int, height: int) -> bytes:
    """A black RGB PNG of any size, streamed row by row (8000×8000 costs ~200 kB)."""
    compressor = zlib.compressobj(1)
    rows = max(1, (1 << 20) // (1 + 3 * width))  # about 1 MB of scanlines per call
    block = bytes((1 + 3 * width) * rows)
    parts = [compressor.compress(block) for _ in range(height // rows)]
    parts.append(compressor.compress(bytes((1 + 3 * width) * (height % rows))))
    body = b"".join(parts) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))


def _to8(values: np.ndarray, depth: int) -> np.ndarray:
    """The documented scaling: round(v · 255 / (2^depth − 1))."""
    return np.round(values.astype(np.float64) * 255.0 / (2**depth - 1)).astype(np.uint8)


def hostile_image_cases(quick: bool) -> list[dict[str, Any]]:
    """Every PNG colour type × depth × interlace at several sizes, with the expected result.

    Each case: name, data (bytes), alpha rule, and either `expect` (uint8 [H, W, 3]) or
    `refuse` (a regex the ImageError message must match).
    """
    rng = np.random.default_rng(7)
    sizes = [(37, 53), (1, 1), (1, 23), (29, 1)] + ([] if quick else [(97, 101), (8, 8), (3, 2)])
    cases: list[dict[str, Any]] = []
    for h, w in sizes:
        for interlace in (False, True):
            tag = f"{h}x{w}{' adam7' if interlace else ''}"

            def add(name, data, expect=None, refuse=None, alpha="error", tag=tag):
                cases.append({"name": f"{name} {tag}", "data": data, "expect": expect,
                              "refuse": refuse, "alpha": alpha})

            for depth in (1, 2, 4, 8, 16):
                gray = rng.integers(0, 2**depth, (h, w))
                add(f"gray{depth}", png_bytes(gray, 0, depth, interlace=interlace),
                    np.repeat(_to8(gray, depth)[..., None], 3, -1))
            for depth in (8, 16):
                rgb = rng.integers(0, 2**depth, (h, w, 3))
                add(f"rgb{depth}", png_bytes(rgb, 2, depth, interlace=interlace), _to8(rgb, depth))
                for kind, channels in (("gray+alpha", 2), ("rgba", 4)):
                    pixels = rng.integers(0, 2**depth, (h, w, channels))
                    color = _to8(pixels[..., :-1], depth)
                    color = np.repeat(color, 3, -1) if channels == 2 else color
                    opaque = pixels.copy()
                    opaque[..., -1] = 2**depth - 1
                    ct = 4 if channels == 2 else 6
                    add(f"{kind}{depth} opaque", png_bytes(opaque, ct, depth, interlace=interlace),
                        color)
                    pixels[0, 0, -1] = 0
                    data = png_bytes(pixels, ct, depth, interlace=interlace)
                    add(f"{kind}{depth} transparent", data, refuse="transparency")
                    add(f"{kind}{depth} transparent drop", data, color, alpha="drop")
            for depth in (1, 2, 4, 8):
                n = 2**depth
                palette = rng.integers(0, 256, (n, 3), dtype=np.uint8)
                index = rng.integers(0, n, (h, w))
                index[0, 0] = 0
                add(f"palette{depth}", png_bytes(index, 3, depth, palette=palette,
                                                 interlace=interlace), palette[index])
                alphas = np.full(n, 255, np.uint8)
                add(f"palette{depth} opaque tRNS", png_bytes(
                    index, 3, depth, palette=palette, trns=alphas.tobytes(), interlace=interlace),
                    palette[index])
                alphas[0] = 0
                data = png_bytes(index, 3, depth, palette=palette, trns=alphas.tobytes(),
                                 interlace=interlace)
                add(f"palette{depth} tRNS", data, refuse="transparency")
                white = palette[index].copy()
                white[index == 0] = 255
                add(f"palette{depth} tRNS white", data, white, alpha="white")
            # A transparent colour key (tRNS on gray / RGB) is transparency too.
            gray = rng.integers(1, 256, (h, w))
            gray[0, 0] = 0
            add("gray8 colour-key tRNS", png_bytes(gray, 0, 8, trns=struct.pack(">H", 0),
                                                   interlace=interlace), refuse="transparency")
    # Non-images, damaged images and oversized ones.
    good = png_bytes(rng.integers(0, 256, (37, 53, 3)), 2, 8)
    for i, cut in enumerate(sorted({4, 12, 20, 33, 40, len(good) // 2, len(good) - 20})):
        cases.append({"name": f"truncated png at {cut}", "data": good[:cut], "refuse": "",
                      "alpha": "error", "expect": None, "truncated": i})
    junk = [b"", b"hello world", bytes(rng.integers(0, 256, 4096, dtype=np.uint8)),
            b"\x89PNG\r\n\x1a\n" + bytes(40), b"\x89LIC\x01" + bytes(60), b"GIF89a" + bytes(20),
            b"\xff\xd8\xff\xe0" + bytes(100), b"%PDF-1.4\n" + bytes(50), b"BM" + bytes(60)]
    for i, data in enumerate(junk):
        cases.append({"name": f"non-image #{i}", "data": data, "refuse": "", "alpha": "error",
                      "expect": None})
    bad_idat = bytearray(good)
    bad_idat[good.index(b"IDAT") + 40] ^= 0xFF
    cases.append({"name": "corrupted IDAT", "data": bytes(bad_idat), "refuse": "",
                  "alpha": "error", "expect": None, "lenient": True})
    for w, h in ((8000, 8000), (65535, 65535), (1, 1 << 25), (4097, 4096)):
        cases.append({"name": f"oversized {w}x{h}", "data": large_png(w, h) if w > 1 and w * h <= 1 << 26
                      else png_header_only(w, h), "refuse": "not supported in one piece|"
                      "exceeds|too large|pixels", "alpha": "error", "expect": None,
                      "fast": True})
    return cases


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header promises a huge image, followed by a tiny (too short) IDAT."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(bytes(100))) + _chunk(b"IEND", b""))


def hostile_images(quick: bool) -> dict[str, Any]:
    """Runs every hostile-image case through `zoo.read_image` and checks its rule."""
    import zoo

    counts: dict[str, Any] = {"images_tried": 0, "followed_rule": 0, "refused": 0, "decoded": 0,
                              "violations": []}
    for case in hostile_image_cases(quick):
        counts["images_tried"] += 1
        started = time.time()
        try:
            out = zoo.read_image(case["data"], alpha=case["alpha"])
            error = None
        except zoo.ImageError as exc:
            out, error = None, str(exc)
        except Exception as exc:  # Any other exception breaks the rule.
            out, error = None, f"!{type(exc).__name__}: {exc}"
        elapsed = time.time() - started
        if out is not None:
            counts["decoded"] += 1
        elif not error.startswith("!"):
            counts["refused"] += 1
        if case["expect"] is not None:
            ok = out is not None and out.dtype == np.uint8 and np.array_equal(out, case["expect"])
        elif case.get("truncated") is not None and out is not None:
            ok = False  # A truncated file must be refused, never padded out.
        elif case.get("lenient") and out is not None:
            ok = out.shape == (37, 53, 3)  # zlib may not notice every flipped byte.
        else:
            ok = error is not None and not error.startswith("!") and re.search(
                case["refuse"], error) is not None
        if case.get("fast") and elapsed > 5:
            ok = False
            error = f"{error} (took {elapsed:.1f} s: the header was not checked first)"
        if ok:
            counts["followed_rule"] += 1
        elif len(counts["violations"]) < 30:
            got = error if out is None else f"decoded {out.shape}"
            counts["violations"].append(f"{case['name']}: {got}")
    counts["ok"] = counts["followed_rule"] == counts["images_tried"]
    return counts


def codec_odd_sizes(worker: Worker, path: str) -> dict[str, Any]:
    """1×1, 1×N, N×1 and prime-sided images round-trip exactly through a codec."""
    rng = np.random.default_rng(3)
    counts = {"sizes": 0, "exact": 0, "failures": []}
    if path not in worker.loaded:
        worker.load(path)
    for h, w in ((1, 1), (1, 97), (97, 1), (2, 3), (37, 53), (101, 7)):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        counts["sizes"] += 1
        status, value = worker.call("compress", (path, image))
        if status == "ok":
            status2, value2 = worker.call("decode", (path, value[0]))
            if status2 == "ok" and value2[0] == value[1] and tuple(value2[1]) == (h, w, 3):
                counts["exact"] += 1
                continue
            status, value = status2, value2
        counts["failures"].append(f"{h}x{w}: {status} {str(value)[:200]}")
    counts["ok"] = counts["exact"] == counts["sizes"]
    return counts


# 3. Training faults -----------------------------------------------------------------------


def make_training_images(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        base = rng.normal(128, 40, (6, 6, 3)).clip(0, 255).astype(np.uint8)
        Image.fromarray(base).resize((96, 80), Image.BICUBIC).save(folder / f"img{i}.png")
    return folder


def _train_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", FAIL_CHECKPOINT_ENV)}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), **extra)
    return env


def _train_cmd(images: Path, workdir: Path, num_steps: int, every: int) -> list[str]:
    return [sys.executable, "-m", "recipes.train", "--smoke", "--model", "hyperprior_tiny",
            f"--train_data={images}", f"--workdir={workdir}", "--patchsize=32",
            f"--num_steps={num_steps}", f"--checkpoint_every={every}", "--log_every=1",
            "--data_throughput_batches=1", "--image_every=1000000"]


def read_checkpoint(folder: Path) -> tuple[int | None, str]:
    """(step, problem) of the latest checkpoint: every tensor read, floats finite."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(folder))
    if latest is None:
        return None, ""
    try:
        reader = tf.train.load_checkpoint(latest)
        step = None
        for name, dtype in reader.get_variable_to_dtype_map().items():
            value = reader.get_tensor(name)
            if dtype.is_floating and not np.isfinite(value).all():
                return None, f"{latest}: {name} is not finite"
            if name.startswith("step/"):
                step = int(value)
        return step, "" if step is not None else f"{latest}: no step variable"
    except Exception as exc:
        return None, f"{latest} does not load: {type(exc).__name__}: {exc}"


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def kill_resume(kills: int, folder: Path, seed: int = 0, log=print) -> dict[str, Any]:
    """SIGKILLs a training run at random moments, `kills` times; then lets it finish.

    A quarter of the kills land at a random time during start-up; the others a random
    0–0.6 s after a random number (1–6) of new steps, which with a checkpoint every step
    often falls inside a checkpoint write.
    """
    rng = random.Random(seed)
    images = make_training_images(folder / "images")
    workdir = folder / "run"
    cmd = _train_cmd(images, workdir, 100_000, 1)
    metrics, checkpoints = workdir / "metrics.jsonl", workdir / "checkpoints"
    counts: dict[str, Any] = {"kills": 0, "intact_after_kill": 0, "resumes": 0, "progressed": 0,
                              "steps": [], "problems": []}
    previous = 0
    startup = 20.0
    for i in range(kills):
        with tempfile.TemporaryFile("w+") as err:
            started = time.time()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=_train_env(), stdout=subprocess.DEVNULL,
                                    stderr=err)
            before = _lines(metrics)
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.5, startup))
            else:
                target = before + rng.randint(1, 6)
                deadline = time.time() + 600
                while _lines(metrics) < target and proc.poll() is None and time.time() < deadline:
                    time.sleep(0.02)
                startup = max(5.0, time.time() - started)
                time.sleep(rng.uniform(0, 0.6))
            if proc.poll() is not None:
                err.seek(0)
                counts["problems"].append(f"run {i} exited {proc.returncode}: {err.read()[-500:]}")
                continue
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            counts["kills"] += 1
            err.seek(0)
            text = err.read()
        if previous and f"(step {previous})" in text and "Resumed from" in text:
            counts["resumes"] += 1
        step, problem = read_checkpoint(checkpoints)
        if problem:
            counts["problems"].append(f"after kill {i}: {problem}")
            continue
        counts["intact_after_kill"] += 1
        step = step or 0
        counts["steps"].append(step)
        if step > previous:
            counts["progressed"] += 1
        elif step < previous:
            counts["problems"].append(f"after kill {i}: step went back {previous} -> {step}")
        previous = step
        log(f"  train: kill {i + 1}/{kills} at {time.time() - started:.1f} s, checkpoint step {step}")
    # The same command (a few more steps) resumes and finishes.
    final = subprocess.run(_train_cmd(images, workdir, previous + 3, 1), cwd=ROOT,
                           env=_train_env(), capture_output=True, text=True, timeout=900)
    counts["final_exit"] = final.returncode
    if final.returncode == 0:
        record = json.loads((workdir / "training_log.json").read_text())
        counts["final_start_step"], counts["final_steps"] = record["start_step"], record["steps"]
        if previous and f"(step {previous})" in final.stderr:
            counts["resumes"] += 1
        finished = record["start_step"] == previous and record["steps"] == previous + 3
    else:
        counts["problems"].append(f"final run exited {final.returncode}: {final.stderr[-800:]}")
        finished = False
    counts["ok"] = (finished and not counts["problems"] and counts["kills"] == kills
                    and counts["intact_after_kill"] == kills)
    return counts


def checkpoint_write_failure(folder: Path, fail_at: int = 4) -> dict[str, Any]:
    """A checkpoint write that fails (simulated full disk) keeps the previous one usable."""
    images = make_training_images(folder / "images")
    workdir = folder / "run"
    result = subprocess.run(_train_cmd(images, workdir, 8, 2), cwd=ROOT, capture_output=True,
                            text=True, timeout=900,
                            env=_train_env(**{FAIL_CHECKPOINT_ENV: str(fail_at)}))
    step, problem = read_checkpoint(workdir / "checkpoints")
    message = [line for line in result.stderr.splitlines() if "checkpoint" in line.lower()]
    resumed = subprocess.run(_train_cmd(images, workdir, 8, 2), cwd=ROOT, capture_output=True,
                             text=True, timeout=900, env=_train_env())
    counts = {"exit_code": result.returncode, "message": message[-1] if message else "",
              "previous_checkpoint_step": step, "problem": problem,
              "resume_exit_code": resumed.returncode,
              "resumed_from": step if f"(step {step})" in resumed.stderr else None}
    counts["ok"] = (result.returncode != 0 and step == fail_at - 2 and not problem
                    and "intact" in counts["message"] and resumed.returncode == 0
                    and counts["resumed_from"] == fail_at - 2)
    return counts


# 4. Deterministic decoding ----------------------------------------------------------------


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


# 5. Weights integrity ---------------------------------------------------------------------


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
