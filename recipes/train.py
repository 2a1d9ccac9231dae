"""Train a zoo model: `python -m recipes.train --model hyperprior --lmbda 0.013 --workdir runs/hp`.

Unset flags fall back to the family's published schedule (`zoo.registry.get_spec(name)
.training`). Running the same command again resumes from the last checkpoint in
--workdir. The run ends with `<workdir>/weights.npz`, usable as

    python -m zoo compress IN.png OUT.lic --weights <workdir>/weights.npz

Quick check: `python -m recipes.train --smoke --train_data /path/to/pngs --workdir /tmp/s`.
Multi-worker: set TF_CONFIG on every worker and pass --strategy multi_worker_mirrored.
On a CPU: `--schedule=cpu` (warm-up, cosine decay), `--intra_op_threads`/`--inter_op_threads`;
`--precision=auto` trains in mixed_bfloat16 only where bfloat16 is native; on a 2-core host
a run splits into two single-threaded mirrored replicas (`--cpu_devices`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags, logging  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("model", "hyperprior", "Registered model name (python -m zoo models --all).")
flags.DEFINE_float("lmbda", None, "Rate-distortion trade-off λ (loss = bpp + λ·D); default: the model's.")
flags.DEFINE_enum("metric", None, ["mse", "ms-ssim"], "Distortion measure; default: the model's.")
flags.DEFINE_string("model_overrides", None, "JSON object of builder arguments, e.g. '{\"num_filters\": 64}'.")
flags.DEFINE_string("train_data", "clic", "Image folder, glob, or prepared TFDS dataset name.")
flags.DEFINE_string("workdir", None, "Run directory: checkpoints, logs, config, weights.", required=True)
flags.DEFINE_integer("num_steps", None, "Training steps; default: the family's published count.")
flags.DEFINE_integer("batchsize", None, "Global batch size (split over replicas); default 8.")
flags.DEFINE_integer("patchsize", None, "Side of the random square crops; default 256.")
flags.DEFINE_float("learning_rate", None, "Adam's peak learning rate; default: the family's "
                   "(1e-4), or the cpu recipe's with --schedule=cpu.")
flags.DEFINE_enum("schedule", None, ["published", "cpu", "constant", "step", "cosine"],
                  "Learning-rate schedule (default published: constant, then ×0.1 at 90 % of "
                  "the steps). step: the same decay, with --warmup_steps; cosine: warm-up, then "
                  "cosine decay to 1 % at num_steps; cpu: recipes.trainer.CPU_RECIPE (lr 3e-4, "
                  "500 warm-up steps, cosine, clip_norm 1), each value overridable by its flag.")
flags.DEFINE_integer("warmup_steps", None, "Linear warm-up steps (default 0; not with 'published').")
flags.DEFINE_float("clip_norm", None, "Clip the global norm of the (all-reduced) gradient to this "
                   "(Adam global_clipnorm); default 1.0, 0 disables.")
flags.DEFINE_float("adam_epsilon", None, "Adam's epsilon (default 1e-7, Keras'; PyTorch uses 1e-8).")
flags.DEFINE_enum("precision", "auto", ["auto", "float32", "mixed_bfloat16"],
                  "auto: mixed_bfloat16 where bfloat16 is native (CPU flag amx_bf16 or "
                  "avx512_bf16, a TPU, a GPU of compute capability ≥ 8), else float32.")
flags.DEFINE_integer("intra_op_threads", 0, "Threads inside one op (tf.config.threading); "
                     "0: TensorFlow's default (one per core).")
flags.DEFINE_integer("inter_op_threads", 0, "Threads running independent ops; 0: TensorFlow's "
                     "default.")
flags.DEFINE_float("time_budget", None, "Seconds of training wall time (across resumes): the run "
                   "stops when they are spent and its decay follows time, not steps (one worker).")
flags.DEFINE_float("stop_after", None, "Stop this invocation (checkpoint and weights written) once "
                   "the run's training wall time reaches this many seconds; resume to go on.")
flags.DEFINE_integer("cache_mb", None, "Keep the decoded training images in memory when they fit "
                     "in this many MB (default 1024; 0: decode each crop's image from its file).")
flags.DEFINE_enum("strategy", "auto", ["auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                  "tf.distribute strategy.")
flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints (default 1000).")
flags.DEFINE_integer("log_every", None, "Steps between scalar summaries (default 100).")
flags.DEFINE_integer("image_every", None, "Steps between reconstruction images (default 5000).")
flags.DEFINE_integer("seed", None, "Random seed (default 0).")
flags.DEFINE_integer("data_throughput_batches", None, "Batches timed to measure the input pipeline alone.")
flags.DEFINE_bool("smoke", False, "Tiny run: the _tiny model, 10 steps, 64 px patches, batch 2.")
flags.DEFINE_integer("cpu_devices", None, "Split the CPU into this many logical devices, one "
                     "'mirrored' replica each. Default: one single-threaded replica per core on a "
                     "2-core host without accelerators (measured +10.5 % small, +0.5 % published), "
                     "else 1; see recipes.training_setup.cpu_replicas.")
flags.DEFINE_string("init_from", None, "Weights to start from: a file or name@λ of a pretrained "
                    "entry. The same architecture (fine-tune to another λ), a variable-rate model "
                    "from its fixed-rate family (hyperprior_vr from hyperprior@0.013), or another "
                    "family sharing transforms.")
flags.DEFINE_integer("debug_inject_nan_at_step", None, "Debugging aid: multiply the input batch of "
                     "this step by NaN, to exercise the non-finite-loss stop.")


def main(argv: list[str]) -> int:
    del argv
    from recipes import distribute, trainer
    from recipes.data import DataError
    from zoo.errors import ZooError

    try:
        overrides = json.loads(F.model_overrides) if F.model_overrides else {}
        if not isinstance(overrides, dict):
            raise ValueError("--model_overrides must be a JSON object")
        config = trainer.resolve_config(
            F.model, F.workdir, smoke=F.smoke, lmbda=F.lmbda, metric=F.metric,
            model_overrides=overrides, train_data=F.train_data, num_steps=F.num_steps,
            batchsize=F.batchsize, patchsize=F.patchsize, learning_rate=F.learning_rate,
            schedule=F.schedule, warmup_steps=F.warmup_steps, time_budget=F.time_budget,
            stop_after=F.stop_after,
            clip_norm=F.clip_norm,
            adam_epsilon=F.adam_epsilon, precision=F.precision, intra_op_threads=F.intra_op_threads,
            inter_op_threads=F.inter_op_threads, cache_mb=F.cache_mb, strategy=F.strategy,
            checkpoint_every=F.checkpoint_every, log_every=F.log_every,
            image_every=F.image_every, seed=F.seed,
            data_throughput_batches=F.data_throughput_batches,
            debug_inject_nan_at_step=F.debug_inject_nan_at_step,
            init_from=F.init_from,
        )
        config = split_devices(config, distribute)
        # Before TensorFlow runs any op (after split_cpu, so an explicit value wins).
        trainer.configure_threads(config.intra_op_threads, config.inter_op_threads)
        logging.info("Configuration: %s", config)
        log = trainer.run(config)
    except trainer.NonFiniteLossError as exc:
        logging.error("Non-finite loss: %s", exc)
        print(f"error: non-finite loss: {exc}", file=sys.stderr)
        return 3
    except trainer.Preempted as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 4
    except (DataError, ZooError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done: {log['steps']} steps, weights {log['weights']}, fingerprint {log['fingerprint']}")
    return 0


def split_devices(config, distribute):
    """Splits the CPU into the logical devices `training_setup.cpu_replicas` chooses
    (before TensorFlow starts) and returns the config that says so: with several, the
    strategy is mirrored and each replica runs one intra-op thread."""
    from recipes import training_setup

    devices, why = training_setup.cpu_replicas(
        F.cpu_devices, strategy=config.strategy, batchsize=config.batchsize, smoke=config.smoke,
        intra_op_threads=config.intra_op_threads, inter_op_threads=config.inter_op_threads,
        cores=training_setup.available_cores(),
        accelerators=bool(tf_accelerators()), cluster=distribute.cluster_workers() > 1)
    logging.info("CPU devices: %d (%s).", devices, why)
    distribute.split_cpu(devices)
    if devices > 1 and 0 < config.inter_op_threads < 4 * devices:
        logging.warning("--inter_op_threads=%d with %d CPU devices: replicas waiting in "
                        "all-reduces may block each other.", config.inter_op_threads, devices)
    if devices == 1 or F.cpu_devices is not None:
        return dataclasses.replace(config, cpu_devices=devices)
    return dataclasses.replace(config, cpu_devices=devices, strategy="mirrored",
                               intra_op_threads=1)


def tf_accelerators() -> list:
    """Physical GPUs and TPUs (listing them does not start the runtime)."""
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU") + tf.config.list_physical_devices("TPU")


def entry() -> None:
    """Parses flags and runs `main`.

    Not `absl.app.run`: under it, a MirroredStrategy over logical CPU devices hangs in
    its first step (TF 2.14, reproduced with a bare app.run wrapper); parsing the flags
    ourselves avoids that and keeps absl's --help.
    """
    try:
        argv = F(sys.argv)
    except flags.Error as exc:
        print(f"error: {exc}\n\n{F.main_module_help()}", file=sys.stderr)
        sys.exit(2)
    logging.set_verbosity(logging.INFO)
    sys.exit(main(argv))


if __name__ == "__main__":
    entry()
