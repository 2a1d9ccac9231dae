"""`--init_from`: starting a run from trained weights (`zoo.weights.transfer` does the
copying).

    same architecture           every trainable variable (fine-tuning to another λ)
    variable-rate from its      the fixed-rate model at every λ
      fixed-rate family         (`VariableRateMixin.initialize_from_fixed_rate`)
    another family              each of `SHARED_PARTS` both have with identical variable
                                shapes (e.g. `mean_scale` from `hyperprior`'s transforms);
                                the rest keeps its fresh initialization
"""

from __future__ import annotations

import tensorflow as tf
from absl import logging

from zoo import weights

#: Sub-modules a warm start may copy between families that share them.
SHARED_PARTS = ("analysis", "synthesis", "hyper_analysis", "side_entropy_model")


def initialize_from(
    model: tf.keras.Model, path: str, shared_parts: tuple[str, ...] = SHARED_PARTS
) -> dict[str, int]:
    """Copies trained weights from the artifact `path` (a file or `name@λ`) into `model`.

    Returns what `zoo.weights.transfer` copied ({} for the variable-rate warm start).

    Raises:
      ValueError: the architectures share no part of identical shape.
    """
    from zoo import pretrained

    source = weights.load(pretrained.resolve(path))
    try:
        copied = weights.transfer(source, model)
    except ValueError:
        pass  # Another architecture: one of the partial warm starts below.
    else:
        logging.info("Initialized from %s.", path)
        return copied
    if hasattr(model, "initialize_from_fixed_rate") and not getattr(
        source, "conditioned_attributes", None
    ):
        model.initialize_from_fixed_rate(source)
        logging.info("Variable-rate warm start from %s.", path)
        return {}
    copied = weights.transfer(source, model, shared_parts, skip_mismatched=True)
    if not copied:
        raise ValueError(
            f"--init_from {path}: the architectures share no part "
            f"({', '.join(shared_parts)}) of identical shape"
        )
    logging.info("Warm start from %s: copied %s.", path, ", ".join(copied))
    return copied
