"""`python -m zoo`: compress and decompress files, list models.

    python -m zoo compress IN.png OUT.lic --model hyperprior --lmbda 0.013
    python -m zoo compress IN.png OUT.lic --weights run/weights.npz
    python -m zoo compress IN.png OUT.lic --weights vr/weights.npz --rate 4      # β or λ
    python -m zoo compress IN.png OUT.lic --weights vr/weights.npz --target_bpp 0.5
    python -m zoo compress IN.png OUT.lic --model hyperprior --target_psnr 32  # λ ladder
    python -m zoo compress IN.png OUT.lic --model hyperprior --lmbda 0.013 --effort refine
    python -m zoo decompress OUT.lic DECODED.png
    python -m zoo models
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _codec(args):
    import zoo

    if args.weights:
        return zoo.load(args.weights)
    if not args.model:
        raise zoo.ZooError("give --model NAME --lmbda L (pretrained) or --weights PATH")
    if args.lmbda is None:
        raise zoo.ZooError("--lmbda is required with --model")
    return zoo.get(args.model, lmbda=args.lmbda, metric=args.metric)


def cmd_compress(args) -> None:
    import zoo
    from zoo.codec import write_atomically

    if args.target_bpp is not None or args.target_psnr is not None:
        return _compress_to_target(args)
    codec = _codec(args)
    image = zoo.read_image(args.input, alpha=args.alpha)
    start = time.perf_counter()
    data = codec.compress(image, args.rate, effort=args.effort, progress=True)
    seconds = time.perf_counter() - start

    write_atomically(args.output, data)
    bpp = len(data) * 8 / (image.shape[0] * image.shape[1])
    rate = "" if args.rate is None else f", {codec.model.rate_parameter}={args.rate:g}"
    print(f"{args.output}: {len(data)} bytes, {bpp:.4f} bpp, {image.shape[1]}×{image.shape[0]}, "
          f"{codec!r}{rate}, {seconds:.2f} s")


def _compress_to_target(args) -> None:
    """--target_bpp / --target_psnr: a variable-rate codec, or --model's pretrained ladder."""
    import zoo
    from zoo.codec import write_atomically

    if args.rate is not None:
        raise zoo.ZooError("--rate and a target exclude each other: the target chooses the rate")
    if args.weights or (args.model and args.lmbda is not None):
        source = {"codec": _codec(args)}
    elif args.model:
        source = {"name": args.model, "metric": args.metric}
    else:
        raise zoo.ZooError("give --model NAME (its pretrained weights) or --weights PATH")
    image = zoo.read_image(args.input, alpha=args.alpha)
    start = time.perf_counter()
    data, report = zoo.compress_to_target(
        image, target_bpp=args.target_bpp, target_psnr=args.target_psnr, effort=args.effort,
        **source
    )
    seconds = time.perf_counter() - start
    write_atomically(args.output, data)
    print(f"{args.output}: {len(data)} bytes, {image.shape[1]}×{image.shape[0]}, {seconds:.2f} s")
    print(report.summary())
    if not report.satisfied:
        print("warning: the target is out of reach; wrote the closest file", file=sys.stderr)


def cmd_decompress(args) -> None:
    import zoo

    with open(args.input, "rb") as f:
        data = f.read()
    start = time.perf_counter()
    image = zoo.decompress(data, weights_path=args.weights, portable=args.portable,
                           progress=True)
    seconds = time.perf_counter() - start
    zoo.write_png(image, args.output)
    print(f"{args.output}: {image.shape[1]}×{image.shape[0]} PNG, {seconds:.2f} s")


def cmd_models(args) -> None:
    import zoo
    from zoo.registry import get_spec

    print("Registered models (create with zoo.create_model(name, **overrides)):")
    for name in zoo.list_models(include_tiny=args.all):
        spec = get_spec(name)
        print(f"  {name:<20} {spec.description}")
    entries = zoo.list_pretrained()
    print(f"\nPretrained weights ({len(entries)}; load with zoo.get(name, lmbda=..., metric=...)):")
    for entry in entries:
        print("  " + entry.summary())
    if not entries:
        print("  none shipped yet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compress", help="compress an image file")
    c.add_argument("input", help="any image Pillow reads")
    c.add_argument("output", help="compressed file to write")
    c.add_argument("--model", help="registered model name (pretrained weights)")
    c.add_argument("--lmbda", type=float, help="rate-distortion trade-off of the weights")
    c.add_argument("--metric", default="mse", choices=["mse", "ms-ssim"])
    c.add_argument("--weights", help="weights artifact from recipes.train instead of --model")
    c.add_argument("--alpha", default="error", choices=["error", "drop", "white"],
                   help="what to do with transparency (default: refuse)")
    c.add_argument("--rate", type=float,
                   help="rate parameter of a variable-rate model (β of learned_step, λ of "
                        "λ-parameterized models); default: the model's own")
    target = c.add_mutually_exclusive_group()
    target.add_argument("--target_bpp", type=float,
                        help="search the rate (β/λ, or the --model's pretrained λ ladder) for "
                             "the largest file with at most this many bits per pixel")
    target.add_argument("--target_psnr", type=float,
                        help="search for the smallest file with at least this PSNR (dB)")
    c.add_argument("--effort", default="fast",
                   help="encoder effort: fast (one-shot, default), refine (30 steps), max "
                        "(150 steps) or a number of steps refining the latents for this image; "
                        "slower, fewer bits, the same decoder (zoo.effort)")
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", help="decompress a file to PNG")
    d.add_argument("input")
    d.add_argument("output", help="PNG to write")
    d.add_argument("--weights", help="weights artifact, if the file was not made by pretrained weights")
    d.add_argument("--portable", action="store_true",
                   help="float64 decoding: the same pixels on any machine and thread count")
    d.set_defaults(func=cmd_decompress)

    m = sub.add_parser("models", help="list registered models and pretrained weights")
    m.add_argument("--all", action="store_true", help="include tiny test variants")
    m.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from zoo.errors import ZooError

    try:
        args.func(args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
