"""Context models (`joint`, `channelwise`): masked convolution, wavefront, training, coding.

The tiny variants get weights that make their latents informative (analysis output
scaled up, scale indexes moved into the table's middle): untrained models code
almost only zeros, which would hide an encoder/decoder desynchronisation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo.weights
from zoo import container
from zoo.errors import BitstreamError, ModelMismatchError
from zoo.latent_codecs import wavefront as context

NAMES = ("joint_tiny", "channelwise_tiny")
ROOT = Path(__file__).resolve().parents[1]


def make_informative(model) -> None:
    """Moves an untrained model's latents and scales to where real models have them."""
    if not model.built:
        model(tf.zeros([1, 32, 32, 3]), training=False)
    last = model.analysis.layers[-1]
    last.kernel.assign(last.kernel * 30.0)
    if hasattr(model.latent_codec, "entropy_parameters"):
        bias = model.latent_codec.entropy_parameters.layers[-1].bias
        m = model.num_latents
        bias.assign(tf.concat([bias[:m], bias[m:] + 25.0], 0))
    else:
        for transform in model.latent_codec.scale_transforms:
            transform.layers[-1].bias.assign_add(tf.fill(transform.layers[-1].bias.shape, 25.0))


_CODECS: dict = {}


def codec_for(name: str) -> zoo.Codec:
    if name not in _CODECS:
        tf.keras.utils.set_random_seed(7)  # Keras initializers seed from Python random
        model = zoo.create_model(name)
        make_informative(model)
        _CODECS[name] = zoo.Codec(model)
    return _CODECS[name]


def test_registered_with_their_families():
    assert {"joint", "joint_tiny", "channelwise", "channelwise_tiny"} <= set(zoo.list_models())
    assert set(zoo.list_models(include_tiny=False)) >= {"joint", "channelwise"}
    spec = zoo.registry.get_spec("channelwise_tiny")
    assert spec.tiny and spec.family == "channelwise"
    model = zoo.create_model("joint_tiny")
    assert model.builder_config == {"name": "joint_tiny", "kwargs": {}}
    # The paper's entropy-parameters widths scale with M: 10M/3, 8M/3, 2M.
    parameters = model.latent_codec.entropy_parameters
    assert [layer.units for layer in parameters.layers[::2]] == [40, 32, 24]


def test_masked_convolution_sees_only_earlier_positions():
    conv = context.MaskedConv2D(4, 5, input_channels=3)
    conv.kernel.assign(tf.random.normal(conv.kernel.shape, seed=3))
    base = tf.random.normal([1, 9, 11, 3], seed=4)
    i, j = 4, 5
    bumped = tf.tensor_scatter_nd_add(base, [[0, i, j]], [tf.ones([3])])
    changed = tf.reduce_any(tf.abs(conv(bumped) - conv(base)) > 1e-6, axis=-1)[0].numpy()
    rows, cols = np.nonzero(changed)
    assert len(rows) == 12, "a position reaches 12 later neighbours under a 5×5 mask"
    assert all((r, c) > (i, j) for r, c in zip(rows, cols)), "the mask leaks the future"
    assert changed[i, j + 1] and changed[i + 2, j - 2] and changed[i + 1, j + 2]


def test_wavefront_computes_the_same_context_as_the_convolution():
    conv = context.MaskedConv2D(6, 5, input_channels=6)
    conv.kernel.assign(tf.random.normal(conv.kernel.shape, seed=5))
    conv.bias.assign(tf.random.normal([6], seed=6))
    y_hat = tf.round(3 * tf.random.normal([2, 7, 10, 6], seed=7))
    seen_steps = []

    def params_fn(ctx, positions):
        seen_steps.append(1)
        return ctx, ctx

    def quantize_fn(state, loc, index, positions):
        return state, context.gather_positions(y_hat, positions)

    out, ctx, _, positions, _ = context.wavefront(
        conv, tf.constant([7, 10]), tf.constant(2), 6, params_fn, quantize_fn, ()
    )
    np.testing.assert_array_equal(out.numpy(), y_hat.numpy())
    expected = context.gather_positions(conv(y_hat), positions)
    np.testing.assert_allclose(ctx.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    _, _, counts = context.wavefront_schedule(7, 10, conv.slope)
    assert len(counts) == 3 * 6 + 10 and int(tf.reduce_sum(counts)) == 70


@pytest.mark.parametrize("name", NAMES)
def test_training_step_and_evaluation(name):
    model = zoo.create_model(name)
    x = tf.random.uniform([2, 32, 48, 3], 0, 255, seed=1)
    with tf.GradientTape() as tape:
        out = model.rd_losses(x, training=True)
        loss = tf.reduce_mean(out["loss"])
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss)) and out["x_hat"].shape == x.shape
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    # The backward-adaptive part (context model; slice 1's use of slice 0) learns from the rate.
    if name.startswith("joint"):
        backward = model.context_model.trainable_variables
    else:
        backward = model.latent_codec.scale_transforms[1].trainable_variables
    found = {id(v) for v in backward}
    used = [g for g, v in zip(grads, model.trainable_variables) if id(v) in found]
    assert len(used) == len(backward) and all(float(tf.reduce_max(tf.abs(g))) > 0 for g in used)
    evaluated = model.rd_losses(x, training=False)
    assert np.all(np.isfinite(evaluated["loss"].numpy()))


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_bit_exact_and_equal_to_the_encoders_reconstruction(name, odd_image):
    codec = codec_for(name)
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    decoded = codec.decompress(data)
    assert decoded.shape == odd_image.shape
    np.testing.assert_array_equal(decoded, reconstruction)
    assert codec.compress(odd_image) == data
    # The encoder's own quantization (no range decoding at all) gives the same image.
    forward = tf.function(lambda x: codec.model.forward_any_size(x, training=False)[0])
    x_hat = forward(tf.constant(odd_image, tf.float32)[None]).numpy()[0, :37, :53]
    np.testing.assert_array_equal(np.round(np.clip(x_hat, 0, 255)).astype(np.uint8), decoded)
    # Informative latents: the decoder had real symbols to get right.
    assert len(container.unpack(data)[1][0]) > 50


