"""Seed 000's experiments at this machine's scale: VQ against SQ, and the effect of α.

    python -m recipes.vq_experiments --output results/vq [--quick]

32×32 images: tfds `cifar10` if it is prepared locally, otherwise random 32×32 crops of
the PNGs under --train_data (CID22 training) and --eval_data (CID22 validation).

Runs (each one model trained from scratch with Adam and a cosine learning-rate decay):
  * Fig. 1 left: VQ with m = 8 and m = 16 (2× downsampling, one code per position)
    and SQ (m = 1, 8× downsampling, 8 or 16 channels), for every k in --codes, at
    α = --alpha_rd;
  * Fig. 1 right: 'vq, 8' at k ∈ --alpha_codes for every α in --alphas;
  * Appendix: the learned q_c of 'vq, 8, k = 32' for every α.
α and β are the paper's (β = 1); λ = `zoo.models.vq.paper_lambda(codes per pixel)`
makes the zoo loss proportional to the paper's eq. 10 with MSE on [0, 1] images.

Writes <output>/rd.png (PSNR against bpp), <output>/qc_histograms.png,
<output>/results.json (every number plotted, plus the real coded rate of a few
evaluation images) and <output>/weights/vq8_k32_a<α>.npz (usable with
`python -m zoo compress --weights`).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

F = flags.FLAGS
flags.DEFINE_string("output", "results/vq", "Directory for plots, JSON and weights.")
flags.DEFINE_string("train_data", "/work/shared/datasets/cid22/training",
                    "PNG folder to crop 32×32 training patches from (if cifar10 is not prepared).")
flags.DEFINE_string("eval_data", "/work/shared/datasets/cid22/validation",
                    "PNG folder for evaluation crops (if cifar10 is not prepared).")
flags.DEFINE_bool("use_tfds", True, "Use tfds cifar10 when it is prepared locally.")
flags.DEFINE_bool("quick", False, "A ~2 minute run (idle 2-core CPU): small nets, 200 steps, "
                  "k ∈ {8, 32}, α sweep at k = 32 only.")
flags.DEFINE_integer("steps", None, "Training steps per model (default 3000; quick 200).")
flags.DEFINE_integer("batchsize", None, "Batch size (default 32; quick 16).")
flags.DEFINE_float("learning_rate", 1e-3, "Peak Adam learning rate (PyTorch's default, as the paper).")
flags.DEFINE_float("qc_learning_rate", 1e-2, "Adam learning rate of the q_c logits (they would "
                   "need ~10k steps at the transforms' rate; β plays this role in the paper).")
flags.DEFINE_integer("num_filters", None, "Transform width (default 64; quick 16).")
flags.DEFINE_integer("num_res_blocks", None, "Residual blocks (default 10 as the paper; quick 2).")
flags.DEFINE_list("codes", None, "Dictionary sizes k (default 8,16,32,64,128; quick 8,32).")
flags.DEFINE_list("alpha_codes", None, "k of the α sweep (default 8,32,128; quick 32).")
flags.DEFINE_list("alphas", ["0.01", "0.001", "0"], "α values of the α sweep (paper units).")
flags.DEFINE_float("alpha_rd", 0.001, "α of the VQ-against-SQ curves.")
flags.DEFINE_integer("eval_images", None, "Evaluation crops (default 1024; quick 256).")
flags.DEFINE_integer("coded_images", None, "Evaluation crops range coded for real (default 64; quick 16).")
flags.DEFINE_integer("seed", 0, "Random seed (data crops and initialization).")

PATCH = 32


# Data -----------------------------------------------------------------------------------


def _cifar10(split: str, count: int) -> np.ndarray | None:
    from recipes.data import DataError, tfds_images

    try:
        images = tfds_images("cifar10", split=split)
    except (DataError, ImportError):
        return None
    return np.stack([im.numpy() for im in images.take(count)])


def _png_crops(folder: str, count: int, rng: np.random.Generator, max_files: int) -> np.ndarray:
    """`count` random 32×32 crops (with random horizontal flips) of the PNGs in `folder`."""
    from PIL import Image

    from recipes.data import image_paths

    paths = image_paths(folder)
    paths = [paths[i] for i in sorted(rng.permutation(len(paths))[:max_files])]
    images = []
    for path in paths:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
        if min(array.shape[:2]) >= PATCH:
            images.append(array)
    crops = np.empty([count, PATCH, PATCH, 3], np.uint8)
    for i in range(count):
        image = images[rng.integers(len(images))]
        top = rng.integers(image.shape[0] - PATCH + 1)
        left = rng.integers(image.shape[1] - PATCH + 1)
        crop = image[top : top + PATCH, left : left + PATCH]
        crops[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return crops


def load_data(settings: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(training crops, evaluation crops, description of the source)."""
    if F.use_tfds:
        train = _cifar10("train", settings["train_images"])
        test = _cifar10("test", settings["eval_images"])
        if train is not None and test is not None:
            return train, test, "tfds cifar10"
    files = settings["max_files"]
    train = _png_crops(F.train_data, settings["train_images"], rng, files)
    test = _png_crops(F.eval_data, settings["eval_images"], rng, files)
    return train, test, f"32×32 crops of {F.train_data} (eval: {F.eval_data})"


