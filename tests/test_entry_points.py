"""TensorFlow must be imported before `absl.app.run` runs an entry point's `main`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import sys
    from absl import app
    {before}
    def main(argv):
        import tensorflow as tf
        model = tf.keras.Sequential([tf.keras.layers.Dense(2)], name="probe")
        model(tf.zeros([1, 2]))
        print(model.weights[0].name)
    app.run(main)
    """
)


def _variable_name(before: str) -> str:
    # Importing TF sets TF2_BEHAVIOR=1 in this process's environment, which would hide
    # the quirk from the child: give it the environment of a fresh shell.
    env = {k: v for k, v in os.environ.items() if k not in ("TF2_BEHAVIOR", "TPU_ML_PLATFORM")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_late_import_renames_variables_control():
    """The quirk exists: a first import inside app.run prefixes the model name."""
    assert _variable_name("") == "probe/dense/kernel:0"


@pytest.mark.parametrize("package", ["recipes", "export"])
def test_packages_import_tensorflow_first(package):
    assert _variable_name(f"import {package}") == "dense/kernel:0"
