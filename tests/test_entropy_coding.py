"""Real range coding costs what the model's information content says (tfc adapter)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo import tfc_adapter


def test_gaussian_conditional_codes_within_one_percent_of_information_content():
    conditional = tfc_adapter.GaussianConditional()
    conditional.build_coder()
    rng = np.random.default_rng(0)
    shape = (1, 64, 64, 32)
    scale_index = rng.uniform(5, 50, size=shape).astype(np.float32)
    indexes = conditional.coding_indexes(tf.constant(scale_index))
    scales = conditional.scale_fn(tf.cast(indexes, tf.float32)).numpy()
    loc = rng.normal(0, 3, size=shape).astype(np.float32)
    y = (loc + rng.normal(0, 1, size=shape) * scales).astype(np.float32)
    strings = conditional.compress(tf.constant(y), indexes, tf.constant(loc))
    y_hat = np.round(y - loc) + loc
    bits = float(conditional.coded_bits(tf.constant(y_hat), indexes, tf.constant(loc))[0])
    actual = 8 * len(strings.numpy()[0])
    assert abs(actual - bits) / bits < 0.01, (actual, bits)
    decoded = conditional.decompress(strings, indexes, tf.constant(loc)).numpy()
    np.testing.assert_array_equal(decoded, y_hat)


def test_categorical_coding_round_trips_and_costs_the_entropy():
    rng = np.random.default_rng(1)
    pmfs = rng.dirichlet(np.ones(16) * 0.5, size=3)
    which = rng.integers(0, 3, size=20000)
    symbols = np.array([rng.choice(16, p=pmfs[w]) for w in which])
    tables = tfc_adapter.categorical_tables(pmfs)
    data = tfc_adapter.encode_categorical(symbols, which, tables)
    np.testing.assert_array_equal(tfc_adapter.decode_categorical(data, which, tables), symbols)
    information = -np.log2(pmfs[which, symbols]).sum()
    assert abs(8 * len(data) - information) / information < 0.01
