"""Camera-sized photos: seconds and peak memory of `python -m zoo compress` / `decompress`.

    python -m recipes.large_images --models hyperprior,joint --sizes 1,12,24,45,100

For each size (megapixels) a Kodak photo (kodim05 by default, from the copy shipped in
recipes) is upscaled with Lanczos to that many pixels at 3:2 and written as a PNG; then
each model's CLI compresses it and decompresses the file, each in its own process, as a
user would run them. Reported per run: wall seconds, the child process's peak resident
memory (`wait4`'s ru_maxrss, what `/usr/bin/time -v` prints), the file's bpp, and for
the decoded PNG its PSNR against the upscaled input. Timings are printed, never
asserted; the CPU may be shared.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["hyperprior", "joint"], "Registered names with shipped weights.")
flags.DEFINE_list("sizes", ["1", "12", "24", "45", "100"], "Image sizes in megapixels.")
flags.DEFINE_float("lmbda", 0.0130, "λ of the shipped weights.")
flags.DEFINE_string("photo", None, "Source photo (default: kodim05 shipped in recipes).")
flags.DEFINE_string("workdir", None, "Where the PNGs and files go (default: a temp dir).")
flags.DEFINE_string("output", None, "Optional JSON file for the numbers.")


def make_photo(source: Path, megapixels: float, target: Path) -> tuple[int, int]:
    """Upscales `source` to about `megapixels` at 3:2 (width ≥ height); returns (H, W)."""
    from PIL import Image

    height = int(round(math.sqrt(megapixels * 1e6 / 1.5)))
    width = int(round(height * 1.5))
    with Image.open(source) as photo:
        photo.convert("RGB").resize((width, height), Image.LANCZOS).save(target, compress_level=1)
    return height, width


def run(command: list[str]) -> tuple[float, float, str]:
    """Runs a command; returns (wall seconds, its peak RSS in GB, its stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if child.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{err.read()[-2000:]}")
        return seconds, usage.ru_maxrss / 1e6, out.read()  # ru_maxrss: kilobytes on Linux


def measure(model: str, image: Path, shape, workdir: Path) -> dict:
    import numpy as np

    import zoo
    from zoo.metrics import psnr

    coded, decoded = workdir / f"{image.stem}.{model}.lic", workdir / f"{image.stem}.{model}.png"
    cli = [sys.executable, "-m", "zoo"]
    enc_s, enc_gb, _ = run([*cli, "compress", str(image), str(coded), "--model", model,
                            "--lmbda", f"{FLAGS.lmbda:g}"])
    dec_s, dec_gb, _ = run([*cli, "decompress", str(coded), str(decoded)])
    pixels = shape[0] * shape[1]
    quality = psnr(zoo.read_image(image), zoo.read_image(decoded))
    row = {"model": model, "height": shape[0], "width": shape[1], "megapixels": pixels / 1e6,
           "bpp": 8 * coded.stat().st_size / pixels, "psnr": float(np.round(quality, 3)),
           "encode_seconds": enc_s, "encode_peak_gb": enc_gb,
           "decode_seconds": dec_s, "decode_peak_gb": dec_gb}
    for path in (coded, decoded):
        path.unlink()
    return row


def main(argv):
    del argv
    from tqdm.auto import tqdm

    if not hasattr(os, "wait4"):
        raise SystemExit("needs os.wait4 (POSIX) for the children's peak memory")
    source = Path(FLAGS.photo) if FLAGS.photo else (
        Path(__file__).parent / "data" / "kodak" / "kodim05.png")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(FLAGS.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = []
        jobs = [(float(mp), model) for mp in FLAGS.sizes for model in FLAGS.models]
        print(f"{'model':<12} {'size':>12} {'MP':>6} {'bpp':>7} {'PSNR':>6} "
              f"{'enc s':>7} {'enc GB':>7} {'dec s':>7} {'dec GB':>7}")
        made = {}
        for megapixels, model in tqdm(jobs, desc="large images", unit="run", leave=False):
            if megapixels not in made:
                path = workdir / f"photo_{megapixels:g}mp.png"
                made[megapixels] = (path, make_photo(source, megapixels, path))
            path, shape = made[megapixels]
            row = measure(model, path, shape, workdir)
            rows.append(row)
            tqdm.write(f"{model:<12} {row['width']:>5}×{row['height']:<6} {row['megapixels']:>6.1f} "
                       f"{row['bpp']:>7.4f} {row['psnr']:>6.2f} {row['encode_seconds']:>7.1f} "
                       f"{row['encode_peak_gb']:>7.2f} {row['decode_seconds']:>7.1f} "
                       f"{row['decode_peak_gb']:>7.2f}")
            if FLAGS.output:  # after every run: a long benchmark keeps what it measured
                Path(FLAGS.output).parent.mkdir(parents=True, exist_ok=True)
                Path(FLAGS.output).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    app.run(main)
