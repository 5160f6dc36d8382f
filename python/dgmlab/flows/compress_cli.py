"""``dgmlab compress`` / ``dgmlab decompress``: lossless image compression with Flow++ (see
:mod:`dgmlab.flows.compress`). Heavy imports happen inside the handlers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _compress(args: argparse.Namespace) -> int:
    from dgmlab.flows.compress import CompressConfig, baseline_sizes, compress_images, load_coding_model

    try:
        cfg = CompressConfig(delta=args.delta, sigma=args.sigma, streams=args.streams, seed=args.seed,
                             batch=args.batch, patch=args.patch, threads=args.threads, device=args.device)
        cm = load_coding_model(args.model)
        data, stats = compress_images(args.images, cm, cfg, progress=not args.quiet)
    except ValueError as e:
        print(f"dgmlab compress: error: {e}", file=sys.stderr)
        return 2
    Path(args.output).write_bytes(data)
    n = stats["subpixels"]
    print(f"{len(args.images)} image(s), {n} subpixels -> {args.output}: {stats['file_bytes']} bytes")
    print(f"  net codelength   {stats['net_bits'] / n:.4f} bits/subpixel (auxiliary bits not counted, thesis 3.5)")
    print(f"  auxiliary bits   {stats['initial_bits'] / n:.4f} bits/subpixel (drawn from the seeded source)")
    print(f"  file (total)     {8 * stats['file_bytes'] / n:.4f} bits/subpixel")
    if args.compare:
        for name, size in baseline_sizes(args.images).items():
            print(f"  {name:<16} {8 * size / n:.4f} bits/subpixel")
    return 0


def _decompress(args: argparse.Namespace) -> int:
    from dgmlab.flows.compress import decompress_bytes, load_coding_model, write_png

    try:
        data = Path(args.file).read_bytes()
        cm = load_coding_model(args.model) if args.model else None
        images = decompress_bytes(data, cm, progress=not args.quiet)
    except (OSError, ValueError) as e:
        print(f"dgmlab decompress: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, img, mode in images:
        target = out / (Path(name).stem + ".png")
        write_png(target, img, mode)
        print(target)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compress", help="compress images losslessly with Flow++ and local bits-back coding")
    c.add_argument("images", nargs="+", help="8-bit RGB or greyscale images (any size)")
    c.add_argument("-o", "--output", required=True, help="compressed file to write")
    c.add_argument("--model", default="natural", help="bundled model name or checkpoint .pt (default: natural)")
    c.add_argument("--delta", type=float, default=2.0**-32, help="bin width δ (default 2^-32)")
    c.add_argument("--sigma", type=float, default=2.0**-14, help="noise level σ (default 2^-14)")
    c.add_argument("--streams", type=int, default=16, help="interleaved rANS streams")
    c.add_argument("--seed", type=int, default=0, help="seed of the auxiliary bits")
    c.add_argument("--batch", type=int, default=None,
                   help="patches per coding step (default: 4,096 pixels' worth; the auxiliary bits grow with it)")
    c.add_argument("--patch", type=int, default=None,
                   help="side of the square patches (default: the model's training size times a power of two, up "
                        "to 64, that pads the images least; a 64x64 image is coded whole)")
    c.add_argument("--threads", type=int, default=1, help="torch threads (recorded in the file)")
    c.add_argument("--device", default="cpu",
                   help="where the networks run: cpu, cuda or cuda:N (recorded; decoding needs the same kind)")
    c.add_argument("--compare", action="store_true", help="also print PNG / WebP / JPEG-XL lossless sizes")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_compress)
    x = sub.add_parser("decompress", help="decompress a file written by dgmlab compress")
    x.add_argument("file", help="compressed file")
    x.add_argument("-o", "--output", required=True, help="directory for the PNG images")
    x.add_argument("--model", default=None, help="checkpoint .pt (default: the bundled model recorded in the file)")
    x.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    x.set_defaults(func=_decompress)
