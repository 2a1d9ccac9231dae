"""SavedModel export and publishing. Importing the package imports `zoo`, hence
TensorFlow, before any `app.run` entry point here runs (why: `recipes/__init__.py`)."""

import zoo  # noqa: F401
