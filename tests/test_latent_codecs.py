"""`zoo.latent_codecs`: one `code` method per codec, whose ENCODE and DECODE passes are
the same code; the families built from them keep their weights files' keys."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.latent_codecs import DECODE, ENCODE, TRAIN, Payloads, Step
from zoo.models.latent import LatentCodecModel

FAMILIES = ["factorized_tiny", "hyperprior_tiny", "mean_scale_tiny", "channelwise_tiny",
            "joint_tiny", "hyperprior_vr_tiny", "factorized_vr_tiny", "learned_step_tiny",
            "gdn_fixed_step_tiny", "vq_tiny", "hierarchical_tiny"]


def test_payloads_and_steps_refuse_misuse():
    payloads = Payloads(("y", "z"))
    payloads.put("y", tf.constant(b"a"))
    with pytest.raises(ValueError, match="written twice"):
        payloads.put("y", tf.constant(b"b"))
    with pytest.raises(ValueError, match="never written"):
        payloads.ordered()
    with pytest.raises(ValueError, match="no payload"):
        payloads.get("z")
    with pytest.raises(ValueError, match="strings for the payloads"):
        Payloads(("y", "z"), [tf.constant(b"a")])
    with pytest.raises(ValueError, match="mode"):
        Step("sideways")
    with pytest.raises(ValueError, match="payloads"):
        Step(ENCODE)
    with pytest.raises(ValueError, match="float32 or float64"):
        Step(TRAIN, dtype=tf.float16)


@pytest.mark.parametrize("name", FAMILIES)
def test_decode_step_reproduces_the_encoder_latents(name, odd_image):
    """The codec's ENCODE pass returns the ŷ its DECODE pass rebuilds from the strings,
    and the payloads come out in the codec's layout."""
    model = zoo.create_model(name)
    codec = zoo.Codec(model)  # builds the coding tables
    assert isinstance(model, LatentCodecModel)
    x = tf.constant(odd_image[None], tf.float32)  # 37×53, padded to a 64×80 grid
    x = tf.pad(x, [[0, 0], [0, 64 - 37], [0, 80 - 53], [0, 0]], mode="SYMMETRIC")
    shape = tf.constant([64, 80]) // model.latent_factor
    with model.coding_context(model.rate_tensor(None)):
        y = model.analysis(model.to_unit(x))
        written = Payloads(model.latent_codec.layout)
        y_enc, bits = model.latent_codec.code(model.step(ENCODE, written), y, shape)
        strings = written.ordered()
        read = Payloads(model.latent_codec.layout, strings)
        y_dec, none = model.latent_codec.code(model.step(DECODE, read), None, shape)
    assert none is None and len(strings) == model.num_payloads
    np.testing.assert_array_equal(y_enc.numpy(), y_dec.numpy())
    # The estimate counts the bits the strings actually take (within the coder's overhead).
    actual = 8 * sum(len(s.numpy()) for s in strings)
    assert 0 < float(bits[0]) and actual <= 1.1 * float(bits[0]) + 64 * len(strings)
    # And a file of the model decodes to the same pixels as the encoder expects.
    data, expected = codec.compress_with_reconstruction(odd_image[:37, :53])
    np.testing.assert_array_equal(codec.decompress(data), expected)


@pytest.mark.parametrize("name", ["hyperprior_tiny", "channelwise_tiny", "joint_tiny",
                                  "gdn_fixed_step_tiny"])
def test_a_portable_decode_step_is_float64(name):
    model = zoo.create_model(name)
    zoo.Codec(model)
    x = tf.random.stateless_uniform([1, 64, 64, 3], [3, 4], 0.0, 255.0)
    y = model.analysis(model.to_unit(x))
    shape = tf.constant([4, 4])
    written = Payloads(model.latent_codec.layout)
    model.latent_codec.code(model.step(ENCODE, written), y, shape)
    read = Payloads(model.latent_codec.layout, written.ordered())
    y_hat, _ = model.latent_codec.code(model.step(DECODE, read, dtype=tf.float64), None, shape)
    assert y_hat.dtype == (tf.float32 if name == "hyperprior_tiny" else tf.float64)


