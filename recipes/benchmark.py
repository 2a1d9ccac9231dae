"""Codec speed and file-size overhead per family, on Kodak images (768×512).

    python -m recipes.benchmark --models factorized,hyperprior,mean_scale --images 3

For each model: encode and decode seconds per image (the minimum over `--repeat`
runs after a warm-up, as timing on a shared CPU is noisy), the ratio to `mean_scale`
measured in the same run, the payload size against the model's own rate estimate
(information content), and the container's overhead in bytes. Pretrained weights are
used where they exist (`--lmbda`); otherwise freshly built full-size models, whose
speed is representative but whose rate estimate is not (untrained priors put many
symbols in the range coder's escape region).
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


def main(argv):
    del argv
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
