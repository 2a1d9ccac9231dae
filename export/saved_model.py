"""Exports a zoo model as TF Serving SavedModels: `python -m export.saved_model`.

    python -m export.saved_model --model hyperprior --lmbda 0.013 --output serving/
    python -m export.saved_model --weights run/weights.npz --output serving/ --version 3

Layout (the integer version directories TF Serving polls), for base name NAME
(`--name`, default the registry name):

    serving/
      models.config                       model_config_list for every servable in serving/
      NAME_codec/<version>/               compress / decompress (needs tensorflow-compression ops)
        saved_model.pb  variables/  assets.extra/lic_zoo.json
      NAME_transform/<version>/           analysis / side_params / synthesis / tables (core ops)
        saved_model.pb  variables/  assets.extra/lic_zoo.json

`serving_default` is `compress` for the codec and `analysis` for the transform.
Families without an integer-latent interface (context models) get the codec only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from export.servables import CodecServable, TransformServable, transform_supported  # noqa: E402

KINDS = ("codec", "transform")
CONFIG_FILE = "models.config"


def servable_dirs(output: str | os.PathLike) -> dict[str, Path]:
    """Servables found under `output`: name -> base path (holding version directories)."""
    found = {}
    root = Path(output)
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if child.is_dir() and any(
            v.name.isdigit() and (v / "saved_model.pb").is_file() for v in child.iterdir()
        ):
            found[child.name] = child.resolve()
    return found


def next_version(output: str | os.PathLike, name: str) -> int:
    """1 + the highest version of any of `name`'s servables (1 if none)."""
    versions = [0]
    for kind in KINDS:
        base = Path(output) / f"{name}_{kind}"
        if base.is_dir():
            versions += [int(v.name) for v in base.iterdir() if v.name.isdigit()]
    return max(versions) + 1


def write_models_config(output: str | os.PathLike) -> Path:
    """Writes `models.config` (text protobuf) listing every servable under `output`."""
    blocks = []
    for name, base in servable_dirs(output).items():
        blocks.append(
            "  config {\n"
            f'    name: "{name}"\n'
            f'    base_path: "{base}"\n'
            '    model_platform: "tensorflow"\n'
            "  }\n"
        )
    path = Path(output) / CONFIG_FILE
    path.write_text("model_config_list {\n" + "".join(blocks) + "}\n")
    return path


def export(
    model: tf.keras.Model,
    output: str | os.PathLike,
    version: int | None = None,
    name: str | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> dict[str, Path]:
    """Writes the model's servables under `output` and refreshes `models.config`.

    Args:
      model: a zoo model with trained weights (range coding tables are built if needed).
      output: the serving root directory.
      version: integer version; default the next free one for `name`.
      name: servable base name; default the model's registry name.
      kinds: which servables ("codec", "transform"); the transform is skipped for
        families that have no integer-latent interface.

    Returns:
      kind -> version directory written.
    """
    name = name or model.registry_name
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"servable name {name!r} must be letters, digits, '_', '-' or '.'")
    version = next_version(output, name) if version is None else int(version)
    if version < 1:
        raise ValueError("versions are positive integers")
    written = {}
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown servable kind {kind!r}; choose from {KINDS}")
        if kind == "transform" and not transform_supported(model):
            print(f"{model.registry_name}: no transform servable (no integer-latent interface)")
            continue
        target = Path(output) / f"{name}_{kind}" / str(version)
        if target.exists():
            raise FileExistsError(f"{target} exists; versions are never overwritten")
        servable = CodecServable(model) if kind == "codec" else TransformServable(model)
        written[kind] = servable.save(target)
    write_models_config(output)
    return written


def main(argv: list[str]) -> None:
    del argv
    from absl import flags

    import zoo

    f = flags.FLAGS
    if f.weights:
        model = zoo.load(f.weights).model
    elif f.model and f.lmbda is not None:
        model = zoo.get(f.model, lmbda=f.lmbda, metric=f.metric).model
    else:
        raise flags.ValidationError("give --weights PATH, or --model NAME --lmbda L")
    written = export(model, f.output, f.version, f.name, tuple(f.kinds))
    for kind, path in written.items():
        print(f"{kind:<9} {path}")
    print(f"config    {Path(f.output) / CONFIG_FILE}")


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("model", None, "registered model name (pretrained weights)")
    flags.DEFINE_float("lmbda", None, "λ of the pretrained weights")
    flags.DEFINE_enum("metric", "mse", ["mse", "ms-ssim"], "metric of the pretrained weights")
    flags.DEFINE_string("weights", None, "weights artifact instead of --model/--lmbda")
    flags.DEFINE_string("output", None, "serving root directory", required=True)
    flags.DEFINE_integer("version", None, "servable version (default: next free integer)")
    flags.DEFINE_string("name", None, "servable base name (default: the registry name)")
    flags.DEFINE_list("kinds", list(KINDS), "servables to write: codec, transform")


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