def test_latent_codecs_keep_the_families_variable_keys():
    """The keys of the tiny families' legacy weights (written before the latent codecs)
    are the keys of today's models: the weights load unchanged."""
    import pathlib

    from zoo import weights

    legacy = pathlib.Path(__file__).parent / "data" / "legacy"
    files = sorted(legacy.glob("*.weights.npz"))
    # Every family with a latent codec, and the ladder networks (the eager contract).
    assert {p.name.split(".")[0] for p in files} >= {*FAMILIES, "ladder_tiny"}
    for path in files:
        _, arrays = weights.read(path.read_bytes(), str(path))
        model = weights.load(path)
        assert sorted(weights.variable_arrays(model)) == sorted(arrays)


def test_scale_output_forms_start_alike_and_code_alike(odd_image, tmp_path):
    """The hyper synthesis outputs a table index (tensorflow-compression's form, every
    shipped model's) or σ itself (CompressAI's): the same variables, every latent starting
    at σ = `initial_scale`, files that decode to the same pixels in both decoders, and the
    form recorded in the weights."""
    from zoo import weights

    name = "hyperprior_tiny"
    models = {form: zoo.Codec(zoo.create_model(name, scale_output=form)).model
              for form in ("index", "scale")}
    assert ({v.name: v.shape for v in models["index"].variables}
            == {v.name: v.shape for v in models["scale"].variables})
    z = tf.zeros([1, 2, 3, models["index"].hyper_synthesis.layers[0].kernel.shape[-1]])
    for model in models.values():
        for layer in model.hyper_synthesis.layers[:-1]:
            for v in layer.trainable_variables:  # no input: the output is the last bias
                v.assign(tf.zeros_like(v))
        _, index = model.latent_codec.params(model.step(TRAIN), z, tf.constant([8, 12]))
        sigma = model.conditional.scale_fn(index)
        np.testing.assert_allclose(sigma.numpy(), model.initial_scale, rtol=1e-5)

    model = models["scale"]
    weights.save(model, tmp_path / "scale.npz")
    loaded = weights.load(tmp_path / "scale.npz")
    assert loaded.scale_output == "scale"
    codec, portable = zoo.Codec(loaded), zoo.Codec(loaded, portable=True)
    data = codec.compress(odd_image)
    fast, exact = codec.decompress(data), portable.decompress(data)
    assert fast.shape == odd_image.shape
    assert np.abs(fast.astype(int) - exact).max() <= 1
    # An untrained model cannot reproduce the input; the file must give exactly what the
    # model itself makes of the input (rounded latents through the synthesis).
    own = loaded.rd_losses(tf.constant(odd_image[None], tf.float32), training=False)["x_hat"]
    np.testing.assert_array_equal(fast, np.clip(np.round(own[0].numpy()), 0, 255))
    with pytest.raises(ValueError, match="scale_output"):
        zoo.create_model(name, scale_output="log")


def test_side_prior_filters_are_an_option_recorded_in_the_weights(odd_image, tmp_path):
    """CompressAI's EntropyBottleneck has filters (3, 3, 3, 3), tensorflow-compression's
    DeepFactorized (3, 3): the wider density adds variables only when asked for, and the
    weights record it, so that a file decodes to what the model makes of its input."""
    from zoo import weights

    default = zoo.Codec(zoo.create_model("hyperprior_tiny")).model
    wide = zoo.Codec(zoo.create_model("hyperprior_tiny", side_prior_filters=(3, 3, 3, 3))).model
    side = {v.name for v in default.side_entropy_model.trainable_variables}
    wider = {v.name for v in wide.side_entropy_model.trainable_variables}
    assert side < wider and len(wider) - len(side) == 6  # two more layers: matrix, bias, factor
    weights.save(wide, tmp_path / "wide.npz")
    loaded = weights.load(tmp_path / "wide.npz")
    assert [v.name for v in loaded.variables] == [v.name for v in wide.variables]
    data = zoo.Codec(loaded).compress(odd_image)
    decoded = zoo.Codec(loaded).decompress(data)
    own = loaded.rd_losses(tf.constant(odd_image[None], tf.float32), training=False)["x_hat"]
    assert decoded.shape == odd_image.shape
    np.testing.assert_array_equal(decoded, np.clip(np.round(own[0].numpy()), 0, 255))


def test_joint_refuses_the_scale_output_form():
    with pytest.raises(ValueError, match="scale_output='index'"):
        zoo.create_model("joint_tiny", scale_output="scale")
