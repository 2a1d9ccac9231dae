"""One registry of model builders, filled by a decorator in each family module.

    @register_model("hyperprior")
    def hyperprior(**overrides) -> tf.keras.Model: ...

`create_model(name, **overrides)` calls the builder; `list_models(pattern)` lists names.
A duplicate name is an error; an unknown name is an error listing close names.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import RegistryError


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of one name."""

    name: str
    builder: Callable[..., Any]
    family: str
    tiny: bool = False
    defaults: dict = field(default_factory=dict)
    description: str = ""
    #: Training hyper-parameters from the paper (see `zoo.models.base.TrainingDefaults`).
    training: Any = None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    family: str | None = None,
    tiny: bool = False,
    description: str = "",
    training: Any = None,
    **defaults: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `builder` under `name`.

    Args:
      name: the registry name, short and stable.
      family: the family the name belongs to (defaults to `name`); tiny variants name
        their full-size family here.
      tiny: whether this is a small variant for tests.
      description: one line shown by `python -m zoo models`.
      training: the family's training defaults (patch, batch, learning rate, steps).
      **defaults: keyword arguments passed to the builder before the user's overrides.
    """

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise RegistryError(
                f"model name {name!r} is already registered by "
                f"{_REGISTRY[name].builder.__module__}"
            )
        doc = description or (builder.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = ModelSpec(
            name, builder, family or name, tiny, dict(defaults), doc, training
        )
        return builder

    return decorator


def _ensure_loaded() -> None:
    # Importing the families registers them; done lazily to keep `import zoo` cheap.
    import zoo.models  # noqa: F401


def get_spec(name: str) -> ModelSpec:
    """Returns the registry entry for `name`, or raises with close matches."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise RegistryError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_models(pattern: str = "*", include_tiny: bool = True) -> list[str]:
    """Names of the registered models matching the shell-style `pattern`, sorted."""
    _ensure_loaded()
    return sorted(
        n
        for n, spec in _REGISTRY.items()
        if fnmatch.fnmatch(n, pattern) and (include_tiny or not spec.tiny)
    )


def create_model(name: str, **overrides: Any) -> Any:
    """Builds the model registered as `name`; `overrides` replace its defaults."""
    spec = get_spec(name)
    kwargs = {**spec.defaults, **overrides}
    model = spec.builder(**kwargs)
    # Every model remembers how to rebuild itself: the registry name and arguments.
    if hasattr(model, "set_registry_info"):
        model.set_registry_info(name, kwargs)
    return model
