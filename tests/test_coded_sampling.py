"""Coded sampling (seed 003 §3.4–3.5): shared randomness, exact round trips, rates vs KL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zoo import coded_sampling as cs

SAMPLERS = {
    "rejection": cs.RejectionSampler(),
    "greedy": cs.GreedySampler(),
    "importance": cs.ImportanceSampler(),
}


def _pair(kl_per_dim: float, size: int, seed: int = 0):
    """q = N(μ, σ) with σ = 0.9 and μ set for the wanted KL (bits/dim), against p = N(0, 1)."""
    s = 0.9
    base = -np.log(s) + 0.5 * s * s - 0.5
    mu = np.sqrt(2 * max(kl_per_dim * np.log(2) - base, 0.0))
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size)
    return signs * mu, np.full(size, s), np.zeros(size), np.ones(size)


def _random_pairs(shape, spread: float, seed: int = 0):
    """A non-standard prior and a posterior around it (every sampler standardizes)."""
    rng = np.random.default_rng(seed)
    p_mean, p_std = rng.normal(size=shape), np.exp(0.3 * rng.normal(size=shape))
    q_mean = p_mean + p_std * spread * rng.normal(size=shape)
    q_std = p_std * np.exp(-np.abs(spread * rng.normal(size=shape)))
    return q_mean, q_std, p_mean, p_std


def test_shared_randomness_is_stateless():
    a = cs.shared_rng(7, cs.stream_id(1, 2, 3, 4)).standard_normal(5)
    b = cs.shared_rng(7, cs.stream_id(1, 2, 3, 4)).standard_normal(5)
    c = cs.shared_rng(7, cs.stream_id(1, 2, 3, 5)).standard_normal(5)
    d = cs.shared_rng(8, cs.stream_id(1, 2, 3, 4)).standard_normal(5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, d)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("spread", [0.3, 2.5])
def test_decoder_reproduces_the_encoder_sample(name, spread):
    sampler = SAMPLERS[name]
    q_mean, q_std, p_mean, p_std = _random_pairs((1, 3, 5, 7), spread)
    code, sample = sampler.encode(q_mean, q_std, p_mean, p_std, seed=11, level=1)
    assert sample.shape == p_mean.shape
    data = sampler.pack(code)
    decoded = sampler.decode(sampler.unpack(data, p_mean.size), p_mean, p_std, seed=11, level=1)
    np.testing.assert_array_equal(decoded, sample)
    # Another seed is other shared randomness: another sample.
    other = sampler.decode(sampler.unpack(data, p_mean.size), p_mean, p_std, seed=12, level=1)
    assert not np.array_equal(other, sample)
    # The payload's size is what `code_bits` counts (fixed-width fields or the range coder).
    assert 8 * len(data) <= 1.05 * sampler.code_bits(code) + 64


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_damaged_codes_raise_value_errors(name):
    sampler = SAMPLERS[name]
    q_mean, q_std, p_mean, p_std = _random_pairs((40,), 1.0)
    data = sampler.pack(sampler.encode(q_mean, q_std, p_mean, p_std)[0])
    for bad in (data[: len(data) // 2], data + b"\x01\x02"):
        with pytest.raises(ValueError):
            sampler.unpack(bad, p_mean.size)
    if name != "rejection":
        # Segments must cover the latent exactly. (A range-coded index string read with
        # a wrong length can decode silently; the container's checksum and the header's
        # image size are what protect the rejection payload's length.)
        with pytest.raises(ValueError):
            sampler.unpack(data, p_mean.size + 50)


def test_decoding_in_a_fresh_process_gives_the_same_samples(tmp_path):
    """The integers alone, in a new interpreter, give the same samples (shared randomness).

    The child loads the module by path (numpy and scipy only, no TensorFlow) so the test
    stays fast; the range coding of rejection indices is deterministic TF code, so the
    child receives the rejection code's integers.
    """
    q_mean, q_std, p_mean, p_std = _random_pairs((2, 4, 6), 1.5, seed=3)
    arrays = {"p_mean": p_mean, "p_std": p_std}
    for name, sampler in SAMPLERS.items():
        code, sample = sampler.encode(q_mean, q_std, p_mean, p_std, seed=5, level=2)
        if name == "rejection":
            arrays["rejection_indices"], arrays["rejection_escapes"] = code.indices, code.escapes
        else:
            arrays[f"{name}_data"] = np.frombuffer(sampler.pack(code), np.uint8)
        arrays[f"{name}_sample"] = sample
    np.savez(tmp_path / "codes.npz", **arrays)
    script = textwrap.dedent(
        f"""
        import importlib.util
        import sys
        import numpy as np
        spec = importlib.util.spec_from_file_location(
            "cs", {cs.__file__!r}, submodule_search_locations=[{os.path.dirname(cs.__file__)!r}])
        cs = sys.modules["cs"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cs)
        assert "tensorflow" not in sys.modules
        a = np.load({str(tmp_path / "codes.npz")!r})
        p = (a["p_mean"], a["p_std"])
        out = {{"rejection": cs.RejectionSampler().decode(
            cs.RejectionCode(a["rejection_indices"], a["rejection_escapes"]), *p, seed=5, level=2)}}
        for name, s in (("greedy", cs.GreedySampler()), ("importance", cs.ImportanceSampler())):
            code = s.unpack(a[name + "_data"].tobytes(), a["p_mean"].size)
            out[name] = s.decode(code, *p, seed=5, level=2)
        np.savez({str(tmp_path / "decoded.npz")!r}, **out)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    decoded = np.load(tmp_path / "decoded.npz")
    for name in SAMPLERS:
        np.testing.assert_array_equal(decoded[name], arrays[f"{name}_sample"])


