"""TensorFlow's `saved_model_cli` with tensorflow-compression's ops registered.

The stock CLI loads every function of a SavedModel for `show --all` and `run`, so on
a codec servable (range coding ops) it fails with "Op type not registered". This runs
the same CLI after registering the ops:

    python -m export.saved_model_cli show --all --dir serving/hyperprior_codec/1
"""

from __future__ import annotations

import os


def main() -> None:
    """Registers the custom ops, then hands over to TensorFlow's CLI (same arguments)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow.python.tools import saved_model_cli

    from export.servables import register_custom_ops

    register_custom_ops()
    saved_model_cli.main()


if __name__ == "__main__":
    main()
