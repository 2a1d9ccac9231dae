"""A training run's settings: `TrainConfig`, merged from flags and the family's published
defaults by `resolve_config` (`recipes.trainer` re-exports both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recipes.training_setup import CPU_RECIPE, PRECISIONS, SCHEDULES
from zoo import registry

#: What --smoke changes (explicit flags still win).
SMOKE = {
    "num_steps": 10,
    "patchsize": 64,
    "batchsize": 2,
    "checkpoint_every": 5,
    "log_every": 1,
    "data_throughput_batches": 2,
}


@dataclass
class TrainConfig:
    """Everything that determines a run, after flags and family defaults are merged."""

    model: str
    workdir: str
    train_data: str = "clic"
    lmbda: float | None = None
    metric: str | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    num_steps: int = 1_000_000
    batchsize: int = 8
    patchsize: int = 256
    learning_rate: float = 1e-4
    decay_at: float = 0.9
    #: Learning-rate schedule (SCHEDULES): "published" is the family's (constant, then
    #: ×0.1 at decay_at·num_steps); "cpu" is CPU_RECIPE's.
    schedule: str = "published"
    #: Steps of linear warm-up from 0 to learning_rate (not with "published").
    warmup_steps: int = 0
    #: Seconds of training wall time (across resumes, not counting the first, graph-
    #: tracing step of each invocation); > 0 stops the run when they are spent
    #: (num_steps is then a cap) and makes the decay follow time instead of steps.
    time_budget: float = 0.0
    #: This invocation stops (checkpoint and weights written, exit 0) once the run's
    #: training wall time reaches this many seconds; resume with a larger value or none.
    #: For a run that must end with a CPU session, or a curve of quality against time.
    stop_after: float = 0.0
    #: Adam's global_clipnorm: the all-reduced gradient's global norm is clipped to it; 0: off.
    clip_norm: float = 1.0
    #: Adam's ε. Keras' default is 1e-7, PyTorch's (CompressAI's) 1e-8; after clipping a
    #: gradient of global norm ~500 to 1, many components are ~1e-7 and ε would damp them.
    adam_epsilon: float = 1e-7
    #: "auto" (mixed_bfloat16 where bfloat16 is native, else float32), "float32" or
    #: "mixed_bfloat16"; what was used and why is in training_log.json.
    precision: str = "auto"
    #: tf.config.threading settings; 0 keeps TensorFlow's default.
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    #: Image folders whose decoded images fit in this many MB are decoded once and kept in
    #: memory (twice: cache and shuffle buffer); 0: decode every crop's image from its file.
    cache_mb: int = 1024
    strategy: str = "auto"
    #: Logical CPU devices the run split the host into (`training_setup.cpu_replicas`).
    cpu_devices: int = 1
    checkpoint_every: int = 1000
    log_every: int = 100
    image_every: int = 5000
    seed: int = 0
    smoke: bool = False
    data_throughput_batches: int = 10
    debug_inject_nan_at_step: int | None = None
    #: Weights artifact to start from (same architecture; λ may differ): fine-tuning a
    #: trained model to a new λ costs a fraction of training from scratch.
    init_from: str | None = None
    defaults_source: str = ""

    def model_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.model_overrides)
        if self.lmbda is not None:
            kwargs["lmbda"] = self.lmbda
        if self.metric is not None:
            kwargs["metric"] = self.metric
        return kwargs

    @property
    def decay_step(self) -> int:
        return max(1, int(round(self.decay_at * self.num_steps)))


def resolve_config(model: str, workdir: str, smoke: bool = False, **given: Any) -> TrainConfig:
    """Merges flags with the family's published defaults (`get_spec(model).training`).

    Args:
      model: registry name. With `smoke`, its `_tiny` variant is used when one exists.
      workdir: the run's directory.
      smoke: shrink steps, patches and batch (and the model) for a quick check.
      **given: TrainConfig fields; None means "not set" and falls back to defaults.
    """
    spec = registry.get_spec(model)
    if smoke and not spec.tiny and f"{model}_tiny" in registry.list_models():
        model = f"{model}_tiny"
        spec = registry.get_spec(model)
    values: dict[str, Any] = {}
    if spec.training is not None:
        for name in ("patchsize", "batchsize", "learning_rate", "num_steps", "decay_at"):
            values[name] = getattr(spec.training, name)
        values["defaults_source"] = spec.training.source
    if given.get("schedule") == "cpu":
        values.update(
            learning_rate=CPU_RECIPE.learning_rate,
            warmup_steps=CPU_RECIPE.warmup_steps,
            clip_norm=CPU_RECIPE.clip_norm,
        )
    if smoke:
        values.update(SMOKE)
    values.update({k: v for k, v in given.items() if v is not None})
    config = TrainConfig(model=model, workdir=workdir, smoke=smoke, **values)
    if config.batchsize < 1 or config.patchsize < 16 or config.num_steps < 1:
        raise ValueError("batchsize, patchsize (≥16) and num_steps must be positive")
    if config.schedule not in SCHEDULES:
        raise ValueError(
            f"unknown schedule {config.schedule!r}; choose one of {', '.join(SCHEDULES)}"
        )
    if config.precision not in PRECISIONS:
        raise ValueError(
            f"unknown precision {config.precision!r}; choose one of {', '.join(PRECISIONS)}"
        )
    if config.schedule == "published" and config.warmup_steps:
        raise ValueError(
            "--warmup_steps needs --schedule constant, step, cosine or cpu: "
            "'published' is the family's schedule as published, without warm-up"
        )
    if config.warmup_steps < 0 or config.clip_norm < 0 or not config.learning_rate > 0:
        raise ValueError("warmup_steps and clip_norm must be ≥ 0 and learning_rate > 0")
    if config.intra_op_threads < 0 or config.inter_op_threads < 0:
        raise ValueError("thread counts must be ≥ 0 (0: TensorFlow's default)")
    if config.time_budget < 0 or config.stop_after < 0:
        raise ValueError("time_budget and stop_after must be ≥ 0 seconds (0: none)")
    if config.time_budget > 0 and config.schedule == "published":
        raise ValueError("--time_budget needs --schedule constant, step, cosine or cpu")
    if config.cache_mb < 0:
        raise ValueError("cache_mb must be ≥ 0 (0: no cache)")
    return config
