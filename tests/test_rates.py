"""`zoo.rates.RateSpec`: every model states its rate parameter, or None."""

import dataclasses
import math

import pytest

import zoo
from zoo.rates import RateSpec


def test_spec_checks_resolves_and_is_frozen():
    spec = RateSpec("lmbda", 0.002, 0.05, default=0.01)
    assert spec.check(0.02) == 0.02 and spec.resolve(None) == 0.01 and spec.bounds == (0.002, 0.05)
    with pytest.raises(ValueError, match=r"λ=0.1 is outside the range of m: λ ∈ \[0.002, 0.05\]"):
        spec.check(0.1, "m")
    for bad in (math.nan, math.inf, "x", None):
        with pytest.raises(ValueError):
            spec.check(bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.low = 0.0
    for low, high, default in ((0.0, 1.0, 0.5), (2.0, 1.0, 1.5), (1.0, 2.0, 3.0), (1.0, 1.0, 1.0)):
        with pytest.raises(ValueError, match="range"):
            RateSpec("beta", low, high, default)


IMAGE_MODELS = [n for n in zoo.list_models() if not n.startswith("toy_")]  # toys code no images


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_every_model_has_a_rate_spec_or_none(name):
    model = zoo.create_model(name)
    spec = model.rate_spec
    assert spec is None or isinstance(spec, RateSpec)
    if spec is None:
        assert model.rate_parameter is None and model.check_rate(None) is None
        with pytest.raises(ValueError, match="fixed-rate"):
            model.check_rate(0.01)
    else:
        assert model.rate_parameter == spec.name
        assert model.check_rate(None) == spec.default
        with pytest.raises(ValueError, match="outside the range"):
            model.check_rate(spec.high * 2)


def test_codec_takes_its_rate_from_the_spec():
    model = zoo.create_model("hyperprior_vr_tiny", lmbda_range=(0.003, 0.03), lmbda=0.01)
    assert zoo.Codec(model).rate == 0.01
    codec = zoo.Codec(model, rate=0.02)
    assert codec.rate == 0.02 and codec.resolve_rate(None) == 0.02 and codec.resolve_rate(0.005) == 0.005
    with pytest.raises(ValueError, match="outside the range"):
        zoo.Codec(model, rate=0.5)
    with pytest.raises(ValueError, match="fixed-rate"):
        zoo.Codec(zoo.create_model("factorized_tiny"), rate=0.01)
