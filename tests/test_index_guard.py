"""The index guard: hyperprior-family decoders cannot desynchronize on small floating-point
differences between encoder and decoder (zoo.index_guard).

The forcing tests give every guarded family the failure a real machine difference causes:
the decoder's continuous scale indexes differ from the encoder's by δ. The continuous
indexes are first spread over the whole table (an untrained tiny model predicts nearly
one value), the same way on both sides, so that many positions lie close to a table
boundary. A naive decoder then reads some latents with the wrong table; the guarded one
decodes exactly, and refuses (rather than decoding garbage) when δ exceeds the margin.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import container, index_guard

GUARDED = ["hyperprior_tiny", "mean_scale_tiny", "joint_tiny", "channelwise_tiny",
           "hierarchical_tiny", "hyperprior_vr_tiny"]
MARGIN = 0.05  # large, so that a tiny image has many listed positions


def _spread(s):
    """Deterministic map of the network's index onto 1 … 61 with well mixed fractions."""
    return 1.0 + 60.0 * tf.math.floormod(s * 997.0, 1.0)


def _perturb(model, delta: float, naive: bool = False) -> None:
    """Spreads the continuous indexes (both sides) and shifts the decoder's by `delta`."""
    cond = model.conditional
    cls = type(cond)
    cond.coding_indexes = lambda s: cls.coding_indexes(cond, _spread(s))
    cond.guard_payload = lambda s: cls.guard_payload(cond, _spread(s))
    if naive:
        cond.guarded_indexes = lambda s, guard, start=0: cls.coding_indexes(
            cond, _spread(s) + delta)
    else:
        cond.guarded_indexes = lambda s, guard, start=0: cls.guarded_indexes(
            cond, _spread(s) + delta, guard, start)
    model._coding_fns = {}  # retrace with the patched functions


@pytest.fixture
def wide_margin(monkeypatch):
    monkeypatch.setattr(index_guard, "MARGIN", MARGIN)


def _image(kodak_image, side=96):
    return np.ascontiguousarray(kodak_image[100 : 100 + side, 200 : 200 + side])


@pytest.mark.parametrize("name", GUARDED)
def test_guarded_decoder_survives_the_perturbation_that_breaks_a_naive_one(
    name, kodak_image, wide_margin
):
    tf.keras.utils.set_random_seed(0)
    codec = zoo.Codec(zoo.create_model(name))
    model = codec.model
    image = _image(kodak_image)
    _perturb(model, 0.0)
    data, reconstruction = codec.compress_with_reconstruction(image)
    guard = container.unpack(data)[1][-1]
    assert len(guard) >= 10 * index_guard.RECORD_BYTES, "too few positions near a boundary"
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)

    # The decoder's indexes are off by 0.4 of the margin: the guarded decoder is exact.
    _perturb(model, 0.4 * MARGIN)
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)
    _perturb(model, -0.4 * MARGIN)
    np.testing.assert_array_equal(codec.decompress(data), reconstruction)

    # The same perturbation breaks a decoder that ignores the guard.
    _perturb(model, 0.4 * MARGIN, naive=True)
    try:
        naive = codec.decompress(data)
    except zoo.BitstreamError:
        pass  # the range decoder noticed
    else:
        assert not np.array_equal(naive, reconstruction)

    # Beyond the margin, the guarded decoder refuses the file instead of guessing.
    _perturb(model, 1.2 * MARGIN)
    with pytest.raises(zoo.BitstreamError, match="index guard"):
        codec.decompress(data)


def test_guard_payload_round_trips_and_malformed_guards_are_refused():
    s = tf.constant([0.5, 3.00001, 7.99995, -2.0, 63.00003, 12.4, 5.99999], tf.float64)
    indexes = tf.cast(tf.floor(tf.clip_by_value(s, 0.0, 63.0)), tf.int32)
    payload = index_guard.encode(s, indexes, 64)
    positions, values = index_guard.decode(payload)
    # Listed: within 1e-4 of the boundaries 1 … 63 (not 0: below it all clip to row 0).
    assert positions.numpy().tolist() == [1, 2, 4, 6]
    assert values.numpy().tolist() == [3, 7, 63, 5]
    assert len(payload.numpy()) == 4 * index_guard.RECORD_BYTES
    shifted = s + tf.constant([0, -2e-5, 2e-5, 0, -4e-5, 0, 2e-5], tf.float64)
    naive = tf.cast(tf.floor(tf.clip_by_value(shifted, 0.0, 63.0)), tf.int32)
    assert naive.numpy().tolist() != indexes.numpy().tolist()
    guarded = index_guard.apply(naive, shifted, (positions, values), 0, 64)
    assert guarded.numpy().tolist() == indexes.numpy().tolist()
    for bad in (payload.numpy()[:-1],  # not whole records
                payload.numpy()[5:10] + payload.numpy()[:5],  # positions not increasing
                b"\x00\x00\x00\x01\xff"):  # index outside the table
        with pytest.raises(tf.errors.InvalidArgumentError, match="index guard"):
            p, v = index_guard.decode(tf.constant(bad))
            index_guard.apply(indexes, s, (p, v), 0, 64)


def test_version_1_files_without_a_guard_still_decode(kodak_image, codec_factory):
    codec = codec_factory("mean_scale_tiny")
    image = _image(kodak_image, 64)  # aligned to the stride: v1 and v3 code the same grid
    data, reconstruction = codec.compress_with_reconstruction(image)
    header, payloads = container.unpack(data)
    assert header.version == container.VERSION and codec.model.index_guarded
    old = container.pack(header, payloads[:-1], version=1)
    np.testing.assert_array_equal(codec.decompress(old), reconstruction)
    with pytest.raises(zoo.BitstreamError, match="payloads"):
        codec.decompress(container.pack(header, payloads[:-1], version=2))