# One model --------------------------------------------------------------------------------


def train_and_evaluate(config: dict, settings: dict, train: np.ndarray, test: np.ndarray,
                       seed: int, weights_path: Path | None = None) -> dict:
    """Trains one configuration; returns its rate, distortion and learned q_c."""
    import tensorflow as tf

    import zoo
    from zoo import container, metrics
    from zoo.models.vq import VQCompressionModel, paper_lambda

    tf.random.set_seed(seed)
    steps_down = config["downsample_steps"]
    codes_per_pixel = config["latent_channels"] // config["vector_size"] / 4**steps_down
    lmbda = paper_lambda(codes_per_pixel)
    model: VQCompressionModel = zoo.create_model(
        "vq", lmbda=lmbda, alpha=config["alpha"], beta=1.0, num_codes=config["k"],
        vector_size=config["vector_size"], latent_channels=config["latent_channels"],
        downsample_steps=steps_down, num_filters=settings["num_filters"],
        num_res_blocks=settings["num_res_blocks"],
    )
    warmup = max(1, settings["steps"] // 10)
    schedule = tf.keras.optimizers.schedules.CosineDecay(
        0.0, settings["steps"] - warmup, warmup_target=F.learning_rate, warmup_steps=warmup
    )  # warm-up then cosine: the paper's one-cycle schedule, simplified
    optimizer = tf.keras.optimizers.Adam(schedule)
    qc_optimizer = tf.keras.optimizers.Adam(F.qc_learning_rate)
    # Variables (the model's and Adam's) are created eagerly, before tracing the step.
    model(tf.zeros([1, PATCH, PATCH, 3]))
    logits = model.quantizer.logits
    variables = [v for v in model.trainable_variables if v is not logits]
    optimizer.build(variables)
    qc_optimizer.build([logits])

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            out = model.rd_losses(x, training=True)
            loss = tf.reduce_mean(out["loss"])
        *grads, qc_grad = tape.gradient(loss, [*variables, logits])
        optimizer.apply_gradients(zip(grads, variables))
        qc_optimizer.apply_gradients([(qc_grad, logits)])
        return loss

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(settings["steps"]):
        batch = train[rng.integers(len(train), size=settings["batchsize"])]
        loss = step(tf.constant(batch, tf.float32))
    train_seconds = time.perf_counter() - start
    if not math.isfinite(float(loss)):
        raise FloatingPointError(f"non-finite loss training {config}")

    mse, bits, counts = [], [], np.zeros(config["k"], np.int64)
    for i in range(0, len(test), 128):
        x = tf.constant(test[i : i + 128], tf.float32)
        terms = model.rate_terms(x, training=False)
        err = tf.reduce_mean(tf.square(x - tf.clip_by_value(terms["x_hat"], 0, 255)), (1, 2, 3))
        mse.append(err.numpy())
        bits.append(terms["hard_bits"].numpy())
        counts += np.bincount(terms["codes"].numpy().ravel(), minlength=config["k"])
    mse, bits = np.concatenate(mse), np.concatenate(bits)
    q_c = tf.nn.softmax(model.quantizer.logits).numpy()
    usage = counts / counts.sum()
    nonzero = usage[usage > 0]

    # Real files for a few evaluation crops: payload bytes (the container header excluded).
    codec = zoo.Codec(model)
    coded = 0
    for image in test[: settings["coded_images"]]:
        data, reconstruction = codec.compress_with_reconstruction(image)
        coded += 8 * len(container.unpack(data)[1][0])
    if not np.array_equal(codec.decompress(data), reconstruction):
        raise AssertionError(f"round trip is not bit-exact for {config}")
    if weights_path is not None:
        zoo.weights.save(model, weights_path, experiment=config)

    return {
        **config,
        "lmbda": lmbda,
        "codes_per_pixel": codes_per_pixel,
        "bpp": float(bits.mean() / PATCH**2),
        "bpp_coded": float(coded / settings["coded_images"] / PATCH**2),
        "bpp_estimate_coded_subset": float(bits[: settings["coded_images"]].mean() / PATCH**2),
        "mse": float(mse.mean()),
        "psnr": metrics.psnr_from_mse(float(mse.mean())),
        "code_entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()),
        "codes_used": int((counts > 0).sum()),
        "q_c": q_c.round(6).tolist(),
        "code_usage": usage.round(6).tolist(),
        "train_seconds": round(train_seconds, 1),
    }


# Plots ------------------------------------------------------------------------------------


def _label(r: dict) -> str:
    if r["vector_size"] == 1:
        return f"sq, {r['latent_channels']}"
    return f"vq, {r['vector_size']}"


def plot(results: list[dict], alpha_rd: float, output: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    rd = [r for r in results if r["role"] == "rd"]
    for label in sorted({_label(r) for r in rd}):
        points = sorted((r for r in rd if _label(r) == label), key=lambda r: r["k"])
        line, = left.plot([r["bpp"] for r in points], [r["psnr"] for r in points], "o-",
                          label=label)
        for r in points:
            left.annotate(f"k={r['k']}", (r["bpp"], r["psnr"]), fontsize=7,
                          textcoords="offset points", xytext=(3, -9), color=line.get_color())
    left.set_title(f"VQ against SQ (α = {alpha_rd:g})")
    sweep = [r for r in results if r["role"] in ("alpha", "rd") and _label(r) == "vq, 8"]
    for k in sorted({r["k"] for r in results if r["role"] == "alpha"}):
        points = sorted((r for r in sweep if r["k"] == k), key=lambda r: -r["alpha"])
        line, = right.plot([r["bpp"] for r in points], [r["psnr"] for r in points], "o-",
                           label=f"vq, 8, k={k}")
        for r in points:
            right.annotate(f"α={r['alpha']:g}", (r["bpp"], r["psnr"]), fontsize=7,
                           textcoords="offset points", xytext=(3, -9), color=line.get_color())
    right.set_title("'vq, 8': the soft cross-entropy weight α")
    for ax in (left, right):
        ax.set_xlabel("bits per pixel (hard cross-entropy under q_c)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(True, alpha=0.3)
        ax.margins(0.12)  # room for the point labels
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    figure.tight_layout()
    rd_path = output / "rd.png"
    figure.savefig(rd_path, dpi=110)
    plt.close(figure)

    hist = sorted((r for r in results if r["role"] in ("alpha", "rd") and _label(r) == "vq, 8"
                   and r["k"] == 32), key=lambda r: r["alpha"])
    seen, unique = set(), []
    for r in hist:
        if r["alpha"] not in seen:
            seen.add(r["alpha"])
            unique.append(r)
    figure, axes = plt.subplots(1, max(1, len(unique)), figsize=(4.2 * max(1, len(unique)), 3.4),
                                squeeze=False)
    for ax, r in zip(axes[0], unique):
        index = np.arange(r["k"])
        ax.bar(index, r["q_c"], color="tab:blue", label="learned q_c")
        ax.plot(index, r["code_usage"], "k.", label="code frequency (eval)")
        ax.set_title(f"'vq, 8, k=32', α = {r['alpha']:g}: {r['bpp']:.3f} bpp, "
                     f"{r['psnr']:.1f} dB", fontsize=9)
        ax.set_xlabel("code index")
        ax.set_ylabel("probability")
        ax.legend(fontsize=7)
    figure.tight_layout()
    hist_path = output / "qc_histograms.png"
    figure.savefig(hist_path, dpi=110)
    plt.close(figure)
    return [rd_path, hist_path]


# Driver -----------------------------------------------------------------------------------


def resolve_settings() -> dict:
    quick = F.quick

    def pick(value, full, fast):
        return value if value is not None else (fast if quick else full)

    return {
        "quick": quick,
        "steps": pick(F.steps, 3000, 200),
        "batchsize": pick(F.batchsize, 32, 16),
        "num_filters": pick(F.num_filters, 64, 16),
        "num_res_blocks": pick(F.num_res_blocks, 10, 2),
        "codes": [int(k) for k in pick(F.codes, ["8", "16", "32", "64", "128"], ["8", "32"])],
        "alpha_codes": [int(k) for k in pick(F.alpha_codes, ["8", "32", "128"], ["32"])],
        "alphas": [float(a) for a in F.alphas],
        "alpha_rd": F.alpha_rd,
        "eval_images": pick(F.eval_images, 1024, 256),
        "coded_images": pick(F.coded_images, 64, 16),
        "train_images": 4000 if quick else 20000,
        "max_files": 40 if quick else 1000,
        "learning_rate": F.learning_rate,
        "qc_learning_rate": F.qc_learning_rate,
        "seed": F.seed,
    }


def experiment_configs(settings: dict) -> list[dict]:
    """Every model to train, each with the figure it belongs to (`role`)."""
    configs = []
    for m in (8, 16):
        for k in settings["codes"]:
            configs.append({"role": "rd", "vector_size": m, "latent_channels": m,
                            "downsample_steps": 1, "k": k, "alpha": settings["alpha_rd"]})
    for channels in (8, 16):
        for k in settings["codes"]:
            configs.append({"role": "rd", "vector_size": 1, "latent_channels": channels,
                            "downsample_steps": 3, "k": k, "alpha": settings["alpha_rd"]})
    for alpha in settings["alphas"]:
        for k in settings["alpha_codes"]:
            if alpha == settings["alpha_rd"] and k in settings["codes"]:
                continue  # already trained for the left panel
            configs.append({"role": "alpha", "vector_size": 8, "latent_channels": 8,
                            "downsample_steps": 1, "k": k, "alpha": alpha})
    return configs


def main(argv: list[str]) -> None:
    del argv
    output = Path(F.output)
    (output / "weights").mkdir(parents=True, exist_ok=True)
    settings = resolve_settings()
    rng = np.random.default_rng(settings["seed"])
    train, test, source = load_data(settings, rng)
    print(f"data: {source}; {len(train)} training and {len(test)} evaluation 32×32 images")
    configs = experiment_configs(settings)
    results = []
    start = time.perf_counter()
    for i, config in enumerate(configs):
        weights_path = None
        if config["vector_size"] == 8 and config["k"] == 32:
            weights_path = output / "weights" / f"vq8_k32_a{config['alpha']:g}.npz"
        result = train_and_evaluate(config, settings, train, test, settings["seed"] + i,
                                    weights_path)
        results.append(result)
        print(f"[{i + 1:2d}/{len(configs)}] {_label(result):8s} k={result['k']:<4d} "
              f"α={result['alpha']:<6g} {result['bpp']:.3f} bpp (coded {result['bpp_coded']:.3f})"
              f"  {result['psnr']:.2f} dB  {result['codes_used']}/{result['k']} codes used"
              f"  [{time.perf_counter() - start:.0f} s]", flush=True)
    paths = plot(results, settings["alpha_rd"], output)
    record = {"settings": settings, "data": source, "results": results,
              "seconds": round(time.perf_counter() - start, 1)}
    (output / "results.json").write_text(json.dumps(record, indent=1))
    for path in [*paths, output / "results.json"]:
        print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
