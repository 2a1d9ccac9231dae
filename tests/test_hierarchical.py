"""The hierarchical (HCAE, seed 002) family: levels, top-down decoding, rates, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models.hierarchical import HierarchicalModel

from .conftest import conv_dtypes

LEVELS = 4
STRIDES = (2, 1, 2)


def _kodak_batch(kodak_image: np.ndarray, size: int, count: int) -> tf.Tensor:
    crops = [kodak_image[i * 60 : i * 60 + size, i * 90 : i * 90 + size] for i in range(count)]
    return tf.constant(np.stack(crops).astype(np.float32))


@pytest.fixture(scope="module")
def informative() -> HierarchicalModel:
    """A 4-level tiny model whose every level carries symbols.

    Training takes minutes on a shared CPU; for these tests it suffices that latents span
    several quantization steps and the priors predict scales of their size.
    """
    tf.keras.utils.set_random_seed(7)
    model = zoo.create_model("hierarchical_tiny", num_levels=LEVELS, level_strides=STRIDES)
    model.build_coders()
    for posterior in model.posteriors:
        kernel = posterior.trainable_variables[0]
        kernel.assign(kernel * 10.0)
    index = float(model.conditional.index_for_scale(2.0))
    for prior, channels in zip(model.priors, model.latent_channels):
        bias = prior.trainable_variables[-1]  # [μ | scale index] of the last convolution
        bias.assign(tf.concat([bias[:channels], tf.fill([channels], index)], 0))
    return model


def test_level_count_is_configurable_and_latents_have_the_expected_shapes(informative, odd_image):
    assert informative.num_levels == informative.num_payloads - 1 == LEVELS
    x = tf.constant(odd_image[None].astype(np.float32))  # 37 × 53
    strings, bits, latents = informative.encode_levels(x)
    assert len(strings) == len(bits) == len(latents) == LEVELS
    # /16, then the strides 2, 1, 2 (ceilings: any size is coded without padding).
    expected = [(3, 4, 12), (2, 2, 6), (2, 2, 6), (1, 1, 6)]
    assert [tuple(y.shape[1:]) for y in latents] == expected
    assert [tuple(s.numpy()) for s in informative.level_shapes(tf.constant([37, 53]))] == [
        e[:2] for e in expected
    ]


def test_paper_defaults_have_six_levels_and_bad_configurations_are_refused():
    model = zoo.create_model("hierarchical")
    assert model.num_levels == model.num_payloads - 1 == 6
    shapes = [tuple(s.numpy()) for s in model.level_shapes(tf.constant([512, 768]))]
    assert shapes == [(32, 48), (16, 24), (16, 24), (8, 12), (8, 12), (4, 6)]
    with pytest.raises(ValueError, match="num_levels"):
        zoo.create_model("hierarchical_tiny", num_levels=1)
    with pytest.raises(ValueError, match="level_strides"):
        zoo.create_model("hierarchical_tiny", num_levels=3, level_strides=(2,))
    with pytest.raises(ValueError, match="level_strides"):
        zoo.create_model("hierarchical_tiny", num_levels=3, level_strides=(2, 4))


def test_top_down_decoding_reproduces_the_encoders_latents_exactly(informative, kodak_image):
    x = _kodak_batch(kodak_image, 80, 1)[:, :, :71]
    strings, _, encoded = informative.encode_levels(x)
    x_hat, decoded = informative.decode_levels(strings, tf.constant([80, 71]))
    for level, (a, b) in enumerate(zip(encoded, decoded), start=1):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"level {level}")
    assert x_hat.shape[1:3] == (80, 80)
    # Lower levels are coded under priors computed from the levels above: decoding them
    # with another image's top level does not give back the encoder's latents.
    other, _, _ = informative.encode_levels(tf.reverse(x, axis=[1]))
    swapped = [*strings[:-1], other[-1]]
    try:
        _, wrong = informative.decode_levels(swapped, tf.constant([80, 71]))
    except tf.errors.InvalidArgumentError:
        return  # the range decoder noticed
    assert not all(np.array_equal(a, b) for a, b in zip(encoded[:-1], wrong[:-1]))


def test_estimated_and_actual_bits_agree_per_level(informative, kodak_image):
    x = _kodak_batch(kodak_image, 96, 1)
    strings, bits, _ = informative.encode_levels(x)
    total_actual = total_estimate = 0.0
    for level, (s, b) in enumerate(zip(strings, bits), start=1):
        actual, estimate = 8 * len(s.numpy()[0]), float(b[0])
        # A range coder string costs its information content plus a few bytes.
        assert actual <= 1.05 * estimate + 64, f"level {level}: {actual} > {estimate}"
        total_actual += actual
        total_estimate += estimate
        assert estimate > 50, f"level {level} codes nothing"
    # Latents within the priors' range: the strings cost what the model estimates.
    assert 0.95 * total_estimate <= total_actual <= 1.05 * total_estimate + 64 * LEVELS


def test_gradients_reach_every_level(kodak_image):
    model = zoo.create_model("hierarchical_tiny", num_levels=LEVELS, level_strides=STRIDES)
    x = _kodak_batch(kodak_image, 64, 2)
    with tf.GradientTape(persistent=True) as tape:
        out = model.rd_losses(x, training=True)
        loss = tf.reduce_mean(out["loss"])
        rate = tf.reduce_mean(out["bpp"])
    variables = model.trainable_variables
    norms = {}
    for name, target in (("rate", rate), ("loss", loss)):
        for v, g in zip(variables, tape.gradient(target, variables)):
            norms[name, id(v)] = 0.0 if g is None else float(tf.norm(g))

    def reached(name, layer):
        return layer.trainable_variables and all(
            norms[name, id(v)] > 0 for v in layer.trainable_variables
        )

    for level in range(LEVELS):
        # Every level's latent is both paid for (rate) and used (distortion).
        assert reached("rate", model.posteriors[level]), f"rate, level {level + 1}"
        assert reached("loss", model.posteriors[level]), f"loss, level {level + 1}"
    for level in range(LEVELS - 1):
        assert reached("rate", model.priors[level]), f"prior of level {level + 1}"
        for layer in (model.merges[level], model.hyper_analysis[level], model.hyper_synthesis[level]):
            assert reached("loss", layer), layer.name
    assert reached("rate", model.side_entropy_model)
    assert reached("loss", model.top) and reached("loss", model.analysis)


def test_the_export_keeps_the_codec_and_skips_the_transform(informative, tmp_path, capsys):
    from export.saved_model import export
    from export.servables import transform_supported

    assert not transform_supported(informative)
    assert export(informative, tmp_path, kinds=("transform",)) == {}
    assert "no transform servable" in capsys.readouterr().out


def test_float64_top_down_matches_the_keras_layers(informative):
    """The coding path's float64 forms compute what the float32 layers do."""
    from zoo import layers

    rng = np.random.default_rng(0)
    h = tf.constant(rng.normal(size=(1, 5, 7, 8)).astype(np.float32))
    y = tf.constant(rng.normal(size=(1, 5, 7, 12)).astype(np.float32))
    for block in (informative.top, informative.hyper_synthesis[0], informative.priors[0]):
        inputs = h if block is not informative.top else tf.constant(
            rng.normal(size=(1, 5, 7, informative.latent_channels[-1])).astype(np.float32))
        expected = block(inputs).numpy()
        got = layers.run_float64(block, inputs)
        assert got.dtype == tf.float64 and got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)
    merge = informative.merges[0]
    np.testing.assert_allclose(merge.call_float64(tf.cast(h, tf.float64), y[..., :12]).numpy(),
                               merge(h, y[..., :12]).numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError, match="float64"):
        layers.run_float64(tf.keras.layers.BatchNormalization(), h)


def test_coding_graphs_compute_indexes_in_float64(informative, odd_image):
    """Encoder and decoder graphs agree on every table index: their top-down convolutions
    run in float64 (float32 versions differed between the two graphs on trained models)."""
    dtypes = {dtype for _, dtype in conv_dtypes(informative.coding_function("decompress"))}
    assert tf.float64 in dtypes and tf.float32 in dtypes  # top-down float64, synthesis float32
    data = zoo.Codec(informative).compress(odd_image)
    np.testing.assert_array_equal(zoo.Codec(informative).decompress(data),
                                  zoo.Codec(informative).decompress(data))
