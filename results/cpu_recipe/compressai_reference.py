"""The per-step parity reference: CompressAI 1.2.8's ScaleHyperprior trained on this CPU.

Runs in its own virtualenv (PyTorch; not a dependency of the zoo):

    python3.11 -m venv /tmp/cai && /tmp/cai/bin/pip install compressai==1.2.8
    /tmp/cai/bin/python results/cpu_recipe/compressai_reference.py --seed 0 \
        --out results/cpu_recipe/parity/compressai_s0

Issue set-up: N=64, M=96, random 128² crops of CID22 training, batch 8, λ = 0.013
(λ·255²·MSE on [0, 1] + bpp, i.e. λ·MSE on 0..255), Adam 1e-4 for the model and 1e-3
for the entropy bottleneck's quantiles (auxiliary loss), gradient clipping at 1.0, as
CompressAI's example trainer does. After each stage (1k, 2k, 5k steps) the model's
tables are updated and every Kodak image is compressed to real range-coded strings and
decoded; bpp counts the strings' bytes (also y's and z's apart, `bpp_y_z`) and PSNR
compares the decoded 8-bit pixels with the input. Results go to OUT/eval_<steps>.json in the same form as parity_plot.py reads.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from compressai.models import ScaleHyperprior
from PIL import Image


def load_images(folder: Path, limit: int | None = None) -> list[np.ndarray]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")[:limit]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def random_batch(images, rng, batch: int, patch: int) -> torch.Tensor:
    crops = []
    for _ in range(batch):
        image = images[rng.integers(len(images))]
        top = rng.integers(image.shape[0] - patch + 1)
        left = rng.integers(image.shape[1] - patch + 1)
        crops.append(image[top:top + patch, left:left + patch])
    x = np.stack(crops).astype(np.float32) / 255.0
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def rd_loss(out, x, lmbda: float):
    n, _, h, w = x.shape
    bits = sum(torch.log(lik).sum() for lik in out["likelihoods"].values()) / -math.log(2)
    bpp = bits / (n * h * w)
    mse = torch.mean((out["x_hat"] - x) ** 2)
    return lmbda * 255 ** 2 * mse + bpp, bpp, mse


@torch.no_grad()
def evaluate(model, images) -> dict:
    model.eval()
    model.update(force=True)
    bpps, psnrs, parts = [], [], []
    for image in images:
        x = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        coded = model.compress(x)
        nbytes = sum(len(s) for strings in coded["strings"] for s in strings)
        # bpp of y's and z's strings apart (the zoo's files: payloads 0 and 1)
        parts.append([8 * sum(len(s) for s in strings) / (image.shape[0] * image.shape[1])
                      for strings in coded["strings"]])
        x_hat = model.decompress(coded["strings"], coded["shape"])["x_hat"]
        decoded = (x_hat.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round()
        mse = np.mean((decoded - image.astype(np.float64)) ** 2)
        bpps.append(8 * nbytes / (image.shape[0] * image.shape[1]))
        psnrs.append(10 * math.log10(255 ** 2 / mse))
    model.train()
    return {"bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs)),
            "bpp_y_z": np.mean(parts, axis=0).tolist(),
            "per_image": {"bpp": bpps, "psnr": psnrs}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", default="1000,2000,5000")
    parser.add_argument("--train_data", type=Path, default=Path("../shared/datasets/cid22/training"))
    parser.add_argument("--kodak", type=Path, default=Path("../shared/datasets/kodak"))
    parser.add_argument("--eval_images", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--lmbda", type=float, default=0.013)
    parser.add_argument("--save_dir", type=Path, default=Path("runs/compressai"),
                        help="state_dict of each stage (not committed)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = load_images(args.train_data)
    kodak = load_images(args.kodak, args.eval_images)
    model = ScaleHyperprior(64, 96)
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    optimizer = torch.optim.Adam(main_params, lr=1e-4)
    aux_optimizer = torch.optim.Adam(aux_params, lr=1e-3)
    args.out.mkdir(parents=True, exist_ok=True)
    stages = [int(s) for s in args.stages.split(",")]
    step, start, log = 0, time.perf_counter(), []
    for stage in stages:
        while step < stage:
            x = random_batch(train, rng, 8, 128)
            optimizer.zero_grad()
            aux_optimizer.zero_grad()
            loss, bpp, mse = rd_loss(model(x), x, args.lmbda)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(main_params, 1.0)
            optimizer.step()
            aux_loss = model.aux_loss()
            aux_loss.backward()
            aux_optimizer.step()
            step += 1
            if step % 100 == 0:
                log.append({"step": step, "loss": float(loss), "bpp": float(bpp),
                            "mse255": float(mse) * 255 ** 2,
                            "seconds": time.perf_counter() - start})
                print(json.dumps(log[-1]), flush=True)
        result = evaluate(model, kodak)
        result.update(steps=step, seed=args.seed, images=len(kodak),
                      train_seconds=time.perf_counter() - start)
        (args.out / f"eval_{stage}.json").write_text(json.dumps(result, indent=1))
        args.save_dir.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), args.save_dir / f"{args.out.name}_{stage}.pt")
        print(f"step {step}: {result['bpp']:.4f} bpp, {result['psnr']:.2f} dB", flush=True)
    (args.out / "training_log.json").write_text(json.dumps(log))


if __name__ == "__main__":
    main()
