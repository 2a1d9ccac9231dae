"""Portable decoding (`zoo.Codec(portable=True)`): every network after entropy decoding
runs in float64, the same file gives the same pixels as the default decoder up to float32
rounding, and the decoder graphs really compute in float64. (That the pixels agree across
processes, thread counts and oneDNN on/off is `recipes.reliability`'s determinism section,
tests/test_reliability.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import conv_dtypes, tiny_image_models
from zoo import layers, tfc_adapter

FAMILIES = tiny_image_models()
GRAPH_FAMILIES = [n for n in FAMILIES if n not in ("ladder_tiny", "vae_tiny")]  # eager coders


@pytest.mark.parametrize("name", FAMILIES)
def test_portable_decoder_agrees_with_the_default_one(name, kodak_image, codec_factory):
    codec = codec_factory(name)
    portable = zoo.Codec(codec.model, portable=True)
    image = np.ascontiguousarray(kodak_image[100:147, 200:259])
    data = codec.compress(image)
    fast, exact = codec.decompress(data), portable.decompress(data)
    assert exact.shape == image.shape and exact.dtype == np.uint8
    assert np.abs(fast.astype(int) - exact).max() <= 1
    np.testing.assert_array_equal(portable.decompress(data), exact)
    assert portable.compress(image) == data  # decoding mode never changes files


@pytest.mark.parametrize("name", GRAPH_FAMILIES)
def test_portable_decoder_graph_runs_its_networks_in_float64(name, codec_factory):
    model = codec_factory(name).model
    convs = conv_dtypes(model.coding_function("decompress_float64"))
    assert convs and all(dtype == tf.float64 for _, dtype in convs), sorted(
        {(op, dtype.name) for op, dtype in convs})


def test_float64_forms_of_gdn_and_dense_match_the_layers():
    """Both GDN forms (simplified and full), IGDN, Dense and LeakyReLU."""
    tf.keras.utils.set_random_seed(1)
    x = tf.random.normal([2, 5, 7, 6])
    for layer in (tfc_adapter.gdn(), tfc_adapter.gdn(inverse=True),
                  tfc_adapter.gdn(full=True), tfc_adapter.gdn(inverse=True, full=True),
                  tf.keras.layers.Dense(4), tf.keras.layers.LeakyReLU(0.2)):
        expected = layer(x).numpy()
        if hasattr(layer, "gamma"):  # move GDN away from its initial identity-like state
            layer.set_weights([w * 1.3 + 0.05 for w in layer.get_weights()])
            expected = layer(x).numpy()
        got = layers.run_float64(layer, x)
        assert got.dtype == tf.float64
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
