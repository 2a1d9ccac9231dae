"""The library's exceptions: every failure a user can cause raises a `ZooError`."""

import re


class ZooError(Exception):
    """Base class of every error the library raises on bad input."""


class RegistryError(ZooError, KeyError):
    """An unknown or duplicate model name."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise.
        return str(self.args[0]) if self.args else ""


class BitstreamError(ZooError):
    """A compressed file is truncated, corrupted, foreign or of an unknown version."""


class ModelMismatchError(BitstreamError):
    """A compressed file was made by another model or other weights than the decoder's."""


class ImageError(ZooError):
    """An input image cannot be read or does not follow the documented rules."""


class WeightsError(ZooError):
    """Weights are missing, tampered with, truncated or do not fit the model."""


class UnsupportedError(ZooError, NotImplementedError):
    """An operation a model family does not offer by design (e.g. a SavedModel of a model
    that codes in numpy); the message names the alternative."""


def op_error_summary(exc: Exception) -> str:
    """The useful line of a TensorFlow error: an assertion's own message if it has one
    (graph errors start with "Graph execution error:" and a node trace)."""
    message = getattr(exc, "message", str(exc))
    found = re.search(r"assertion failed: \[([^\]]*)\]", message)
    if found:
        return found.group(1)
    lines = [line.strip() for line in message.split("\n") if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    if first.startswith("Graph execution error") and len(lines) > 1:
        return lines[-1].split(" [[")[0][:300]
    return first
