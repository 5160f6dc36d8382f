"""Held-out bits/subpixel of a Flow++ model next to PNG (optimised), WebP lossless and JPEG-XL lossless (effort 10).

Every image is coded on its own, as a user would compress it; codec sizes include each file's headers. The model
figure is the one-sample variational bound (and the importance-weighted estimate with --importance-samples); with
--code every image is also compressed on its own with ``dgmlab compress``'s defaults (local bits-back, 16 streams,
the patch size chosen from the image: a 64x64 image is coded whole by the bundled models) and its net codelength and
file size are reported.

    python bench/flows_compare.py --data natural --out bench/results/flows_codecs_natural.json   # codecs only
    python bench/flows_compare.py --model natural --data natural --out bench/results/flows_natural.json
    python bench/flows_compare.py --model car-racing --data car-racing --stride 4 \
        --out bench/results/flows_car_racing.json
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image


def png_bytes(image: np.ndarray) -> int:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=True)
    return buf.tell()


def webp_bytes(image: np.ndarray) -> int:
    data = imagecodecs.webp_encode(image, level=100, lossless=True, method=6)
    assert np.array_equal(imagecodecs.webp_decode(data), image)
    return len(data)


def jxl_bytes(image: np.ndarray) -> int:
    data = imagecodecs.jpegxl_encode(image, lossless=True, effort=10)
    assert np.array_equal(imagecodecs.jpegxl_decode(data), image)
    return len(data)


CODECS = {"png_optimised": png_bytes, "webp_lossless": webp_bytes, "jpegxl_lossless_e10": jxl_bytes}


def codec_bpd(images: np.ndarray) -> dict:
    """Bits per subpixel of each codec, summed over images coded one by one."""
    dims = images.size
    return {name: round(8 * sum(fn(im) for im in images) / dims, 4) for name, fn in CODECS.items()}


def clipped_breakdown(images: np.ndarray, per_image: list[float]) -> dict:
    """Mean model bits/subpixel of images grouped by their fraction of clipped (0 or 255) subpixels."""
    clipped = np.array([np.mean((im == 0) | (im == 255)) for im in images])
    bpd = np.asarray(per_image)
    out = {}
    for lo, hi in ((0.0, 0.01), (0.01, 0.1), (0.1, 1.01)):
        mask = (clipped >= lo) & (clipped < hi)
        if mask.any():
            out[f"[{lo:g}, {min(hi, 1):g})"] = {"images": int(mask.sum()), "bpd": round(float(bpd[mask].mean()), 3)}
    return out


def coded_bpd(model: str, images: np.ndarray, streams: int, patch: int | None = None) -> dict:
    """Net codelength and file size (bits/subpixel) of each image compressed on its own, as ``dgmlab compress``
    (``patch``: its ``--patch``; ``None``: its default, e.g. a 64x64 image coded whole by a size-independent model)."""
    import tempfile

    from dgmlab.flows.compress import CompressConfig, compress_images, load_coding_model

    cm = load_coding_model(model)
    net = files = aux = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, im in enumerate(images):
            path = Path(tmp) / f"{i}.png"
            Image.fromarray(im).save(path)
            _, stats = compress_images([path], cm, CompressConfig(streams=streams, patch=patch),
                                            progress=False)
            net, aux, files = net + stats["net_bits"], aux + stats["initial_bits"], files + 8 * stats["file_bytes"]
    return {"streams": streams, "patch": patch or "auto", "net_bpd": round(net / images.size, 4), "auxiliary_bpd": round(aux / images.size, 4),
            "file_bpd": round(files / images.size, 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="bundled model name or model.pt path (omit for codecs only)")
    p.add_argument("--data", required=True, help="dataset spec whose held-out split is used")
    p.add_argument("--stride", type=int, default=1, help="use every N-th held-out image")
    p.add_argument("--importance-samples", type=int, default=0)
    p.add_argument("--code", action="store_true", help="also compress every image with the model (slow)")
    p.add_argument("--streams", type=int, nargs="+", default=[16], help="rANS streams for --code")
    p.add_argument("--patch", type=int, default=None, help="patch side for --code (default: dgmlab compress's)")
    p.add_argument("--codecs-from", help="reuse codec figures from an earlier JSON of this script (same images)")
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args()

    from dgmlab.data.registry import load_images

    images = np.asarray(load_images(args.data, "heldout"))[:: args.stride]
    result = {
        "data": args.data,
        "split": "heldout",
        "stride": args.stride,
        "images": len(images),
        "shape": list(images.shape[1:]),
        "machine": platform.processor() or platform.machine(),
    }
    if args.codecs_from:
        earlier = json.loads(Path(args.codecs_from).read_text())
        same = {k: earlier.get(k) for k in ("data", "stride", "images", "shape")}
        if same != {k: result[k] for k in same}:
            raise ValueError(f"{args.codecs_from} was measured on other images: {same}")
        result.update(codecs_bpd=earlier["codecs_bpd"], codecs_seconds=earlier["codecs_seconds"])
    else:
        start = time.perf_counter()
        result["codecs_bpd"] = codec_bpd(images)
        result["codecs_seconds"] = round(time.perf_counter() - start, 1)
    if args.model:
        import torch

        from dgmlab.flows.cli import _load
        from dgmlab.flows.evaluate import evaluate_bpd

        torch.set_num_threads(1)
        model, _ = _load(args.model, "cpu")
        start = time.perf_counter()
        result["model"] = args.model
        scores = evaluate_bpd(model, images, args.importance_samples)
        result["model_bpd_by_clipped_fraction"] = clipped_breakdown(images, scores.pop("per_image_elbo"))
        result["model_bpd"] = scores
        result["model_seconds"] = round(time.perf_counter() - start, 1)
        if args.code:
            start = time.perf_counter()
            result["coded"] = [coded_bpd(args.model, images, n, args.patch) for n in args.streams]
            result["coded_seconds"] = round(time.perf_counter() - start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
