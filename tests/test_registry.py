"""The registry: one decorator, listing, overrides, duplicate and unknown names."""

from __future__ import annotations

import pytest

import zoo
from zoo.registry import get_spec, register_model


def test_lists_and_filters_models():
    names = zoo.list_models()
    assert {"factorized", "hyperprior", "mean_scale"} <= set(names)
    assert names == sorted(names)
    assert zoo.list_models("hyperprior*", include_tiny=False) == ["hyperprior", "hyperprior_vr"]
    assert "hyperprior_tiny" in zoo.list_models("hyper*") and "hyperprior_tiny" not in zoo.list_models("hyper*", include_tiny=False)
    assert get_spec("hyperprior_tiny").family == "hyperprior"
    assert get_spec("hyperprior").training.patchsize == 256


def test_create_model_applies_overrides_and_paper_defaults():
    low = zoo.create_model("hyperprior", lmbda=0.0018)
    high = zoo.create_model("hyperprior", lmbda=0.0932)
    assert low.build_kwargs["lmbda"] == 0.0018
    assert low.analysis.layers[-1].filters == 192  # M = 192 at low rates
    assert high.analysis.layers[-1].filters == 320  # M = 320 at high rates
    custom = zoo.create_model("hyperprior", num_filters=64, num_latents=96, nonlinearity="relu")
    assert custom.analysis.layers[-1].filters == 96
    assert custom.builder_config == {
        "name": "hyperprior",
        "kwargs": {"num_filters": 64, "num_latents": 96, "nonlinearity": "relu"},
    }


def test_duplicate_name_is_an_error():
    with pytest.raises(zoo.RegistryError, match="already registered"):
        register_model("hyperprior")(lambda **kw: None)


def test_unknown_name_lists_close_names():
    with pytest.raises(zoo.RegistryError, match="Did you mean: hyperprior"):
        zoo.create_model("hyperprio")


@pytest.mark.parametrize("option", [{"metric": "psnr"}, {"proxy": "magic"}, {"lmbda": -1.0},
                                    {"nonlinearity": "sigmoid"}])
def test_invalid_options_are_refused(option):
    with pytest.raises(ValueError):
        zoo.create_model("factorized_tiny", **option)


@pytest.mark.parametrize("proxy", ["ste", "soft_round"])
@pytest.mark.parametrize("nonlinearity", ["relu", "swish"])
def test_proxies_and_nonlinearities_train(proxy, nonlinearity):
    import numpy as np
    import tensorflow as tf

    model = zoo.create_model("mean_scale_tiny", proxy=proxy, nonlinearity=nonlinearity,
                             metric="ms-ssim", lmbda=8.73)
    x = tf.random.uniform([1, 32, 32, 3], 0, 255, seed=2)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.rd_losses(x)["loss"])
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss)) and all(g is not None for g in grads)
