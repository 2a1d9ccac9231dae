"""Weights artifacts: one `.npz` file holding every variable and the builder config.

Variables are stored in the model's own (deterministic) variable order under keys
`0007/conv_1/kernel:0`, beside a `__meta__` entry with the JSON metadata (registry
name, builder arguments, fingerprint, training record). Files are read with
`allow_pickle=False`: loading weights never executes code.

The *fingerprint* is a sha256 over the variables (names, shapes, dtypes, bytes),
range coding tables included; compressed files carry its first 8 bytes, so a file
can only be decoded by exactly the weights that made it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.errors import WeightsError

META_KEY = "__meta__"
FORMAT = "lic-zoo-weights/1"


def _ordered_variables(model: tf.keras.Model) -> list[tf.Variable]:
    unique: dict[int, tf.Variable] = {}
    for v in model.variables:
        unique.setdefault(id(v), v)
    return list(unique.values())


def _keys(model: tf.keras.Model, variables: list[tf.Variable]) -> list[str]:
    """`NNNN/name` per variable. A variable created inside the model's own name scope
    (hierarchical's merge blocks) carries the model's name, which Keras numbers by how
    many models of the class the process built before (`hierarchical_model_2/…`); the
    key uses the first model's name, so weights load in any process."""
    own = f"{model.name}/"
    canonical = re.sub(r"_\d+$", "", model.name) + "/"
    return [
        f"{i:04d}/{canonical + v.name[len(own):] if v.name.startswith(own) else v.name}"
        for i, v in enumerate(variables)
    ]


def variable_arrays(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """The model's variables as numpy arrays, keyed by position and name."""
    variables = _ordered_variables(model)
    return {key: v.numpy() for key, v in zip(_keys(model, variables), variables)}


def fingerprint(model: tf.keras.Model) -> str:
    """sha256 (hex) of all variables, coding tables included."""
    digest = hashlib.sha256()
    for key, value in variable_arrays(model).items():
        value = np.ascontiguousarray(value)
        digest.update(f"{key}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_kernel(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith("kernel")


def round_kernels(model: tf.keras.Model) -> int:
    """Rounds every convolution/dense kernel to float16 precision, in place.

    Done once, before a model is evaluated and published: its artifact can then store
    the kernels as float16 (half the bytes) and load them back exactly. Returns the
    number of kernels rounded. The fingerprint changes, since the values do.
    """
    count = 0
    for v in _ordered_variables(model):
        if _is_kernel(v.name) and v.dtype == tf.float32:
            v.assign(tf.cast(tf.cast(v, tf.float16), tf.float32))
            count += 1
    return count


def save(
    model: tf.keras.Model, path: str | os.PathLike, half_kernels: bool = False, **metadata: Any
) -> str:
    """Writes the model's weights artifact atomically; returns the file's sha256.

    With `half_kernels`, float32 kernels are stored as float16; they must already hold
    float16 values (`round_kernels`), so loading widens them back exactly and the
    fingerprint (computed on the float32 variables) is the same.
    """
    if not model.coders_ready:
        model.build_coders()
    arrays = variable_arrays(model)
    if half_kernels:
        for key, value in arrays.items():
            if _is_kernel(key) and value.dtype == np.float32:
                half = value.astype(np.float16)
                if not np.array_equal(half.astype(np.float32), value):
                    raise ValueError(f"{key} is not float16-exact; call round_kernels first")
                arrays[key] = half
    meta = {
        "format": FORMAT,
        "config": model.builder_config,
        "fingerprint": fingerprint(model),
        "metric": model.metric,
        "lmbda": model.lmbda,
        **metadata,
    }
    arrays[META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
        np.savez(f, **arrays)
        tmp = f.name
    os.replace(tmp, path)
    return file_sha256(path)


def read(data: bytes, source: str = "weights") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parses an artifact's bytes into (metadata, arrays) without building a model."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    except Exception as exc:  # zipfile, json, KeyError, ValueError: all mean a bad file.
        raise WeightsError(f"{source} is not a readable weights artifact: {exc}") from None
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{source}: unknown weights format {meta.get('format')!r}")
    return meta, arrays


def assign(model: tf.keras.Model, arrays: dict[str, np.ndarray], source: str = "weights") -> None:
    """Copies arrays into the model's variables; refuses anything that does not fit."""
    variables = _ordered_variables(model)
    keys = sorted(arrays)
    expected = _keys(model, variables)
    if keys != expected:
        missing = sorted(set(expected) - set(keys))[:3]
        extra = sorted(set(keys) - set(expected))[:3]
        raise WeightsError(
            f"{source} does not fit the model: {len(keys)} arrays for {len(expected)} "
            f"variables (missing {missing}, unexpected {extra})"
        )
    for key, var in zip(expected, variables):
        value = arrays[key]
        if value.dtype == np.float16 and var.dtype == tf.float32 and _is_kernel(key):
            value = arrays[key] = value.astype(np.float32)  # exact: compact artifacts
        if value.dtype != var.dtype.as_numpy_dtype or (
            var.shape.is_fully_defined() and tuple(var.shape) != value.shape
        ):
            raise WeightsError(
                f"{source}: {key} has shape {value.shape} {value.dtype}, "
                f"the model expects {tuple(var.shape)} {var.dtype.name}"
            )
    for key, var in zip(expected, variables):
        var.assign(arrays[key])


def load(
    path: str | os.PathLike | None = None,
    *,
    data: bytes | None = None,
    sha256: str | None = None,
) -> tf.keras.Model:
    """Builds the model an artifact describes and loads its weights.

    Args:
      path: the artifact file (or pass its bytes as `data`).
      data: the artifact's bytes.
      sha256: if given, the file's expected sha256; checked before anything is parsed.

    Raises:
      WeightsError: missing, truncated, tampered or mismatching weights.
    """
    from zoo.registry import create_model

    source = str(path) if path is not None else "weights"
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise WeightsError(f"cannot read weights file {source}: {exc.strerror}") from None
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise WeightsError(
                f"{source} failed its integrity check: sha256 {actual[:16]}… differs from "
                f"the recorded {sha256[:16]}…; the file is damaged or was tampered with"
            )
    meta, arrays = read(data, source)
    config = meta["config"]
    model = create_model(config["name"], **config["kwargs"])
    model.build_coders(compute=False)
    assign(model, arrays, source)
    if fingerprint(model) != meta["fingerprint"]:
        raise WeightsError(f"{source}: variables do not match the recorded fingerprint")
    model.artifact_metadata = meta
    return model


# Weight transfer between models ---------------------------------------------------------


def copy_variables(source: Sequence[tf.Variable], target: Sequence[tf.Variable], what: str) -> None:
    """Assigns `source` to `target` in order; refuses any difference in count or shape.

    Nothing is assigned unless every pair fits. Raises ValueError naming `what`.
    """
    _check_fit(source, target, what)
    for src, dst in zip(source, target):
        dst.assign(src)


def _check_fit(source: Sequence[tf.Variable], target: Sequence[tf.Variable], what: str) -> None:
    if len(source) != len(target):
        raise ValueError(
            f"{what}: {len(source)} variables cannot go into {len(target)} "
            "(a different architecture)"
        )
    for src, dst in zip(source, target):
        if tuple(src.shape) != tuple(dst.shape):
            raise ValueError(
                f"{what}: {src.name} of shape {tuple(src.shape)} cannot go into "
                f"{dst.name} of shape {tuple(dst.shape)} (other filter counts?)"
            )


def _fits(source: Sequence[tf.Variable], target: Sequence[tf.Variable]) -> bool:
    try:
        _check_fit(source, target, "")
    except ValueError:
        return False
    return True


def _part(model: tf.Module, path: str) -> tf.Module | None:
    for name in path.split("."):
        model = getattr(model, name, None)
        if model is None:
            return None
    return model


def transfer(
    source: tf.Module,
    target: tf.Module,
    parts: Sequence[str] | None = None,
    *,
    skip_mismatched: bool = False,
) -> dict[str, int]:
    """Copies trained variables from `source` into `target` (both built), part by part.

    Args:
      source, target: models (or layers).
      parts: attribute names of sub-layers both have (e.g. `("analysis", "synthesis")`,
        dotted for nested ones: `"latent_codec.hyper_analysis"`); each part's trainable
        variables are copied in order. None: every trainable variable of the whole
        model (the same architecture, e.g. another λ).
      skip_mismatched: leave out the parts one model lacks, that hold no variables or
        whose variables differ in count or shape, instead of raising (a warm start
        between families that share only some parts).

    Returns:
      {part: number of variables copied} (`{"all": n}` when `parts` is None); with
      `skip_mismatched`, only the parts that were copied, possibly none.

    Raises:
      ValueError: a part is missing on either model, or its variables differ in count
        or shape (the message names the part and the first mismatching variable).
        Checked for every part before any variable is assigned.
    """
    if parts is None:
        pairs = {"all": (source.trainable_variables, target.trainable_variables)}
    else:
        if isinstance(parts, str):
            parts = (parts,)
        pairs = {}
        for part in parts:
            missing = [
                name
                for name, model in (("source", source), ("target", target))
                if _part(model, part) is None
            ]
            if missing:
                if skip_mismatched:
                    continue
                raise ValueError(
                    f"cannot transfer {part!r}: not a part of the {' or '.join(missing)} model"
                )
            pairs[part] = (
                _part(source, part).trainable_variables,
                _part(target, part).trainable_variables,
            )
    if skip_mismatched:
        pairs = {k: (s, t) for k, (s, t) in pairs.items() if t and _fits(s, t)}
    for part, (src, dst) in pairs.items():
        _check_fit(src, dst, part)
    for src, dst in pairs.values():
        for s, t in zip(src, dst):
            t.assign(s)
    return {part: len(dst) for part, (_, dst) in pairs.items()}
