"""Training, evaluation and experiment drivers.

Importing the package imports `zoo`, hence TensorFlow, before any absl `app.run` entry
point of it runs. TF 2.14 imported for the first time *inside* `app.run(main)` (with
TF2_BEHAVIOR unset) builds Keras layers as if outside eager mode: variable names get the
model's name as a prefix (so weights artifacts, keyed by variable name, no longer fit)
and `tensor == value` compares identities, which sends tensorflow-compression's GDN to a
slower generic path (`tests/test_entry_points.py`).
"""

import zoo  # noqa: F401
