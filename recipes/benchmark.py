"""Codec speed and file-size overhead per family, on Kodak images (768×512).

    python -m recipes.benchmark --models factorized,hyperprior,mean_scale --images 3

For each model: encode and decode seconds per image (the minimum over `--repeat`
runs after a warm-up, as timing on a shared CPU is noisy), the ratio to `mean_scale`
measured in the same run, the payload size against the model's own rate estimate
(information content), and the container's overhead in bytes. Pretrained weights are
used where they exist (`--lmbda`); otherwise freshly built full-size models, whose
speed is representative but whose rate estimate is not (untrained priors put many
symbols in the range coder's escape region).

Training throughput (`--train`): the real training step of `recipes.trainer` (Adam with
clipping, the run's precision policy) on `hyperprior` at the published size (N=128,
M=192, 256² crops) and a small one (N=64, M=96, 128² crops), batch 8, each in float32
and mixed_bfloat16; steps/s and images/s after warm-up steps, and the bf16/float32 ratio.

    python -m recipes.benchmark --train --train_steps=20 --train_sizes=small

The crops are random crops of the Kodak images (or --train_data), cut once and held in
memory, so the input pipeline does not compete with the step for the CPU. Timings are
printed, never asserted; on a shared CPU repeat them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["factorized", "hyperprior", "mean_scale"], "Registered names.")
flags.DEFINE_integer("images", 3, "How many Kodak images (landscape, 768×512).")
flags.DEFINE_integer("repeat", 3, "Timed runs per image; the minimum is reported.")
flags.DEFINE_float("lmbda", 0.0130, "λ of the pretrained weights to use when they exist.")
flags.DEFINE_string("metric", "mse", "Metric of the pretrained weights.")
flags.DEFINE_bool("untrained", False, "Always use freshly built models.")
flags.DEFINE_string("kodak", None, "Folder of Kodak PNGs (default: the copy shipped in recipes).")
flags.DEFINE_string("output", None, "Optional JSON file for the numbers.")
flags.DEFINE_bool("train", False, "Measure training throughput instead of codec speed.")
flags.DEFINE_integer("train_steps", 40, "--train: timed steps per configuration.")
flags.DEFINE_integer("train_warmup", 3, "--train: untimed steps first (the first traces).")
flags.DEFINE_list("train_sizes", ["published", "small"], "--train: sizes from TRAIN_SIZES.")
flags.DEFINE_list("train_precisions", ["float32", "mixed_bfloat16"], "--train: precisions.")
flags.DEFINE_integer("train_batchsize", 8, "--train: images per step.")
flags.DEFINE_string("train_model", "hyperprior", "--train: registered model.")
flags.DEFINE_string("train_data", None, "--train: image folder or glob to crop (default Kodak).")
flags.DEFINE_integer("intra_op_threads", 0, "tf.config.threading intra-op threads (0: default).")
flags.DEFINE_integer("inter_op_threads", 0, "tf.config.threading inter-op threads (0: default).")

#: --train sizes: (num_filters N, num_latents M, crop side).
TRAIN_SIZES = {"published": (128, 192, 256), "small": (64, 96, 128)}


def kodak_landscape(folder: Path, count: int) -> list[Path]:
    from PIL import Image

    paths = []
    for path in sorted(folder.glob("kodim*.png")):
        with Image.open(path) as image:
            if image.size == (768, 512):
                paths.append(path)
        if len(paths) == count:
            break
    return paths


def codec_for(name: str):
    """Shipped weights at --lmbda when the registry has them (they must load: timing
    another model instead would be wrong), else a freshly built full-size model."""
    import zoo
    from zoo import pretrained

    if not FLAGS.untrained:
        try:
            pretrained.find(name, FLAGS.lmbda, FLAGS.metric)
        except zoo.WeightsError:
            pass  # no such entry: time the untrained model
        else:
            return zoo.get(name, lmbda=FLAGS.lmbda, metric=FLAGS.metric), "pretrained"
    return zoo.Codec(zoo.create_model(name, lmbda=FLAGS.lmbda)), "untrained"


def measure(codec, images) -> dict:
    from zoo import container

    encode, decode, payload_bits, estimate_bits, overhead = [], [], [], [], []
    for image in images:
        codec.compress(image)  # warm-up: traces the tf.functions once
        times = []
        for _ in range(FLAGS.repeat):
            start = time.perf_counter()
            data = codec.compress(image)
            times.append(time.perf_counter() - start)
        encode.append(min(times))
        codec.decompress(data)
        times = []
        for _ in range(FLAGS.repeat):
            start = time.perf_counter()
            codec.decompress(data)
            times.append(time.perf_counter() - start)
        decode.append(min(times))
        _, payloads = container.unpack(data)
        payload = 8 * sum(len(p) for p in payloads)
        payload_bits.append(payload)
        estimate_bits.append(codec.estimate_bits(image))
        overhead.append(len(data) - payload // 8)
    n = len(images)
    pixels = images[0].shape[0] * images[0].shape[1]
    return {
        "encode_s": sum(encode) / n,
        "decode_s": sum(decode) / n,
        "bpp": sum(payload_bits) / n / pixels,
        "payload_over_estimate_pct": 100 * (sum(payload_bits) / sum(estimate_bits) - 1),
        "container_overhead_bytes": sum(overhead) / n,
    }


def training_crops(patchsize: int, batchsize: int, batches: int = 8, seed: int = 0):
    """`batches` batches [batchsize, patchsize, patchsize, 3] float32 of random crops."""
    import numpy as np

    import zoo
    from recipes import data as data_lib

    spec = FLAGS.train_data or str(Path(__file__).parent / "data" / "kodak")
    found = data_lib.scan_images(data_lib.image_paths(spec), patchsize)
    if not found.paths:
        raise app.UsageError(f"no image at {spec} is at least {patchsize}×{patchsize}")
    images = [zoo.read_image(p) for p in found.paths[:24]]
    rng = np.random.default_rng(seed)
    out = np.empty([batches, batchsize, patchsize, patchsize, 3], np.float32)
    for b in range(batches):
        for i in range(batchsize):
            image = images[rng.integers(len(images))]
            top = rng.integers(image.shape[0] - patchsize + 1)
            left = rng.integers(image.shape[1] - patchsize + 1)
            out[b, i] = image[top : top + patchsize, left : left + patchsize]
    return out


def measure_training(size: str, precision: str, crops) -> dict:
    """Times `--train_steps` training steps (after `--train_warmup`) of one configuration."""
    import tempfile

    import tensorflow as tf

    from recipes import trainer

    filters, latents, patchsize = TRAIN_SIZES[size]
    with tempfile.TemporaryDirectory(prefix="lic_bench_") as workdir:
        config = trainer.resolve_config(
            FLAGS.train_model, workdir, batchsize=FLAGS.train_batchsize, patchsize=patchsize,
            num_steps=FLAGS.train_warmup + FLAGS.train_steps, precision=precision,
            model_overrides={"num_filters": filters, "num_latents": latents})
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
        run = trainer.Trainer(config, strategy)
        dataset = tf.data.Dataset.from_tensor_slices(crops).repeat()
        iterator = iter(strategy.experimental_distribute_dataset(dataset))
        poison = tf.constant(1.0)
        start = time.perf_counter()
        for _ in range(max(1, FLAGS.train_warmup)):
            float(run.train_step(iterator, poison)["loss"])
        warmup_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(FLAGS.train_steps):
            loss = float(run.train_step(iterator, poison)["loss"])
        seconds = time.perf_counter() - start
        policy, reason = run.precision.policy, run.precision.reason
        del run
    steps_per_second = FLAGS.train_steps / seconds
    return {
        "size": size, "num_filters": filters, "num_latents": latents, "patchsize": patchsize,
        "batchsize": FLAGS.train_batchsize, "precision": policy, "precision_reason": reason,
        "steps": FLAGS.train_steps, "warmup_steps": max(1, FLAGS.train_warmup),
        "warmup_seconds": warmup_s, "seconds": seconds, "steps_per_second": steps_per_second,
        "images_per_second": steps_per_second * FLAGS.train_batchsize, "final_loss": loss,
    }


def main_train() -> None:
    import math

    import tensorflow as tf

    from recipes import trainer

    threads = trainer.configure_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)
    unknown = [s for s in FLAGS.train_sizes if s not in TRAIN_SIZES]
    if unknown or FLAGS.train_steps < 1:
        raise app.UsageError(f"--train_sizes from {', '.join(TRAIN_SIZES)}; --train_steps ≥ 1")
    auto = trainer.choose_precision("auto", "CPU", trainer.read_cpuinfo())
    rows = []
    for size in FLAGS.train_sizes:
        crops = training_crops(TRAIN_SIZES[size][2], FLAGS.train_batchsize)
        for precision in FLAGS.train_precisions:
            print(f"{FLAGS.train_model} {size} {precision}: {FLAGS.train_warmup} warm-up + "
                  f"{FLAGS.train_steps} timed steps …", flush=True)
            rows.append(measure_training(size, precision, crops))
            tf.keras.backend.clear_session()
    print(f"\nTraining throughput, {FLAGS.train_model}, batch {FLAGS.train_batchsize}, "
          f"{FLAGS.train_steps} timed steps after {FLAGS.train_warmup} warm-up; "
          f"{threads['cpu_cores_available']} CPU cores, threads intra "
          f"{threads['effective_intra_op'] or 'default'} / inter "
          f"{threads['effective_inter_op'] or 'default'}")
    print(f"--precision=auto here: {auto.policy} ({auto.reason})")
    print(f"{'size':<11}{'N':>5}{'M':>5}{'crop':>6}{'precision':>16}{'steps/s':>9}{'img/s':>8}"
          f"{'s/step':>8}{'vs fp32':>9}{'loss':>10}")
    for r in rows:
        base = next((b for b in rows if b["size"] == r["size"] and b["precision"] == "float32"),
                    None)
        ratio = r["steps_per_second"] / base["steps_per_second"] if base else math.nan
        print(f"{r['size']:<11}{r['num_filters']:>5}{r['num_latents']:>5}{r['patchsize']:>6}"
              f"{r['precision']:>16}{r['steps_per_second']:9.3f}{r['images_per_second']:8.2f}"
              f"{1 / r['steps_per_second']:8.2f}{ratio:9.2f}{r['final_loss']:10.2f}")
    if FLAGS.output:
        Path(FLAGS.output).write_text(json.dumps(
            {"rows": rows, "threads": threads, "auto": auto.__dict__}, indent=2))


def main(argv):
    del argv
    if FLAGS.train:
        return main_train()
    import zoo

    folder = Path(FLAGS.kodak) if FLAGS.kodak else Path(__file__).parent / "data" / "kodak"
    paths = kodak_landscape(folder, FLAGS.images)
    if not paths:
        raise app.UsageError(f"no 768×512 Kodak images in {folder}")
    images = [zoo.read_image(p) for p in paths]
    names = list(dict.fromkeys(FLAGS.models + ["mean_scale"]))
    rows = {}
    from tqdm import tqdm

    for name in tqdm(names, desc="models"):
        codec, kind = codec_for(name)
        rows[name] = {"weights": kind, **measure(codec, images)}
    base = rows["mean_scale"]
    print(f"\n{len(images)} Kodak images 768×512, min of {FLAGS.repeat} runs, "
          f"{os.cpu_count()} CPU cores")
    w = max(len(n) for n in rows) + 2
    print(f"{'model':<{w}}{'weights':<12}{'enc s':>8}{'dec s':>8}{'enc/ms':>8}{'dec/ms':>8}"
          f"{'bpp':>8}{'file/est %':>11}{'hdr B':>7}")
    for name, r in rows.items():
        print(f"{name:<{w}}{r['weights']:<12}{r['encode_s']:8.3f}{r['decode_s']:8.3f}"
              f"{r['encode_s'] / base['encode_s']:8.2f}{r['decode_s'] / base['decode_s']:8.2f}"
              f"{r['bpp']:8.3f}{r['payload_over_estimate_pct']:11.2f}"
              f"{r['container_overhead_bytes']:7.0f}")
    if FLAGS.output:
        Path(FLAGS.output).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    app.run(main)