@pytest.mark.parametrize("kl", [0.1, 1.0, 4.0])
def test_rejection_rate_is_within_the_harsha_bound(kl):
    """Per dimension: E[log2 index] ≤ KL + 1 (Harsha et al. 2007) and, with the default
    (universal, not yet fitted) index table, bits ≤ KL + 2·log2(KL + 1) + 1."""
    sampler = cs.RejectionSampler()
    q_mean, q_std, p_mean, p_std = _pair(kl, 3000)
    code, _ = sampler.encode(q_mean, q_std, p_mean, p_std, seed=1)
    kl_dim = float(cs.kl_bits(q_mean, q_std, p_mean, p_std).mean())
    assert abs(kl_dim - kl) < 1e-6
    accepted = code.indices[code.indices < sampler.escape]
    assert np.mean(np.log2(accepted + 1.0)) <= kl + 1.0
    bits = sampler.code_bits(code) / q_mean.size
    assert bits <= kl + 2 * np.log2(kl + 1) + 1.0


def test_rejection_samples_are_exact_even_past_the_budget():
    """At 6 bits/dim many dimensions exhaust 2^8 proposals; the residual draw keeps the
    sample distributed as q (the thesis's "sample the target" would bias it)."""
    sampler = cs.RejectionSampler()
    q_mean, q_std, p_mean, p_std = _pair(6.0, 4000, seed=2)
    code, sample = sampler.encode(q_mean, q_std, p_mean, p_std, seed=2)
    assert code.escapes.size > 200
    z = (sample - q_mean) / q_std
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 0.1


def test_a_fitted_index_table_lowers_the_rate():
    """Most latents of a trained model carry almost no information: the universal table
    spends ~0.85 bits on each at 0.02 bits of KL, the fitted one (§3.5.1) ~0.5."""
    q_mean, q_std, p_mean, p_std = _pair(0.02, 3000)
    universal = cs.RejectionSampler()
    code, _ = universal.encode(q_mean, q_std, p_mean, p_std, seed=4)
    counts = np.bincount(code.indices, minlength=universal.escape + 1)
    fitted = cs.RejectionSampler(index_pmf=cs.smoothed_index_pmf(counts))
    assert fitted.code_bits(code) < 0.7 * universal.code_bits(code)
    assert abs(fitted.pmf()[-1] - 0.01) < 1e-12  # α of §3.5.1 on the escape


@pytest.mark.parametrize("name", ["greedy", "importance"])
@pytest.mark.parametrize("kl", [0.5, 3.0])
def test_group_sampler_rate_is_kl_plus_the_per_group_overhead(name, kl):
    """Rate ≤ KL + 2·log2(KL + 1) + per-group fields (segment size, shard count and up to
    one unfilled index: the O(1) per group of §3.5.3) + 16 bits per outlier + 32."""
    sampler = SAMPLERS[name]
    q_mean, q_std, p_mean, p_std = _pair(kl, 1500, seed=5)
    code, _ = sampler.encode(q_mean, q_std, p_mean, p_std, seed=6)
    total_kl = float(cs.kl_bits(q_mean, q_std, p_mean, p_std).sum())
    groups = int(np.sum(code.segments > 0))
    if name == "greedy":
        per_group = sampler.shard_bits + sampler.max_shards.bit_length()
    else:
        per_group = sampler.index_bits
    per_group += sampler.max_group.bit_length()
    bound = total_kl + 2 * np.log2(total_kl + 1) + groups * per_group + 16 * code.outliers.size + 32
    assert sampler.code_bits(code) <= bound
    # Groups fill their KL budget: not many more groups than KL / budget (+ size caps).
    assert groups <= total_kl / sampler.group_bits * 1.6 + q_mean.size / sampler.max_group + 1


def test_partition_follows_algorithm_3():
    kl = np.array([1.0, 1.0, 30.0, 2.0, 2.0, 2.0, 0.1, 0.1, 0.1])
    segments = cs.partition(kl, outlier_bits=10.0, group_bits=4.0, max_group=2)
    # [1, 1] | outlier | [2, 2] (budget) | [2, 0.1] | [0.1, 0.1] (size cap)
    np.testing.assert_array_equal(segments, [2, 0, 2, 2, 2])


def test_is_gs_scheme_is_importance_on_top_and_greedy_below():
    samplers = cs.scheme_samplers("is-gs")
    assert isinstance(samplers[2], cs.ImportanceSampler)
    assert isinstance(samplers[1], cs.GreedySampler)
    with pytest.raises(ValueError, match="unknown coding scheme"):
        cs.scheme_samplers("quantize")
