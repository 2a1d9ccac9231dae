"""Camera-sized photos: seconds and peak memory of `python -m zoo compress` / `decompress`.

    python -m recipes.large_images --models hyperprior,joint --sizes 1,12,24,45,100

For each size (megapixels) a Kodak photo (kodim05 by default, from the copy shipped in
recipes) is upscaled with Lanczos to that many pixels at 3:2 and written as a PNG; then
each model's CLI compresses it and decompresses the file, each in its own process, as a
user would run them. Reported per run: wall seconds, the child process's own peak resident
memory (its VmHWM, read as it exits), the file's bpp, and for the decoded PNG its PSNR
against the upscaled input. Not `wait4`'s ru_maxrss: Linux carries a parent's peak RSS
into a child it starts with vfork (as `subprocess` does), so every child would report at
least this process's peak (its PSNR of two 100 MP images in float64, for one). Timings are printed, never
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
flags.DEFINE_string("output", None, "Optional JSON file for the numbers (and a Markdown "
                    "table beside it, same name with .md).")


def make_photo(source: Path, megapixels: float, target: Path) -> tuple[int, int]:
    """Upscales `source` to about `megapixels` at 3:2 (width ≥ height); returns (H, W)."""
    from PIL import Image

    height = int(round(math.sqrt(megapixels * 1e6 / 1.5)))
    width = int(round(height * 1.5))
    with Image.open(source) as photo:
        photo.convert("RGB").resize((width, height), Image.LANCZOS).save(target, compress_level=1)
    return height, width


#: Runs `python -m zoo ARGS` and, as it exits, writes its VmHWM (kB) to $PEAK_FILE.
_CLI_WITH_PEAK = """
import atexit, os, runpy, sys
def _peak():
    status = open("/proc/self/status").read()
    line = next(v for v in status.splitlines() if v.startswith("VmHWM:"))
    open(os.environ["PEAK_FILE"], "w").write(line.split()[1])
atexit.register(_peak)
sys.argv = ["zoo", *sys.argv[1:]]
runpy.run_module("zoo", run_name="__main__", alter_sys=True)
"""


def run(args: list[str]) -> tuple[float, float, str]:
    """Runs the CLI with `args`; returns (wall seconds, its peak RSS in GB, its stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        start = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", _CLI_WITH_PEAK, *args], stdout=out,
                               stderr=err, text=True, env={**os.environ, "PEAK_FILE": peak.name})
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if child.returncode:
            raise RuntimeError(f"zoo {' '.join(args)} failed:\n{err.read()[-2000:]}")
        return seconds, int(peak.read()) / 1e6, out.read()  # VmHWM: kilobytes


def measure(model: str, image: Path, shape, workdir: Path) -> dict:
    import numpy as np

    import zoo
    from zoo.metrics import psnr

    coded, decoded = workdir / f"{image.stem}.{model}.lic", workdir / f"{image.stem}.{model}.png"
    enc_s, enc_gb, _ = run(["compress", str(image), str(coded), "--model", model,
                            "--lmbda", f"{FLAGS.lmbda:g}"])
    dec_s, dec_gb, _ = run(["decompress", str(coded), str(decoded)])
    pixels = shape[0] * shape[1]
    quality = psnr(zoo.read_image(image), zoo.read_image(decoded))
    row = {"model": model, "height": shape[0], "width": shape[1], "megapixels": pixels / 1e6,
           "bpp": 8 * coded.stat().st_size / pixels, "psnr": float(np.round(quality, 3)),
           "encode_seconds": enc_s, "encode_peak_gb": enc_gb,
           "decode_seconds": dec_s, "decode_peak_gb": dec_gb}
    for path in (coded, decoded):
        path.unlink()
    return row


def markdown(rows: list[dict]) -> str:
    """The README's table of benchmark rows."""
    lines = ["| model | size | MP | bpp | PSNR (dB) | encode s | encode peak RSS | decode s "
             "| decode peak RSS |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(
            f"| `{row['model']}` | {row['width']}×{row['height']} | {row['megapixels']:.0f} | "
            f"{row['bpp']:.3f} | {row['psnr']:.2f} | {row['encode_seconds']:.0f} | "
            f"{row['encode_peak_gb']:.2f} GB | {row['decode_seconds']:.0f} | "
            f"{row['decode_peak_gb']:.2f} GB |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    from tqdm.auto import tqdm

    if not Path("/proc/self/status").is_file():
        raise SystemExit("needs Linux's /proc/<pid>/status (VmHWM) for the children's peak memory")
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
                Path(FLAGS.output).with_suffix(".md").write_text(markdown(rows))


if __name__ == "__main__":
    app.run(main)
