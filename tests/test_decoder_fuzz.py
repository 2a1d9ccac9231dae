"""Decoder fuzzing: damaged files never crash or hang, and are refused with BitstreamError.

Files whose checksum is recomputed after damage (a hostile, well-formed container)
reach the range decoder itself: it must either refuse them or decode an image of
the declared size, never crash the process. (Such a file is not damaged in transit:
it is a valid file crafted to say something else, which no checksum can tell.)
"""

from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest

import zoo
from tests.conftest import tiny_image_models
from zoo import container


@pytest.mark.parametrize("name", tiny_image_models())
def test_mutated_files_are_rejected(name, odd_image, codec_factory):
    codec = codec_factory(name)
    data = codec.compress(odd_image)
    expected = codec.decompress(data)
    rng = random.Random(name)
    rejected = 0
    trials = 400
    for trial in range(trials):
        buf = bytearray(data)
        if trial % 3 == 0:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif trial % 3 == 1:
            buf = buf[: rng.randrange(len(buf))]
        else:
            buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
        try:
            codec.decompress(bytes(buf))
        except zoo.BitstreamError:
            rejected += 1
    assert rejected == trials
    np.testing.assert_array_equal(codec.decompress(data), expected)


def _rechecksum(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


@pytest.mark.parametrize("name", tiny_image_models())
def test_hostile_well_formed_payloads_reach_the_decoder_safely(name, odd_image, codec_factory):
    codec = codec_factory(name)
    header, payloads = container.unpack(codec.compress(odd_image))
    rng = random.Random(1)
    outcomes = {"refused": 0, "decoded": 0}
    for trial in range(40):
        damaged = []
        for p in payloads:
            p = bytearray(p)
            if p and trial % 2 == 0:
                p[rng.randrange(len(p))] ^= 0xFF
            elif p:
                p = p[: rng.randrange(len(p))]
            damaged.append(bytes(p))
        data = container.pack(header, damaged)
        try:
            image = codec.decompress(data)
            assert image.shape == odd_image.shape and image.dtype == np.uint8
            outcomes["decoded"] += 1
        except zoo.BitstreamError:
            outcomes["refused"] += 1
    assert sum(outcomes.values()) == 40
    # A hostile header declaring a large image over empty payloads: bounded work, and
    # either a refusal or an image of exactly the declared size.
    big = container.Header(header.model, header.metric, header.lmbda, header.fingerprint,
                           512, 768, header.rate)
    try:
        assert codec.decompress(container.pack(big, [b""] * len(payloads))).shape == (512, 768, 3)
    except zoo.BitstreamError:
        pass
