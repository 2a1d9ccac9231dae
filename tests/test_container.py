"""The container format: exact layout, overhead, and refusal of every damaged file."""

from __future__ import annotations

import random

import pytest

from zoo import container
from zoo.errors import BitstreamError

HEADER = container.Header("hyperprior", "mse", 0.013, bytes(range(8)), 512, 768)


def test_round_trip_and_documented_overhead():
    payloads = [b"y" * 3000, b"z" * 200]
    data = container.pack(HEADER, payloads)
    header, out = container.unpack(data)
    assert header == HEADER and out == payloads
    # 29 + name + metric + varints (2 + 2 for 512×768, 2 + 2 for the payload lengths).
    assert len(data) - 3200 == 29 + len("hyperprior") + len("mse") + 8 == 50


def test_rate_parameter_round_trips():
    header = container.Header("lambda_vr", "mse", 0.01, bytes(8), 3, 5, rate=0.0042)
    assert container.unpack(container.pack(header, [b"a"]))[0] == header


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d[:3], "magic"),
        (lambda d: b"\x89PNG" + d[4:], "magic"),
        (lambda d: d[:4] + b"\x07" + d[5:], "version 7"),
        (lambda d: d[:-1], "checksum"),
        (lambda d: d + b"\0", "checksum"),
        (lambda d: d[:20] + bytes([d[20] ^ 1]) + d[21:], "checksum"),
    ],
)
def test_damage_is_named(mutate, message):
    data = container.pack(HEADER, [b"payload"])
    with pytest.raises(BitstreamError, match=message):
        container.unpack(mutate(data))


def test_fuzzed_headers_never_escape_as_other_exceptions():
    """Thousands of mutations, truncations, extensions and splices: only BitstreamError."""
    rng = random.Random(0)
    data = container.pack(HEADER, [bytes(rng.randrange(256) for _ in range(300)), b"side"])
    other = container.pack(container.Header("factorized", "ms-ssim", 2.4, bytes(8), 7, 9), [b"x"])
    outcomes = {"rejected": 0, "accepted": 0}
    for trial in range(5000):
        buf = bytearray(data)
        kind = trial % 4
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif kind == 1:
            buf = buf[: rng.randrange(len(buf))]
        elif kind == 2:
            buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            cut = rng.randrange(len(buf))
            buf = buf[:cut] + other[rng.randrange(len(other)) :]
        try:
            container.unpack(bytes(buf))
            outcomes["accepted"] += 1
            assert bytes(buf) == data
        except BitstreamError:
            outcomes["rejected"] += 1
    assert outcomes["rejected"] >= 4990
