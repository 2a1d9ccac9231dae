"""Scale-index guards: decoding that cannot desynchronize on floating-point differences.

Hyperprior-family decoders recompute every latent's entropy-model table index from
floating-point networks: index = floor(s) for a continuous s predicted from decoded side
information (and, in context models, from decoded latents). Encoder and decoder run the
same networks on the same inputs, but another machine, thread count or oneDNN setting may
sum in another order and get s + δ with |δ| ~ 1e-6. Where s lies within |δ| of an
integer, floor(s) differs, the range decoder reads the rest of the string with the wrong
table, and everything after that position decodes to garbage (the "black blocks" users of
learned codecs report).

The guard makes this impossible for any |δ| < `MARGIN`: the encoder lists every position
whose s lies within `MARGIN` of a table boundary together with the index it used, and the
decoder takes those indexes from the list. Every other position has its s at least
`MARGIN` from a boundary on the encoder's side, so the decoder's s + δ floors the same
way. The decoder also checks its own values: an unlisted position closer than MARGIN/2 to
a boundary means its arithmetic differs from the encoder's by more than MARGIN/2, and it
refuses the file (`BitstreamError`) instead of risking a silent desync.

Payload: records of 5 bytes, big-endian u32 position (row-major in coding order over
every guarded index, across steps and slices) and u8 table index, positions increasing.
At MARGIN = 1e-4 a position is listed with probability ~2·1e-4: about 30 records (150
bytes) for a 768×512 image with 96 latent channels.
"""

from __future__ import annotations

import tensorflow as tf

#: Distance (in table-index units) below which the encoder lists a position.
MARGIN = 1e-4
RECORD_BYTES = 5
_BYTES = [bytes([i]) for i in range(256)]


def boundary_distance(scale_index: tf.Tensor, num_scales: int) -> tf.Tensor:
    """Distance of each continuous index to the nearest boundary where floor() changes.

    `coding_indexes` floors s clipped to [0, num_scales - 1]: the boundaries are the
    integers 1 … num_scales - 1 (s below 0 is clipped to row 0, so 0 is no boundary).
    """
    # In the index's own precision (float32 or the portable decoder's float64): near a
    # boundary, s − round(s) is exact in either (Sterbenz), so the comparisons with the
    # margins are those of a float64 computation, at half the memory of a float64 copy.
    s = scale_index if scale_index.dtype == tf.float64 else tf.cast(scale_index, tf.float32)
    nearest = tf.clip_by_value(tf.round(s), 1.0, float(num_scales - 1))
    return tf.abs(s - nearest)


def encode(scale_index: tf.Tensor, indexes: tf.Tensor, num_scales: int) -> tf.Tensor:
    """The guard payload (a scalar string) for flat [n] continuous and integer indexes."""
    near = boundary_distance(scale_index, num_scales) < MARGIN
    positions = tf.cast(tf.where(near)[:, 0], tf.int64)
    values = tf.cast(tf.gather(indexes, positions), tf.int64)
    shifts = tf.constant([24, 16, 8, 0], tf.int64)
    pos_bytes = tf.bitwise.bitwise_and(tf.bitwise.right_shift(positions[:, None], shifts), 255)
    records = tf.concat([pos_bytes, values[:, None]], axis=1)  # [g, 5]
    return tf.strings.reduce_join(tf.gather(tf.constant(_BYTES), tf.reshape(records, [-1])))


def decode(payload: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(positions int64 [g], indexes int32 [g]) from a guard payload; checks its form."""
    raw = tf.cast(tf.io.decode_raw(payload, tf.uint8), tf.int64)
    checks = [
        tf.debugging.assert_equal(
            tf.size(raw) % RECORD_BYTES, 0, message="malformed index guard"
        )
    ]
    with tf.control_dependencies(checks):
        records = tf.reshape(raw, [-1, RECORD_BYTES])
    shifts = tf.constant([24, 16, 8, 0], tf.int64)
    positions = tf.reduce_sum(tf.bitwise.left_shift(records[:, :4], shifts), axis=1)
    increasing = tf.reduce_all(positions[1:] > positions[:-1])
    with tf.control_dependencies(
        [tf.debugging.assert_equal(increasing, True, message="malformed index guard")]
    ):
        return tf.identity(positions), tf.cast(records[:, 4], tf.int32)


def apply(
    indexes: tf.Tensor,
    scale_index: tf.Tensor,
    guard: tuple[tf.Tensor, tf.Tensor],
    start: tf.Tensor | int,
    num_scales: int,
) -> tf.Tensor:
    """The decoder's indexes for flat [n] positions start … start + n − 1.

    Listed positions take the encoder's index; unlisted ones keep the decoder's own floor
    after the margin check (see the module docstring).
    """
    positions, values = guard
    n = tf.size(indexes, out_type=tf.int64)
    start = tf.cast(start, tf.int64)
    inside = (positions >= start) & (positions < start + n)
    local = tf.boolean_mask(positions, inside) - start
    listed = tf.scatter_nd(local[:, None], tf.ones_like(local, tf.bool), [n])
    unlisted_close = tf.logical_and(
        tf.logical_not(listed), boundary_distance(scale_index, num_scales) < MARGIN / 2
    )
    valid = tf.reduce_all((values >= 0) & (values < num_scales))
    checks = [
        tf.debugging.assert_equal(valid, True, message="malformed index guard"),
        tf.debugging.assert_equal(
            tf.reduce_any(unlisted_close),
            False,
            message="decoder arithmetic differs from the encoder's beyond the index guard",
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.tensor_scatter_nd_update(
            indexes, local[:, None], tf.boolean_mask(values, inside)
        )


def check_all_used(guard: tuple[tf.Tensor, tf.Tensor], total: tf.Tensor) -> tf.Tensor:
    """An assertion that every listed position lies inside the `total` guarded indexes."""
    positions, _ = guard
    return tf.debugging.assert_equal(
        tf.reduce_all(positions < tf.cast(total, tf.int64)), True, message="malformed index guard"
    )


def bits(payload: tf.Tensor) -> tf.Tensor:
    """Size of a guard payload in bits (it counts in the encoder's estimate)."""
    return 8.0 * tf.cast(tf.strings.length(payload), tf.float32)