@pytest.mark.parametrize("name", NAMES)
def test_file_size_close_to_estimate(name, odd_image):
    codec = codec_for(name)
    _, payloads = container.unpack(codec.compress(odd_image))
    actual = 8 * sum(len(p) for p in payloads)
    estimate = codec.estimate_bits(odd_image)
    # Untrained latents have heavier tails than the Gaussian, and the coder's escape
    # codes are cheaper than Gaussian tails: files come out a few percent smaller.
    assert 0.85 * estimate <= actual <= 1.02 * estimate + 32 * len(payloads), (actual, estimate)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_zoo_errors(name, odd_image):
    codec = codec_for(name)
    data = codec.compress(odd_image)
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0x40
    with pytest.raises(BitstreamError):
        codec.decompress(bytes(damaged))
    header, payloads = container.unpack(data)
    with pytest.raises(BitstreamError):
        codec.decompress(container.pack(header, payloads[:1]))
    other = codec_for(NAMES[1 - NAMES.index(name)])
    with pytest.raises(ModelMismatchError):
        other.decompress(data)
    with pytest.raises(zoo.errors.ImageError):
        codec.compress(odd_image[..., :2])


# Both processes load the same saved weights (coding tables included); they share nothing else.
_ENCODE = """
import numpy as np, zoo
image = np.load("image.npy")
for name in {names!r}:
    data, rec = zoo.load(f"{{name}}.npz").compress_with_reconstruction(image)
    open(f"{{name}}.bin", "wb").write(data)
    np.save(f"{{name}}_rec.npy", rec)
"""

_DECODE = """
import numpy as np, zoo
for name in {names!r}:
    codec = zoo.load(f"{{name}}.npz")
    np.save(f"{{name}}_dec.npy", codec.decompress(open(f"{{name}}.bin", "rb").read()))
"""


def test_encoder_and_decoder_processes_agree(tmp_path, odd_image):
    """Encodes in one process and decodes in another, both from the same weights file."""
    np.save(tmp_path / "image.npy", odd_image)
    for name in NAMES:
        zoo.weights.save(codec_for(name).model, tmp_path / f"{name}.npz")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for script in (_ENCODE, _DECODE):
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script.format(names=NAMES))],
            cwd=tmp_path,
            env=env,
            check=True,
            timeout=300,
        )
    for name in NAMES:
        decoded = np.load(tmp_path / f"{name}_dec.npy")
        np.testing.assert_array_equal(decoded, np.load(tmp_path / f"{name}_rec.npy"))
        assert decoded.shape == odd_image.shape


@pytest.mark.parametrize("name", NAMES)
def test_codec_servable_exports_and_is_bit_exact(name, odd_image, tmp_path):
    """export.saved_model writes the codec servable (the transform one needs integer
    latents decodable in one shot, which sequential context decoding is not)."""
    from export import saved_model, servables

    codec = codec_for(name)
    saved_model.export(codec.model, tmp_path)
    assert sorted(saved_model.servable_dirs(tmp_path)) == [f"{name}_codec"]
    servables.register_custom_ops()
    loaded = tf.saved_model.load(str(tmp_path / f"{name}_codec" / "1"))
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    _, payloads = container.unpack(data)
    out = loaded.signatures["serving_default"](image=tf.constant(odd_image))
    assert [bytes(s) for s in out["strings"].numpy()] == payloads
    decoded = loaded.signatures["decompress"](
        strings=tf.constant(payloads), shape=tf.constant(odd_image.shape[:2], tf.int32)
    )["image"].numpy()
    np.testing.assert_array_equal(decoded, reconstruction)
