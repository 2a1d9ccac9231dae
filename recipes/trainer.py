"""The training loop behind `python -m recipes.train`, as importable pieces.

    resolve_config(flags) ─> TrainConfig (flags, else the family's TrainingDefaults)
    Trainer(config, strategy)
      ├─ precision: float32 or mixed_bfloat16 (`choose_precision`; the Keras policy is set
      │  only while the model is built, then restored)
      ├─ model, Adam with global-norm clipping, learning-rate schedule (`make_schedule`:
      │  published = constant then ×0.1 at decay_at·num_steps), step counter
      ├─ CheckpointManager: restore the last checkpoint of workdir, save every N steps
      └─ fit(): strategy.run(step) in a tf.function; loss = Σ per-image loss / global batch
         (variable-rate models: each image gets its own λ, log-uniform over the model's range)
    finish(): build coding tables, write weights.npz and training_log.json

Mixed precision (`mixed_bfloat16`): the transforms compute in bfloat16, variables stay
float32 (Keras AutoCastVariables, same names), and the entropy models, the noise, the
rate and the loss stay float32 (`zoo.tfc_adapter`, `CompressionModel.rd_losses`). The
weights are saved from a float32 copy of the trained model (`coding_model`), so coding
tables, artifacts and fingerprints are exactly those a float32 run with the same
variable values would produce.

A non-finite loss stops the run (NonFiniteLossError) without saving; a checkpoint is
written only when every variable is finite, so the last good one is never replaced by
broken weights. TF checkpoints are written to temporary names and renamed, and the
`checkpoint` index file is replaced atomically, so `kill -9` during a save leaves the
previous checkpoint in charge.

Pieces in their own modules (re-exported here): `recipes.train_config` (TrainConfig,
resolve_config, SMOKE), `recipes.checkpointing` (the stop errors, the simulated write
failure), `recipes.warm_start` (`--init_from`, through `zoo.weights.transfer`),
`recipes.provenance` (git revision, package versions, write_json) and
`recipes.training_setup` (precision, schedules, threads).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import tensorflow as tf
from absl import logging
from tqdm import tqdm

from recipes import data as data_lib
from recipes import distribute, warm_start
from recipes.checkpointing import (  # noqa: F401  (re-exported)
    FAIL_CHECKPOINT_ENV,
    CheckpointWriteError,
    NonFiniteLossError,
    Preempted,
    inject_write_failure,
    previous_checkpoint_state,
)
from recipes.provenance import (  # noqa: F401
    LINEAGE_FILE,
    git_revision,
    lineage,
    package_versions,
    write_json,
)
from recipes.train_config import SMOKE, TrainConfig, resolve_config  # noqa: F401  (re-exported)
from recipes.training_setup import (  # noqa: F401  (re-exported: the trainer's interface)
    BF16_CPU_FLAGS,
    COSINE_FINAL_FACTOR,
    CPU_RECIPE,
    PRECISIONS,
    SCHEDULES,
    CpuRecipe,
    PrecisionChoice,
    WarmupDecay,
    choose_precision,
    configure_threads,
    cpu_bf16_flags,
    gpu_capability,
    keras_policy,
    make_schedule,
    read_cpuinfo,
    schedule_decay,
    schedule_record,
    strategy_device,
)
from zoo import metrics, registry
from zoo import weights as weights_lib

# The trainer -----------------------------------------------------------------------------


class Trainer:
    """Owns the model, optimizer, checkpoints and the distributed training step."""

    def __init__(self, config: TrainConfig, strategy: tf.distribute.Strategy,
                 precision: PrecisionChoice | None = None):
        """`precision` overrides `choose_precision(config.precision, …)` (tests, benchmarks)."""
        self.config = config
        self.strategy = strategy
        #: The seed of the data and noise of the segment being trained (`start_segment`).
        self.segment_seed = config.seed
        #: Whether the training images are decoded once and kept in memory (`prepare_data`).
        self.cache_images = False
        self.chief = distribute.is_chief(strategy)
        self.outdir = distribute.write_dir(config.workdir, strategy)
        self.replicas = strategy.num_replicas_in_sync
        if config.batchsize % self.replicas:
            raise ValueError(f"batchsize {config.batchsize} does not split over {self.replicas} replicas")
        if config.time_budget > 0 and getattr(strategy.extended, "_num_workers", 1) > 1:
            # Each worker's clock is its own: a time-driven learning rate would differ
            # between workers and their variables would drift apart.
            raise ValueError("--time_budget works with one worker; give multi-worker runs --num_steps")
        self.precision = precision or choose_precision(
            config.precision, strategy_device(strategy), read_cpuinfo(), gpu_capability())
        #: Training wall time of the run (seconds, across resumes; in checkpoints).
        self.wall_time = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="wall_time")
        with strategy.scope():
            self.model = self._make_model()
            self.schedule = make_schedule(config, clock=self.wall_time)
            # global_clipnorm: Keras clips after aggregating the replicas' gradients (the
            # optimizer's apply_gradients all-reduces them first), so the global gradient.
            self.optimizer = tf.keras.optimizers.Adam(
                self.schedule, global_clipnorm=config.clip_norm or None,
                epsilon=config.adam_epsilon)
            # Slots are made here, eagerly: creating them inside the traced step fails
            # under tf.distribute, and checkpoints then restore them directly.
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step, wall_time=self.wall_time
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(self.outdir, "checkpoints"), max_to_keep=3
        )
        self.writer = (
            tf.summary.create_file_writer(os.path.join(config.workdir, "tensorboard"))
            if self.chief else None
        )
        self._stop_signal: int | None = None
        self.history: list[dict[str, float]] = []

    # The model ---------------------------------------------------------------------------

    def _build(self) -> tf.keras.Model:
        tf.random.set_seed(self.config.seed)
        model = registry.create_model(self.config.model, **self.config.model_kwargs())
        # Creates every variable now, so checkpoints restore into real variables.
        model(tf.zeros([1, 64, 64, 3]), training=True)
        return model

    def _make_model(self) -> tf.keras.Model:
        """The model, built under the chosen policy (the global policy is restored after).

        A model whose code does not run in mixed precision (a dtype error while it is
        built) is built in float32 instead when the precision was `auto`, and refused
        when mixed_bfloat16 was asked for.
        """
        policy = self.precision.policy
        if policy == "float32":
            return self._build()
        try:
            with keras_policy(policy):
                return self._build()
        except (TypeError, ValueError, tf.errors.InvalidArgumentError) as exc:
            failure = " ".join(str(exc).split())[:300]
        model = self._build()  # In float32: an error here is the model's own, raised as is.
        if self.precision.requested != "auto":
            raise ValueError(f"{self.config.model} does not train under {policy} ({failure}); "
                             "use --precision=float32")
        self.precision = PrecisionChoice(
            "float32", self.precision.requested,
            f"{self.precision.reason}, but {self.config.model} does not run under {policy}")
        logging.warning("%s does not run under %s (%s); training in float32.",
                        self.config.model, policy, failure)
        return model

    def coding_model(self) -> tf.keras.Model:
        """The model whose coding tables and weights are saved.

        The trained model itself in float32; after mixed-precision training, a float32
        model of the same architecture holding the trained variables, so everything built
        from it (range coding tables, coding functions, fingerprint) is what a float32
        run with these variable values gives.
        """
        if self.precision.policy == "float32":
            return self.model
        with keras_policy("float32"):
            twin = registry.create_model(self.config.model, **self.config.model_kwargs())
            twin(tf.zeros([1, 64, 64, 3]), training=True)
        weights_lib.assign(twin, weights_lib.variable_arrays(self.model),
                           source=f"the {self.precision.policy} model")
        return twin

    # Checkpoints ----------------------------------------------------------------------

    def restore(self) -> int:
        """Restores the latest checkpoint of the work dir, if any; returns the step."""
        # Every worker restores from the chief's directory: the others write to temp dirs.
        latest = tf.train.latest_checkpoint(os.path.join(self.config.workdir, "checkpoints"))
        if latest:
            try:
                self.checkpoint.restore(latest).assert_existing_objects_matched()
            except AssertionError as exc:
                raise ValueError(
                    f"{latest} does not match this model's variables (a checkpoint of another "
                    "model, or of a family from before its move to zoo.latent_codecs); "
                    "start a new --workdir with --init_from=<its weights file> "
                    f"(python -m recipes.snapshot writes one): {str(exc)[:200]}") from None
            logging.info("Resumed from %s (step %d).", latest, int(self.step.numpy()))
        elif self.config.init_from:
            self.initialize_from(self.config.init_from)
        return int(self.step.numpy())

    SHARED_PARTS = warm_start.SHARED_PARTS

    def initialize_from(self, path: str) -> None:
        """Copies trained weights from an artifact (`recipes.warm_start.initialize_from`)
        and keeps their training record (`provenance.lineage`) in the work dir, so that the
        run's weights carry their whole chain even after that file is replaced."""
        from zoo import pretrained

        warm_start.initialize_from(self.model, path, self.SHARED_PARTS)
        if self.chief:
            write_json(os.path.join(self.config.workdir, LINEAGE_FILE),
                       lineage(pretrained.resolve(path)))

    def started_from(self) -> dict | None:
        """The lineage `initialize_from` kept, if the run started from weights."""
        path = os.path.join(self.config.workdir, LINEAGE_FILE)
        return json.loads(Path(path).read_text()) if os.path.exists(path) else None

    def weights_finite(self) -> bool:
        return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.trainable_variables)

    def save(self) -> str | None:
        """Checkpoints the current step, unless a variable is NaN/Inf (then keeps the last).

        Raises:
          CheckpointWriteError: the write failed (full disk, permissions…); the previous
            checkpoint is still the one `checkpoint` names, and was re-read to confirm it.
        """
        step = int(self.step.numpy())
        if not self.weights_finite():
            logging.error("Not checkpointing step %d: weights are not finite.", step)
            return None
        try:
            inject_write_failure(self.manager.directory, step)
            return self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as exc:
            reason = getattr(exc, "message", None) or str(exc)
            raise CheckpointWriteError(
                f"checkpoint write failed at step {step}: {reason.splitlines()[0]}. "
                f"{previous_checkpoint_state(self.manager.directory)} Free disk space (or fix "
                "the directory's permissions) and run the same command to resume."
            ) from None

    # The step -------------------------------------------------------------------------

    def _replica_step(self, x: tf.Tensor, poison: tf.Tensor) -> dict[str, tf.Tensor]:
        # `poison` is 1, or NaN for --debug_inject_nan_at_step: a real NaN through the graph.
        x = x * poison
        global_batch = self.config.batchsize
        lmbda = self.training_lambdas(tf.shape(x)[0])
        with tf.GradientTape() as tape:
            if lmbda is None:
                terms = self.model.rd_losses(x, training=True)
            else:
                terms = self.model.rd_losses(x, training=True, lmbda=lmbda)
            # Σ per-image loss / global batch on each replica; the all-reduce sums replicas.
            loss = tf.nn.compute_average_loss(terms["loss"], global_batch_size=global_batch)
            if self.model.losses:
                regularization = tf.cast(tf.add_n(self.model.losses), tf.float32)
                loss += tf.nn.scale_regularization_loss(regularization)
        variables = self.model.trainable_variables
        gradients = tape.gradient(loss, variables)
        # In the replica context: Adam all-reduces (sums) the gradients, then clips the
        # global norm (global_clipnorm), then updates.
        self.optimizer.apply_gradients(zip(gradients, variables))
        return {
            k: tf.nn.compute_average_loss(terms[k], global_batch_size=global_batch)
            for k in ("loss", "bpp", "mse")
        }

    def training_lambdas(self, batch: tf.Tensor) -> tf.Tensor | None:
        """Per-example λ for a variable-rate model (None for a fixed-rate one).

        Drawn log-uniformly from the model's `rate_spec` (`RateSpec.sample`); the seed is
        (run seed, step, replica), so every replica draws its own λ and a resumed run
        draws the same ones again. A β model (learned_step) trains at β = 1.
        """
        spec = self.model.rate_spec
        if spec is None or spec.name != "lmbda":
            return None
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        step = tf.cast(self.step.read_value(), tf.int64)
        seed = tf.stack([tf.constant(self.config.seed, tf.int64),
                         step * 1024 + tf.cast(replica, tf.int64)])
        return spec.sample(batch, seed)

    @tf.function
    def train_step(self, iterator, poison: tf.Tensor) -> dict[str, tf.Tensor]:
        per_replica = self.strategy.run(self._replica_step, args=(next(iterator), poison))
        self.step.assign_add(1)
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    # Data -----------------------------------------------------------------------------

    def dataset_fn(self, context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        batch = (context.get_per_replica_batch_size(self.config.batchsize) if context
                 else self.config.batchsize)
        return data_lib.train_dataset(self.paths, self.config.patchsize, batch,
                                      seed=self.segment_seed, context=context, deterministic=False,
                                      cache=self.cache_images)

    def start_segment(self, start_step: int) -> int:
        """Seeds the data order, the crops and the training noise from the run's seed and
        the step training (re)starts at, so that a resumed run draws new batches instead
        of replaying the ones it began with; the same (seed, step) gives the same ones."""
        self.segment_seed = (self.config.seed + 1_000_003 * start_step) % (2**31 - 1)
        tf.random.set_seed(self.segment_seed)
        return self.segment_seed

    def prepare_data(self) -> dict[str, Any]:
        """Finds the images, skips and counts the small ones, measures pipeline throughput."""
        spec = self.config.train_data
        summary: dict[str, Any] = {"spec": spec}
        if data_lib.is_local(spec):
            found = data_lib.scan_images(data_lib.image_paths(spec), self.config.patchsize)
            if not found.paths:
                raise data_lib.DataError(
                    f"none of the {len(found.skipped_small) + len(found.unreadable)} images at "
                    f"{spec!r} is at least {self.config.patchsize}×{self.config.patchsize}")
            self.paths: Any = found.paths
            self.cache_images = found.decoded_bytes <= self.config.cache_mb * 2**20
            summary.update(cache_images=self.cache_images,
                           decoded_mb=round(found.decoded_bytes / 2**20, 1))
            summary.update(images=len(found.paths), skipped_small=len(found.skipped_small),
                           unreadable=len(found.unreadable),
                           skipped_examples=(found.skipped_small + found.unreadable)[:10])
            if found.skipped_small or found.unreadable:
                logging.warning("Skipped %d images smaller than %d px and %d unreadable files.",
                                len(found.skipped_small), self.config.patchsize, len(found.unreadable))
        else:
            self.paths = spec
            summary["source"] = "tfds"
        # Measured alone, before training, to tell an input-bound run from a compute-bound one.
        per_host = self.config.batchsize // max(1, getattr(self.strategy.extended, "_num_workers", 1))
        probe = data_lib.train_dataset(self.paths, self.config.patchsize, max(1, per_host),
                                       seed=self.config.seed, cache=self.cache_images)
        summary["throughput"] = data_lib.measure_throughput(probe, self.config.data_throughput_batches)
        self.sample = next(iter(probe))[:2]
        return summary

    # The loop -------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum
        # A second signal kills at once (e.g. when a step hangs and never returns).
        signal.signal(signum, signal.SIG_DFL)

    def _log(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, **values, "psnr": metrics.psnr_from_mse(values["mse"]),
                  "learning_rate": float(self.schedule(step - 1))}
        self.history.append(record)
        if not self.writer:
            return
        with self.writer.as_default(step=step):
            for key in ("loss", "bpp", "mse", "psnr", "learning_rate"):
                tf.summary.scalar(key, record[key])
        with open(os.path.join(self.config.workdir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

    def _log_images(self, step: int) -> None:
        if not self.writer:
            return
        x_hat = self.model.rd_losses(self.sample, training=False)["x_hat"]
        pair = tf.concat([self.sample, tf.clip_by_value(x_hat, 0.0, 255.0)], axis=2) / 255.0
        with self.writer.as_default(step=step):
            tf.summary.image("original | reconstruction", pair, max_outputs=2)

    def out_of_time(self) -> bool:
        """Whether the run has used its `--time_budget` of training wall time, or this
        invocation has reached `--stop_after`."""
        limits = [t for t in (self.config.time_budget, self.config.stop_after) if t > 0]
        return bool(limits) and float(self.wall_time.numpy()) >= min(limits)

    def fit(self) -> dict[str, Any]:
        """Trains from the restored step to `num_steps` (or until `--time_budget` seconds
        of training wall time are spent); returns timing and final losses.

        Raises:
          NonFiniteLossError: the loss became NaN/Inf (nothing is saved).
          Preempted: SIGTERM/SIGINT; a checkpoint of the last step was saved.
        """
        config = self.config
        start_step = self.restore()
        self.start_segment(start_step)
        dataset = self.strategy.distribute_datasets_from_function(self.dataset_fn)
        iterator = iter(dataset)
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        step, values, saved_at = start_step, {}, start_step
        first_done = None
        wall_start = float(self.wall_time.numpy())
        bar = tqdm(total=config.num_steps, initial=start_step, unit="step", disable=not self.chief,
                   dynamic_ncols=True, desc=config.model)
        try:
            while step < config.num_steps and not self.out_of_time():
                if self._stop_signal is not None:
                    self.save()
                    raise Preempted(f"stopped by signal {self._stop_signal} at step {step}; "
                                    "checkpoint saved, run the same command to resume")
                poison = math.nan if step + 1 == config.debug_inject_nan_at_step else 1.0
                out = self.train_step(iterator, tf.constant(poison, tf.float32))
                values = {k: float(v) for k, v in out.items()}
                step = int(self.step.numpy())
                if not all(map(math.isfinite, values.values())):
                    last = self.manager.latest_checkpoint or "none"
                    raise NonFiniteLossError(
                        f"loss is {values['loss']} at step {step} (bpp {values['bpp']}, mse "
                        f"{values['mse']}); stopping without saving. Last good checkpoint: {last}. "
                        "Try a lower --learning_rate, or check the data.")
                first_done = first_done or time.perf_counter()
                # Training time: from the end of this invocation's first step, which
                # traces the graph (10–30 s that a longer run would not pay again).
                self.wall_time.assign(wall_start + time.perf_counter() - first_done)
                bar.update(1)
                if step % config.log_every == 0 or step == config.num_steps:
                    self._log(step, values)
                    bar.set_postfix(loss=f"{values['loss']:.3f}", bpp=f"{values['bpp']:.3f}",
                                    psnr=f"{metrics.psnr_from_mse(values['mse']):.2f}")
                if step % config.image_every == 0:
                    self._log_images(step)
                if step % config.checkpoint_every == 0:
                    self.save()
                    saved_at = step
            if saved_at != step:
                self.save()
            self._log_images(step)
        finally:
            bar.close()
            for s, handler in handlers.items():
                signal.signal(s, handler)
            if self.writer:
                self.writer.flush()
        end = time.perf_counter()
        timed = step - start_step - 1  # The first step traces the graph; leave it out.
        steps_per_second = timed / (end - first_done) if first_done and timed > 0 else None
        return {
            "start_step": start_step,
            "steps": step,
            "wall_time_seconds": float(self.wall_time.numpy()),
            "steps_per_second": steps_per_second,
            "images_per_second": steps_per_second and steps_per_second * config.batchsize,
            "final": {**values, "psnr": metrics.psnr_from_mse(values["mse"])} if values else None,
        }

    def settings(self) -> dict[str, Any]:
        """Precision, optimizer, schedule and data-pipeline settings, for the logs."""
        return {
            "precision": {**dataclasses.asdict(self.precision),
                          "variables": self.model.trainable_variables[0].dtype.name,
                          "compute": (tf.keras.mixed_precision.Policy(self.precision.policy)
                                      .compute_dtype)},
            "optimizer": {"name": "Adam", "clip_norm": self.config.clip_norm,
                          "global_clipnorm": self.optimizer.global_clipnorm,
                          "epsilon": self.optimizer.epsilon},
            "schedule": schedule_record(self.config),
            "data_pipeline": {"parallel_map": "AUTOTUNE", "prefetch": "AUTOTUNE",
                              "deterministic": False, "cache_images": self.cache_images,
                              "cache_mb": self.config.cache_mb},
        }

    def finish(self, record: dict[str, Any], data_summary: dict[str, Any],
               threads: dict[str, Any] | None = None) -> dict[str, Any]:
        """Builds the coding tables and writes weights.npz (+ sha256) and training_log.json."""
        model = self.coding_model()
        model.build_coders()
        settings = self.settings()
        training = {
            "run": Path(self.config.workdir).name,
            "data": data_summary.get("spec"),
            "steps": record["steps"],
            "wall_time_seconds": record["wall_time_seconds"],
            "patchsize": self.config.patchsize,
            "batchsize": self.config.batchsize,
            "learning_rate": self.config.learning_rate,
            "decay_step": self.config.decay_step,
            "schedule": settings["schedule"],
            "clip_norm": self.config.clip_norm,
            "precision": self.precision.policy,
            "strategy": type(self.strategy).__name__,
            "replicas": self.replicas,
            "seed": self.config.seed,
            "segment_seed": self.segment_seed,
            "final": record["final"],
            "git": git_revision(),
            "started_from": self.started_from(),
        }
        path = os.path.join(self.outdir, "weights.npz")
        sha256 = weights_lib.save(model, path, training=training)
        fingerprint = weights_lib.fingerprint(model)
        log = {**record, "weights": path, "weights_sha256": sha256, "fingerprint": fingerprint,
               **settings, "threads": threads, "segment_seed": self.segment_seed,
               "data": data_summary, "history": self.history[-100:]}
        write_json(os.path.join(self.outdir, "training_log.json"), log)
        if not self.chief:
            tf.io.gfile.rmtree(self.outdir)  # TF's advice: a worker's copies are scratch.
        return log


def run(config: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> dict[str, Any]:
    """The whole run: strategy, config files, data, training, weights. Returns the log."""
    # A no-op when `recipes.train` applied them already (before TensorFlow started).
    threads = configure_threads(config.intra_op_threads, config.inter_op_threads)
    strategy = strategy or distribute.get_strategy(config.strategy)
    previous = Path(config.workdir, "config.json")
    if previous.exists():
        old = json.loads(previous.read_text())["config"]
        mine = dataclasses.asdict(config)
        for key in ("model", "lmbda", "metric", "model_overrides"):
            if old.get(key) != mine[key]:
                raise ValueError(f"{config.workdir} holds a run with {key}={old.get(key)!r}, not "
                                 f"{mine[key]!r}; use another --workdir")
    trainer = Trainer(config, strategy)
    logging.info("Precision: %s (%s).", trainer.precision.policy, trainer.precision.reason)
    data_summary = trainer.prepare_data()
    if trainer.chief:
        write_json(previous, {
            "config": dataclasses.asdict(config),
            "model": trainer.model.builder_config,
            "resolved_lmbda": trainer.model.lmbda,
            "resolved_metric": trainer.model.metric,
            "strategy": {"name": config.strategy, "class": type(strategy).__name__,
                         "replicas": trainer.replicas, "tf_config": os.environ.get("TF_CONFIG")},
            "data": data_summary,
            **trainer.settings(),
            "threads": threads,
            "git": git_revision(),
            "packages": package_versions(),
        })
    logging.info("Data pipeline alone: %.1f images/s.", data_summary["throughput"]["images_per_second"])
    record = trainer.fit()
    record["data_images_per_second"] = data_summary["throughput"]["images_per_second"]
    if record["images_per_second"]:
        bound = "input" if record["data_images_per_second"] < record["images_per_second"] else "compute"
        record["bottleneck"] = bound
        logging.info("Training: %.2f steps/s = %.1f images/s; data pipeline %.1f images/s (%s-bound).",
                     record["steps_per_second"], record["images_per_second"],
                     record["data_images_per_second"], bound)
    log = trainer.finish(record, data_summary, threads)
    logging.info("Wrote %s (sha256 %s), weights fingerprint %s.",
                 log["weights"], log["weights_sha256"], log["fingerprint"])
    return log

