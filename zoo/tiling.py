"""Transforms of large images in tiles, with the same result as the whole-image computation.

The analysis and synthesis transforms are fully convolutional, so any output position
depends only on a window of the input (the receptive field). `apply` cuts the latent
grid into square tiles of `tile` positions, runs the transform on each tile plus a
`halo` of `halo` positions on every side (clipped at the image's edges), and keeps only
the tile's own part of the output. Where the halo covers the receptive field, that part
is what the whole-image computation gives: the bitstream does not depend on the tiling
and the decoder's pixels are the same, while the transform's activations, which grow
with the image (a 64-channel map at half resolution of a 45 MP photo is 2.9 GB in
float32), are bounded by one tile's.

    latent grid  ┌──────┬──────┬──────┐    each tile reads its own cells plus a halo
                 │  ░░░░░░░░   │      │    (░) and writes back only its own cells;
                 │  ░ t₀ │ t₁░ │      │    tiles run one at a time (tf.while_loop,
                 ├──░────┼───░─┼──────┤    parallel_iterations=1), each using every
                 │  ░░░░░░░░░░ │      │    core, so time is linear in pixels.
                 └──────┴──────┴──────┘

Tiles start on multiples of the transform's stride, which keeps every strided
convolution's sampling grid (and TensorFlow's 'same' padding) aligned with the
whole-image one. An image that fits in one tile runs exactly as before, op for op.
Works in graph mode (the coding tf.functions and the exported SavedModels) and eagerly.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


def apply(
    fn: Callable[[tf.Tensor], tf.Tensor],
    x: tf.Tensor,
    in_unit: int,
    out_unit: int,
    tile: int,
    halo: int,
    dtype: tf.DType = tf.float32,
    on_tile: Callable[[], None] | None = None,
    grid: tf.Tensor | None = None,
    size: tf.Tensor | None = None,
) -> tf.Tensor:
    """Runs `fn` on `x` [B, H, W, C] tile by tile.

    Args:
      fn: maps [B, in_unit·h, in_unit·w, C] to [B, out_unit·h, out_unit·w, C'] for any
        h, w ≥ 1 (a fully convolutional transform).
      x: its input; H and W are multiples of `in_unit` unless `grid` is given.
      in_unit, out_unit: pixels of input and of output per latent position (16 and 1 for
        an analysis transform that downsamples by 16; 1 and 16 for its synthesis).
      tile: tile side, in latent positions.
      halo: latent positions each tile reads beyond its own on every side; at least the
        transform's receptive field (tests/test_tiling.py checks each family's).
      dtype: the dtype `fn` returns.
      on_tile: called (in Python, through `tf.py_function`) after each tile, for a
        progress bar; never in graphs that are exported.
      grid: [rows, cols], the latent grid to cover, when it reaches beyond `x`: each tile
        then reads past x's bottom and right edges as if x were padded by repeating its
        last row and column (`pad_to_stride`'s "replicate"), without a padded copy.
      size: [H', W'] to crop the output to, tile by tile (default: all of it), so that no
        copy of the whole output is cut from a larger one.

    Returns:
      fn(x), computed in tiles when x spans more than one, cropped to `size`.
    """
    if tile < 1 or halo < 0:
        raise ValueError(f"tile must be ≥ 1 and halo ≥ 0, got {tile} and {halo}")
    static = x.shape
    if (grid is None and size is None and static[1] is not None and static[2] is not None
            and max(static[1], static[2]) <= tile * in_unit):
        return fn(x)  # one tile (e.g. training crops): the plain call
    shape = tf.shape(x)
    if grid is None:
        grid = tf.stack([shape[1] // in_unit, shape[2] // in_unit])
    rows, cols = grid[0], grid[1]
    if size is None:
        size = grid * out_unit
    # Tiles whose own cells lie wholly outside `size` are not run at all.
    own = tf.minimum(grid, (size + out_unit - 1) // out_unit)
    num_rows, num_cols = (own[0] + tile - 1) // tile, (own[1] + tile - 1) // tile
    channels = {}  # the output's static channel count, seen while tracing

    def span(index, size):
        """(start, end) of tile `index`'s own cells and of the cells it reads."""
        start = index * tile
        end = tf.minimum(start + tile, size)
        return start, end, tf.maximum(start - halo, 0), tf.minimum(end + halo, size)

    def piece(i, j):
        r0, r1, e0, e1 = span(i, rows)
        c0, c1, f0, f1 = span(j, cols)
        out = fn(_read(x, shape, e0 * in_unit, e1 * in_unit, f0 * in_unit, f1 * in_unit))
        channels["out"] = out.shape[-1]
        top, left = (r0 - e0) * out_unit, (c0 - f0) * out_unit
        bottom = top + tf.minimum(r1 * out_unit, size[0]) - r0 * out_unit
        right = left + tf.minimum(c1 * out_unit, size[1]) - c0 * out_unit
        return tf.transpose(out[:, top:bottom, left:right, :], [2, 0, 1, 3])  # concat: axis 0

    def tile_row(i):
        def body(j, pieces):
            out = piece(i, j)
            if on_tile is not None:
                with tf.control_dependencies([out]):
                    out = tf.identity(out)
                    tf.py_function(lambda: on_tile() or 0, [], tf.int32)
            return j + 1, pieces.write(j, out)

        pieces = tf.TensorArray(dtype, size=num_cols, infer_shape=False)
        _, pieces = tf.while_loop(lambda j, _: j < num_cols, body, (0, pieces),
                                  parallel_iterations=1)
        return tf.transpose(pieces.concat(), [2, 1, 0, 3])  # [W, B, h, C] -> [h, B, W, C]

    def body(i, strips):
        return i + 1, strips.write(i, tile_row(i))

    strips = tf.TensorArray(dtype, size=num_rows, infer_shape=False)
    _, strips = tf.while_loop(lambda i, _: i < num_rows, body, (0, strips),
                              parallel_iterations=1)
    out = tf.transpose(strips.concat(), [1, 0, 2, 3])
    out.set_shape([x.shape[0], None, None, channels.get("out")])
    return out


def _read(x, shape, r0, r1, c0, c1):
    """x[:, r0:r1, c0:c1, :], reading rows and columns past x's edges as its last ones."""
    top, left = tf.minimum(r0, shape[1] - 1), tf.minimum(c0, shape[2] - 1)
    block = x[:, top : tf.minimum(r1, shape[1]), left : tf.minimum(c1, shape[2]), :]
    rows = tf.minimum(tf.range(r0, r1), shape[1] - 1) - top
    cols = tf.minimum(tf.range(c0, c1), shape[2] - 1) - left
    return tf.gather(tf.gather(block, rows, axis=1), cols, axis=2)


def count(shape, in_unit: int, tile: int) -> int:
    """How many tiles `apply` runs for an input of spatial size `shape` (H, W)."""
    rows, cols = (-(-int(v) // in_unit) for v in shape)
    return (-(-rows // tile)) * (-(-cols // tile))

