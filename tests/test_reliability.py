"""The reliability suite's quick part (`recipes.reliability`): the CI share of issue 11.

Fast here: hostile images, weights integrity, the watchdog, a few hundred fuzzed files.
Marked slow: kill -9 / resume, a failing checkpoint write, cross-process determinism.
"""

from __future__ import annotations

import io
import math
import time
import warnings

import numpy as np
import pytest
from PIL import Image

import zoo
from recipes import reliability as rel
from zoo import image_io


@pytest.fixture(scope="module")
def worker():
    w = rel.Worker(timeout=120)
    yield w
    w.close()


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """Two tiny families (CI), saved once in a process of their own.

    tests/test_decoder_fuzz.py fuzzes every family in-process; here the same happens
    behind the watchdog, and `test_fuzz_every_family` (slow) covers all of them.
    """
    return _make(tmp_path_factory, ["factorized_tiny", "hyperprior_tiny"])


def _make(tmp_path_factory, names):
    maker = rel.Worker()
    try:
        return rel.make_weights(names, tmp_path_factory.mktemp("w"), maker)
    finally:
        maker.close()


# The PNG writer and hostile images ----------------------------------------------------


def test_png_writer_is_read_by_pillow_as_written():
    rgb = np.random.default_rng(0).integers(0, 256, (13, 17, 3))
    for interlace in (False, True):
        image = Image.open(io.BytesIO(rel.png_bytes(rgb, 2, 8, interlace=interlace)))
        assert image.info.get("interlace", 0) == int(interlace)
        np.testing.assert_array_equal(np.asarray(image), rgb)


def test_hostile_images_follow_the_documented_rules():
    counts = rel.hostile_images(quick=True)
    assert counts["ok"], counts["violations"]
    assert counts["images_tried"] >= 250 and counts["refused"] > 50


def test_sixteen_bit_colour_is_scaled_not_truncated():
    # 0xFF00: Pillow's high byte gives 255, the documented round(v·255/65535) gives 254.
    rgb = np.full((2, 3, 3), 0xFF00)
    out = zoo.read_image(rel.png_bytes(rgb, 2, 16))
    assert (out == 254).all()
    rgba = np.dstack([rgb, np.full((2, 3), 65535)])
    assert (zoo.read_image(rel.png_bytes(rgba, 6, 16, interlace=True)) == 254).all()


def test_truncated_png_is_refused_even_with_complete_pixels():
    data = rel.png_bytes(np.zeros((4, 4, 3)), 2, 8)
    with pytest.raises(zoo.ImageError, match="truncated"):
        zoo.read_image(data[:-12])  # IEND cut: Pillow alone would decode it.


def test_very_large_image_is_refused_from_its_header():
    side = math.isqrt(image_io.MAX_PIXELS) + 1  # 11586² (402 MB of pixels), just above
    data = rel.large_png(side, side)
    started = time.time()
    with pytest.raises(zoo.ImageError, match="are not supported"):
        zoo.read_image(data)
    assert time.time() - started < 2
    # In memory too, checked without touching the pixels (a zero-stride view).
    view = np.broadcast_to(np.zeros(3, np.uint8), (side, side, 3))
    with pytest.raises(zoo.ImageError, match="exceeds"):
        image_io.check_image_array(view)


# Weights ------------------------------------------------------------------------------


@pytest.mark.slow  # ~10 model builds; test_weights_and_cli.py covers the main cases in CI.
def test_damaged_and_mismatched_weights_are_refused(tmp_path):
    counts = rel.weights_integrity(tmp_path)
    assert counts["ok"], counts["accepted"]


# Decoder fuzzing ----------------------------------------------------------------------


def test_watchdog_counts_hangs_and_crashes():
    w = rel.Worker(memory=None, timeout=3)
    try:
        assert w.call("_sleep", 0.01)[0] == "ok"
        assert w.call("_sleep", 30)[0] == "hung"
        assert w.call("_exit", 3)[0] == "crashed"
        assert w.call("_sleep", 0.01)[0] == "ok" and w.restarts == 2
    finally:
        w.close()


def _check_fuzz(counts):
    assert counts["crashed"] == counts["hung"] == counts["wrong_exception"] == 0, counts["failures"]
    assert counts["rejected"] == counts["damaged"] and counts["accepted_damaged"] == 0
    assert counts["exact"] == counts["undamaged"] > 0 and counts["decode_mismatches"] == 0
    assert counts["versions"] and not counts["versions_unwritable"]
    if counts["unloadable"]:  # A weights-naming bug of those families, reported, not hidden.
        warnings.warn(f"families whose saved weights do not load: {counts['unloadable']}",
                      stacklevel=2)


def test_quick_fuzz_behind_the_watchdog(worker, tiny_weights):
    counts = rel.fuzz(worker, tiny_weights, damaged_files=300, hostile_per_case=2)
    _check_fuzz(counts)
    assert counts["files_fuzzed"] >= 300 and counts["ok"]


@pytest.mark.slow
def test_fuzz_every_family(tmp_path_factory):
    weights = _make(tmp_path_factory, rel.image_families())
    w = rel.Worker()
    try:
        counts = rel.fuzz(w, weights, damaged_files=300, hostile_per_case=2)
    finally:
        w.close()
    _check_fuzz(counts)
    assert sorted(counts["families"]) == sorted(rel.image_families())


def test_codec_odd_sizes_round_trip(worker, tiny_weights):
    counts = rel.codec_odd_sizes(worker, tiny_weights["hyperprior_tiny"])
    assert counts["ok"], counts["failures"]


# Heavier: subprocess training runs and cross-process decoding --------------------------


@pytest.mark.slow
def test_checkpoint_write_failure_keeps_previous(tmp_path):
    counts = rel.checkpoint_write_failure(tmp_path)
    assert counts["ok"], counts


@pytest.mark.slow
def test_kill_9_three_times_then_resume(tmp_path):
    counts = rel.kill_resume(3, tmp_path)
    assert counts["ok"], counts


@pytest.mark.slow
def test_decoding_is_deterministic_across_thread_settings(tiny_weights):
    images = sorted(rel.KODAK.glob("kodim*.png"))[:2]
    if not images:
        pytest.skip("Kodak images not found")
    counts = rel.determinism(tiny_weights, images)
    assert counts["ok"], counts["examples"]


@pytest.mark.slow
def test_index_drift_section_runs_in_other_processes(worker, tiny_weights):
    images = sorted(rel.KODAK.glob("kodim*.png"))[:1]
    if not images:
        pytest.skip("Kodak images not found")
    counts = rel.drift(tiny_weights, images, worker)  # factorized has no guard: skipped
    assert counts["ok"], counts
    assert counts["models"] == ["hyperprior_tiny"]
    assert counts["comparisons"] == len(rel.DECODER_SETTINGS)
    assert counts["positions"] > 0 and counts["flips_outside_guard"] == 0
