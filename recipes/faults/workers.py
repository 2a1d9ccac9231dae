"""Worker processes: every decode runs in a spawned, memory-capped, watched process.

A section of the reliability suite, `python -m recipes.reliability`.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[2]
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
