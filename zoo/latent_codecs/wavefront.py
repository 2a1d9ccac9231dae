"""Shared pieces of the backward-adaptive (context) entropy models: a causally masked
convolution, and the wavefront schedule that runs it on many positions at once.

    raster-causal 5×5 mask (type A)       wavefront step t = 3·i + j of position (i, j)
        ■ ■ ■ ■ ■                          0  1  2  3  4  5  6 ...
        ■ ■ ■ ■ ■                          3  4  5  6  7  8  9 ...
        ■ ■ ◆ · ·                          6  7  8  9 10 11 12 ...
        · · · · ·
        · · · · ·                          ◆ = the position being predicted

Position (i, j) sees rows i−2 and i−1 at columns j−2 … j+2 and (i, j−2), (i, j−1).
Every visible offset (di, dj) has 3·di + dj < 0, so all positions with the same
t = 3·i + j depend only on earlier steps: a decoder needs 3·(H−1) + W steps instead
of H·W. For a k×k kernel the slope is k // 2 + 1.

Encoder and decoder both call `wavefront` with the same shapes, so their floating
point results, and thus the integer scale indexes handed to the range coder, agree
bit for bit; the fast full-tensor convolution (`MaskedConv2D.call`) is for training
only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf


class MaskedConv2D(tf.keras.layers.Layer):
    """k×k convolution that sees only positions earlier in raster order (mask type A).

    Args:
      filters: output channels.
      kernel_size: odd kernel size k.
      input_channels: if given, the layer is built immediately (its variables then
        exist before any tf.function or while loop touches them).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 5,
        input_channels: int | None = None,
        name: str = "context_model",
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        half = self.kernel_size // 2
        #: Visible (row, column) offsets relative to the predicted position, raster order.
        self.taps = [
            (r - half, c - half)
            for r in range(self.kernel_size)
            for c in range(self.kernel_size)
            if r < half or (r == half and c < half)
        ]
        mask = np.zeros([self.kernel_size, self.kernel_size, 1, 1], np.float32)
        for di, dj in self.taps:
            mask[di + half, dj + half] = 1.0
        self._mask = mask
        if input_channels is not None:
            self.build(tf.TensorShape([None, None, None, input_channels]))

    @property
    def slope(self) -> int:
        """Steps between rows in the wavefront schedule: t = slope·i + j."""
        return self.kernel_size // 2 + 1

    def build(self, input_shape) -> None:
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=[k, k, channels, self.filters], initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=[self.filters], initializer="zeros")
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        kernel = self.kernel * tf.constant(self._mask)
        return tf.nn.conv2d(x, kernel, strides=1, padding="SAME") + self.bias

    def tap_kernel(self) -> tf.Tensor:
        """[taps · channels, filters]: the visible weights, in `taps` order."""
        k, half = self.kernel_size, self.kernel_size // 2
        rows = [(di + half) * k + (dj + half) for di, dj in self.taps]
        flat = tf.reshape(self.kernel, [k * k, -1, self.filters])
        return tf.reshape(tf.gather(flat, rows), [-1, self.filters])


def wavefront_schedule(height: tf.Tensor, width: tf.Tensor, slope: int):
    """The coding order of an H×W grid under steps t = slope·i + j.

    Returns:
      (positions [H·W, 2] int32 (row, column) sorted by (t, row); starts [T] and
      counts [T]: the slice of `positions` each step covers; T = slope·(H−1) + W).
    """
    rows = tf.repeat(tf.range(height), width)
    cols = tf.tile(tf.range(width), [height])
    steps = rows * slope + cols
    order = tf.argsort(steps * height + rows, stable=True)
    positions = tf.stack([tf.gather(rows, order), tf.gather(cols, order)], axis=1)
    num_steps = slope * (height - 1) + width
    counts = tf.math.bincount(steps, minlength=num_steps, maxlength=num_steps)
    starts = tf.cumsum(counts, exclusive=True)
    return positions, starts, counts


def gather_positions(tensor: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """[B, H, W, C] at `positions` [n, 2] -> [B, n, C]."""
    return tf.transpose(tf.gather_nd(tf.transpose(tensor, [1, 2, 0, 3]), positions), [1, 0, 2])


ParamsFn = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
QuantizeFn = Callable[[Any, tf.Tensor, tf.Tensor, tf.Tensor], tuple[Any, tf.Tensor]]


def wavefront(
    conv: MaskedConv2D,
    latent_shape: tf.Tensor,
    batch: tf.Tensor,
    channels: int,
    params_fn: ParamsFn,
    quantize_fn: QuantizeFn,
    state: Any,
    dtype: tf.DType = tf.float32,
):
    """Runs an autoregressive model over a latent grid, one wavefront step at a time.

    Args:
      conv: the masked context convolution (applied to already quantized latents).
      latent_shape: [2] int32, the latent grid's height and width.
      batch: number of images B.
      channels: latent channels M.
      params_fn: (context [B, n, F], positions [n, 2]) -> (loc, scale index), each
        [B, n, M], for the n positions of one step.
      quantize_fn: (state, loc, index, positions) -> (state, ŷ [B, n, M]): quantizes
        (encoder) or range decodes (decoder) one step's latents.
      state: anything `quantize_fn` carries from step to step (a decoder handle).
      dtype: of the canvas and the context computation (float64 in portable decoders).

    Returns:
      (ŷ [B, H, W, M], loc and scale index in coding order [B, H·W, M],
      positions [H·W, 2] in coding order, final state).
    """
    height, width = latent_shape[0], latent_shape[1]
    positions, starts, counts = wavefront_schedule(height, width, conv.slope)
    pad = conv.kernel_size // 2
    offsets = tf.constant(conv.taps, tf.int32) + pad
    num_taps = len(conv.taps)
    kernel, bias = tf.cast(conv.tap_kernel(), dtype), tf.cast(conv.bias, dtype)
    # Padded on top, left and right only: the mask never looks further down.
    canvas = tf.zeros(tf.stack([height + pad, width + 2 * pad, batch, channels]), dtype)
    records = [tf.TensorArray(dtype, size=tf.size(counts), infer_shape=False) for _ in "li"]

    def body(step, canvas, state, locs, indexes):
        where = tf.slice(positions, [starts[step], 0], [counts[step], 2])
        n = counts[step]
        patches = tf.gather_nd(canvas, where[:, None, :] + offsets[None])  # [n, taps, B, M]
        patches = tf.reshape(tf.transpose(patches, [2, 0, 1, 3]), [batch * n, num_taps * channels])
        ctx = tf.reshape(tf.matmul(patches, kernel) + bias, [batch, n, conv.filters])
        loc, index = params_fn(ctx, where)
        loc, index = tf.cast(loc, dtype), tf.cast(index, dtype)
        state, y_hat = quantize_fn(state, loc, index, where)
        canvas = tf.tensor_scatter_nd_update(canvas, where + pad, tf.transpose(y_hat, [1, 0, 2]))
        locs = locs.write(step, tf.transpose(loc, [1, 0, 2]))
        indexes = indexes.write(step, tf.transpose(index, [1, 0, 2]))
        return step + 1, canvas, state, locs, indexes

    _, canvas, state, locs, indexes = tf.while_loop(
        lambda step, *_: step < tf.size(counts),
        body,
        (tf.constant(0), canvas, state, *records),
    )
    y_hat = tf.transpose(canvas[pad:, pad : pad + width], [2, 0, 1, 3])
    loc = tf.transpose(locs.concat(), [1, 0, 2])
    index = tf.transpose(indexes.concat(), [1, 0, 2])
    return y_hat, loc, index, positions, state
