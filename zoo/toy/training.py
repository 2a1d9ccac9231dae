"""SGD on the rate-distortion Lagrangian and its evaluation, for every toy model.

Seed 004 (Ballé et al., "Nonlinear Transform Coding", arXiv:2007.03034) trains all toy
models the same way: fresh source samples every step, Adam, and a learning rate
divided by 10 after 1/2, 3/4 and 7/8 of the steps (eq. 7, 13).

A model only needs `train_loss(x, rng, progress) -> dict` (with a "loss" entry, batch
means) and `rd_terms(x, rng) -> dict` (per-sample "rate", "distortion", "loss" of the
actual, hard-quantized code); it may have `initialize(samples)` for data-dependent
initialization.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from zoo.toy.sources import ToySource


def learning_rate_schedule(learning_rate: float, steps: int):
    """Piecewise constant: ÷10 after 1/2, 3/4 and 7/8 of the steps (as the seed's notebook)."""
    bounds = [steps // 2, 3 * steps // 4, 7 * steps // 8]
    values = [learning_rate * 10.0**-i for i in range(4)]
    return tf.keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)


def train(
    model: tf.keras.Model,
    source: ToySource,
    steps: int = 4000,
    batch_size: int = 1024,
    learning_rate: float = 1e-3,
    seed: int = 0,
    steps_per_call: int = 100,
    progress: bool = True,
    desc: str = "train",
) -> list[float]:
    """Minimizes the model's rate-distortion loss by SGD on fresh samples.

    Args:
      model: a toy model (see the module docstring).
      source: where training samples come from.
      steps: number of SGD steps.
      batch_size: samples per step.
      learning_rate: initial Adam learning rate.
      seed: seeds the sampler and the quantization noise.
      steps_per_call: steps run inside one compiled call (fewer Python round trips).
      progress: show a tqdm progress bar.
      desc: the progress bar's label.

    Returns:
      The loss after every compiled call (one per `steps_per_call` steps).
    """
    rng = tf.random.Generator.from_seed(seed)
    if hasattr(model, "initialize"):
        model.initialize(source.sample(batch_size, rng))
    model.train_loss(source.sample(2, rng), rng, tf.constant(0.0))  # creates variables
    variables = model.trainable_variables
    optimizer = tf.keras.optimizers.Adam(learning_rate_schedule(learning_rate, steps))
    # Variables must exist before the compiled loop, which cannot create them.
    optimizer.build(variables)
    total = tf.constant(float(steps))

    @tf.function
    def run(num_steps):
        loss = tf.constant(0.0)
        for _ in tf.range(num_steps):
            x = source.sample(batch_size, rng)
            fraction = tf.cast(optimizer.iterations, tf.float32) / total
            with tf.GradientTape() as tape:
                loss = model.train_loss(x, rng, fraction)["loss"]
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
        return loss

    losses = []
    with tqdm(total=steps, desc=desc, disable=not progress, leave=False) as bar:
        done = 0
        while done < steps:
            n = min(steps_per_call, steps - done)
            losses.append(float(run(tf.constant(n))))
            done += n
            bar.update(n)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses


def evaluate(
    model: tf.keras.Model,
    source: ToySource,
    num_samples: int = 200_000,
    seed: int = 12345,
    batch_size: int = 50_000,
) -> dict[str, float]:
    """Mean rate (bits), distortion (squared error) and Lagrangian of the actual code.

    The sample seed is fixed, so different models are compared on the same samples.
    """
    rng = tf.random.Generator.from_seed(seed)
    sums: dict[str, float] = {}
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        terms = model.rd_terms(source.sample(n, rng), rng)
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + float(np.sum(value.numpy(), dtype=np.float64))
        done += n
    return {name: total / num_samples for name, total in sums.items()}


def evaluate_on_grid(
    model: tf.keras.Model,
    source: ToySource,
    bounds: tuple[tuple[float, float], ...] | None = None,
    points_per_dim: int | None = None,
    batch_size: int = 50_000,
) -> dict[str, float]:
    """Rate, distortion and Lagrangian integrated against the exact source density.

    Midpoint quadrature on a regular grid: no sampling noise, so small gaps to a
    reference are measurable. Dithered codes still draw one offset per grid point.

    Args:
      model: a toy model.
      source: supplies the density.
      bounds: integration box, one (lo, hi) per dim; defaults to `source.bounds`.
      points_per_dim: grid size; defaults to 100,000 (1-D) or 500 (2-D), where
        doubling it moves the Lagrangian by ~2e-4 bits or less.
      batch_size: grid points per model call.

    Returns:
      The means, and "mass": the source probability inside the box (the means are
      normalized by it).
    """
    bounds = source.bounds if bounds is None else bounds
    if points_per_dim is None:
        points_per_dim = 100_000 if source.dims == 1 else 500
    axes, volume = [], 1.0
    for lo, hi in bounds:
        step = (hi - lo) / points_per_dim
        axes.append(lo + step * (np.arange(points_per_dim) + 0.5))
        volume *= step
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, source.dims)
    weights = source.prob(grid).astype(np.float64) * volume
    rng = tf.random.Generator.from_seed(0)
    sums: dict[str, float] = {}
    for start in range(0, len(grid), batch_size):
        x = tf.constant(grid[start : start + batch_size], tf.float32)
        w = weights[start : start + batch_size]
        for name, value in model.rd_terms(x, rng).items():
            sums[name] = sums.get(name, 0.0) + float(np.dot(w, value.numpy().astype(np.float64)))
    mass = float(weights.sum())
    return {**{name: total / mass for name, total in sums.items()}, "mass": mass}
