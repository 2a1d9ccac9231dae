"""TensorFlow is imported here, before any absl `app.run` entry point of this package runs.

TF 2.14 imported for the first time *inside* `app.run(main)` builds Keras layers as if
outside eager mode: variable names get the model's name as a prefix (so weights
artifacts, keyed by variable name, no longer fit) and `tensor == value` compares
identities, which sends tensorflow-compression's GDN to a slower generic path. Importing
it with the package avoids both (`tests/test_entry_points.py`).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow  # noqa: E402, F401
