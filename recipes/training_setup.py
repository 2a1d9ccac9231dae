"""Precision, threads and learning-rate schedule of a training run (`recipes.trainer`).

    choose_precision  float32, or mixed_bfloat16 where the CPU (AMX/AVX-512 BF16) or GPU
                      (compute capability ≥ 8.0) computes bfloat16 natively
    configure_threads intra-/inter-op threads before TensorFlow starts its pools
    cpu_replicas      how many single-threaded replicas one run splits a CPU host into
    make_schedule     published (constant, ×0.1 at decay_at), cpu (`CPU_RECIPE`),
                      constant, step or cosine, each after a linear warm-up
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tensorflow as tf
from absl import logging

if TYPE_CHECKING:
    from recipes.trainer import TrainConfig

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
#: Linux /proc/cpuinfo flags of CPUs with native bfloat16 arithmetic (Intel AMX, AVX-512
#: BF16 on Cooper Lake / Sapphire Rapids, AMD Zen 4+).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
SCHEDULES = ("published", "cpu", "constant", "step", "cosine")
#: Cosine decay ends at this fraction of the peak learning rate, at num_steps.
COSINE_FINAL_FACTOR = 0.01
#: With a time budget, the step decay (×0.1) comes at this fraction of it.
TIME_STEP_DECAY_AT = 0.8


@dataclass(frozen=True)
class CpuRecipe:
    """`--schedule=cpu`: a recipe for short runs on CPUs. Explicit flags override each value.

    The winner of the fixed-wall-clock study of results/cpu_recipe/ (eight arms of 480 s
    each, real files on Kodak and natural-size crops): peak 1e-3 after 500 warm-up steps,
    cosine decay, clipping at 1.0. Give the run `--time_budget` so that the decay spans
    the time it has, or `--num_steps` for a step count.
    """

    learning_rate: float = 1e-3
    warmup_steps: int = 500
    decay: str = "cosine"  # one of "constant", "step", "cosine"
    clip_norm: float = 1.0


CPU_RECIPE = CpuRecipe()


# Schedules -------------------------------------------------------------------------------


class WarmupDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then a constant, step or cosine decay; a function of the 0-based step.

      warm-up   step < W:  lr · (step + 1) / W
      constant            lr
      step                lr while step ≤ decay_step, then lr · 0.1 (as PiecewiseConstantDecay)
      cosine              lr · (f + (1 − f) · ½ (1 + cos π·p)),  p = (step − W) / (N − W)
                          clipped to [0, 1]; f = COSINE_FINAL_FACTOR, N = num_steps

    With a time budget T (`--time_budget`), p = t / T for the run's training wall time t
    (seconds) and the step decay comes at t > 0.8 T: a run of fixed wall-clock length
    decays fully whatever its speed.
    """

    def __init__(self, kind: str, learning_rate: float, num_steps: int, warmup_steps: int = 0,
                 decay_step: int | None = None, final_factor: float = COSINE_FINAL_FACTOR,
                 clock: tf.Variable | None = None, time_budget: float = 0.0):
        if kind not in ("constant", "step", "cosine"):
            raise ValueError(f"unknown decay {kind!r}")
        if (clock is None) != (time_budget <= 0):
            raise ValueError("a time budget needs a clock variable and a clock needs a budget")
        #: With a time budget, the decay follows the run's training wall time (`clock`,
        #: seconds) instead of its steps: cosine over p = clock / time_budget, the
        #: step decay at 80 % of the budget. The warm-up stays in steps.
        self.clock = clock
        self.time_budget = float(time_budget)
        self.kind = kind
        self.learning_rate = float(learning_rate)
        self.num_steps = int(num_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay_step = int(decay_step if decay_step is not None else num_steps)
        self.final_factor = float(final_factor)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        lr = tf.constant(self.learning_rate, tf.float32)
        if self.clock is not None:
            elapsed = tf.cast(self.clock, tf.float32) / self.time_budget
        if self.kind == "constant":
            value = lr
        elif self.kind == "step":
            late = (elapsed > TIME_STEP_DECAY_AT if self.clock is not None
                    else step > self.decay_step)
            value = tf.where(late, tf.constant(self.learning_rate * 0.1), lr)
        else:
            span = float(max(1, self.num_steps - self.warmup_steps))
            progress = tf.clip_by_value(
                elapsed if self.clock is not None else (step - self.warmup_steps) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
            value = lr * (self.final_factor + (1.0 - self.final_factor) * cosine)
        if self.warmup_steps > 0:
            ramp = lr * (step + 1.0) / float(self.warmup_steps)
            value = tf.where(step < self.warmup_steps, ramp, value)
        return value

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "learning_rate": self.learning_rate,
                "num_steps": self.num_steps, "warmup_steps": self.warmup_steps,
                "decay_step": self.decay_step, "final_factor": self.final_factor,
                "time_budget": self.time_budget}


def schedule_decay(config: TrainConfig) -> str:
    """The decay shape a config's schedule name stands for."""
    return {"published": "step", "cpu": CPU_RECIPE.decay}.get(config.schedule, config.schedule)


def make_schedule(config: TrainConfig, clock: tf.Variable | None = None,
                  ) -> tf.keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate as a function of the optimizer's step (0-based), or with
    `config.time_budget` of the training wall time `clock` (seconds, a variable)."""
    if config.schedule == "published":
        # Exactly the schedule runs had before --schedule existed.
        return tf.keras.optimizers.schedules.PiecewiseConstantDecay(
            [config.decay_step], [config.learning_rate, config.learning_rate * 0.1])
    timed = config.time_budget > 0
    return WarmupDecay(schedule_decay(config), config.learning_rate, config.num_steps,
                       config.warmup_steps, decay_step=config.decay_step,
                       clock=clock if timed else None, time_budget=config.time_budget)


def schedule_record(config: TrainConfig) -> dict[str, Any]:
    """What training_log.json says about the schedule and the optimizer."""
    decay = schedule_decay(config)
    record: dict[str, Any] = {
        "name": config.schedule, "decay": decay, "learning_rate": config.learning_rate,
        "warmup_steps": config.warmup_steps,
    }
    if config.time_budget > 0:
        record["time_budget_seconds"] = config.time_budget
    if decay == "step":
        record["decay_step"] = config.decay_step
    if decay == "cosine":
        record["final_learning_rate"] = config.learning_rate * COSINE_FINAL_FACTOR
    if config.schedule == "cpu":
        record["recipe"] = dataclasses.asdict(CPU_RECIPE)
    return record


# Precision and threads -------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionChoice:
    """The Keras dtype policy a run trains its model under, and why."""

    policy: str  # "float32" or "mixed_bfloat16"
    requested: str  # one of PRECISIONS
    reason: str


def read_cpuinfo() -> str | None:
    """/proc/cpuinfo's text (None where there is none: not Linux)."""
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None


def cpu_bf16_flags(cpuinfo: str) -> list[str]:
    """Which of BF16_CPU_FLAGS the first processor's `flags` line of /proc/cpuinfo lists."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            present = set(value.split())
            return [flag for flag in BF16_CPU_FLAGS if flag in present]
    return []


def strategy_device(strategy: tf.distribute.Strategy) -> str:
    """"TPU", "GPU" or "CPU": what the strategy's replicas run on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "TPU"
    try:
        devices = " ".join(strategy.extended.worker_devices).upper()
    except RuntimeError:  # the default strategy: ops go where TensorFlow places them
        devices = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    if "TPU" in devices:
        return "TPU"
    return "GPU" if "GPU" in devices else "CPU"


def gpu_capability() -> tuple[int, int] | None:
    """Compute capability of the first GPU, when TensorFlow reports it."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    try:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    except (ValueError, RuntimeError):
        return None
    return tuple(capability) if capability else None


def choose_precision(requested: str = "auto", device: str = "CPU", cpuinfo: str | None = None,
                     capability: tuple[int, int] | None = None) -> PrecisionChoice:
    """Resolves --precision; `auto` takes mixed_bfloat16 only where bfloat16 is native.

    Args:
      requested: one of PRECISIONS.
      device: "CPU", "GPU" or "TPU" (`strategy_device`).
      cpuinfo: /proc/cpuinfo's text (None: unknown, e.g. not Linux).
      capability: a GPU's compute capability, if known (bfloat16 is native from 8.0).
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if device == "TPU":
        native, why = True, "TPU: bfloat16 is native"
    elif device == "GPU":
        if capability is not None and tuple(capability) < (8, 0):
            native, why = False, (f"GPU of compute capability {capability[0]}.{capability[1]}: "
                                  "no native bfloat16 before 8.0")
        else:
            native, why = True, "GPU: bfloat16 is native" + (
                f" (compute capability {capability[0]}.{capability[1]})" if capability else "")
    elif cpuinfo is None:
        native, why = False, "CPU flags unknown (no /proc/cpuinfo)"
    else:
        found = cpu_bf16_flags(cpuinfo)
        native = bool(found)
        why = (f"CPU has {', '.join(found)}" if found else
               f"CPU has neither {' nor '.join(BF16_CPU_FLAGS)}: bfloat16 would be emulated")
    if requested == "auto":
        return PrecisionChoice("mixed_bfloat16" if native else "float32", "auto", why)
    if requested == "mixed_bfloat16" and not native:
        why += " (expect it slower than float32)"
    return PrecisionChoice(requested, requested, f"requested; {why}")


@contextlib.contextmanager
def keras_policy(name: str):
    """The global Keras dtype policy `name` inside the block, the previous one after it."""
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: Cores of the CPU hosts on which `cpu_replicas` splits a run by default: measured on 2
#: cores (results/cpu_recipe/README.md, "Threads and processes"), where two single-threaded
#: replicas under MirroredStrategy train 15 % faster than one process with TensorFlow's
#: own thread pools. Larger hosts keep TensorFlow's pools (not measured here).
SPLIT_CORES = (2,)


def cpu_replicas(requested: int | None, *, strategy: str, batchsize: int, smoke: bool,
                 intra_op_threads: int, inter_op_threads: int, cores: int,
                 accelerators: bool, cluster: bool) -> tuple[int, str]:
    """The logical CPU devices a run splits the host into (`distribute.split_cpu`), and why.

    `requested` (--cpu_devices) wins when given. Otherwise (auto) a run is split into one
    single-threaded replica per core on a host of SPLIT_CORES cores when nothing else
    decides the devices: no accelerator, no multi-worker cluster, --strategy auto or
    mirrored, no thread settings of its own (two trainings side by side pass
    --intra_op_threads=1 each), a batch that divides evenly, and not a --smoke run.
    """
    if requested is not None:
        if requested < 1:
            raise ValueError("--cpu_devices must be ≥ 1")
        return requested, "requested"
    reasons = [
        (accelerators, "an accelerator is present"),
        (cluster, "a multi-worker cluster"),
        (strategy not in ("auto", "mirrored"), f"--strategy={strategy}"),
        (bool(intra_op_threads or inter_op_threads), "thread counts were given"),
        (smoke, "a smoke run"),
        (cores not in SPLIT_CORES, f"{cores} cores (split only on {SPLIT_CORES})"),
        (batchsize % max(cores, 1) != 0, f"batch {batchsize} does not split over {cores}"),
    ]
    for applies, why in reasons:
        if applies:
            return 1, f"one device: {why}"
    return cores, f"{cores} single-threaded replicas (mirrored) on a {cores}-core CPU host"


def configure_threads(intra_op: int = 0, inter_op: int = 0) -> dict[str, Any]:
    """Applies tf.config.threading settings (0 keeps the current one); returns them.

    Must run before TensorFlow executes its first op. Setting a value the runtime already
    has is a no-op; another one, once the runtime runs, cannot be applied: logged and
    recorded as `applied: False`.
    """
    if intra_op < 0 or inter_op < 0:
        raise ValueError("thread counts must be ≥ 0 (0: TensorFlow's default)")
    applied = True
    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError as exc:
        applied = False
        logging.warning("Thread settings not applied (%s): the TensorFlow runtime already runs.", exc)
    cores = available_cores()
    return {
        "intra_op_threads": intra_op, "inter_op_threads": inter_op, "applied": applied,
        # What TensorFlow uses (0 = its default: one thread per core for both pools).
        "effective_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "effective_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "cpu_cores_available": cores,
    }
