"""Where a Flow++ model spends its bits on one image: the variational bound of every patch the coder would code, as
a map beside the image, and the net codelength of ``dgmlab compress`` at several stream counts.

The bound needs no coding, so a gap between it and the codelength is the coder's, and a high bound is the model's.

    python bench/flows_image_map.py --model natural --out bench/results/flows_hopper_map   # README's photo
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def hopper_path() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=hopper_path(), help="image file (default: matplotlib's grace_hopper.jpg)")
    p.add_argument("--model", default="natural", help="bundled model name or model.pt path")
    p.add_argument("--streams", type=int, nargs="*", default=[16, 1], help="also compress with these stream counts")
    p.add_argument("--out", required=True, help="output stem: writes STEM.json and STEM.png")
    args = p.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from dgmlab.flows.compress import (
        CompressConfig,
        compress_images,
        load_coding_model,
        read_image,
        tile_image,
    )
    from dgmlab.flows.evaluate import evaluate_bpd

    torch.set_num_threads(1)
    cm = load_coding_model(args.model)
    image, _ = read_image(args.image)
    patch = cm.model.config.image_size
    patches = tile_image(image, patch).transpose(0, 2, 3, 1).astype(np.uint8)
    rows, cols = -(-image.shape[0] // patch), -(-image.shape[1] // patch)
    bound = evaluate_bpd(cm.model, patches, progress=False)
    per_patch = np.array(bound["per_image_elbo"]).reshape(rows, cols)
    result = {"image": Path(args.image).name, "model": args.model, "patch": patch, "patches": len(patches),
              "bound_bpd": round(bound["bpd_elbo"], 4),
              "patch_bound_percentiles_10_50_90_max": [round(float(v), 3) for v in
                                                       np.percentile(per_patch, [10, 50, 90, 100])],
              "coded": []}
    for streams in args.streams:
        start = time.process_time()
        _, stats = compress_images([args.image], cm, CompressConfig(streams=streams), progress=False)
        n = stats["subpixels"]
        result["coded"].append({"streams": streams, "net_bpd": round(stats["net_bits"] / n, 4),
                                "file_bpd": round(8 * stats["file_bytes"] / n, 4),
                                "cpu_seconds": round(time.process_time() - start, 1)})
    fig, ax = plt.subplots(1, 2, figsize=(10, 5.5))
    ax[0].imshow(image.squeeze())
    ax[0].set_title(result["image"])
    shown = ax[1].imshow(per_patch, cmap="magma")
    ax[1].set_title(f"bound per {patch}x{patch} patch, mean {result['bound_bpd']:.2f} bits/subpixel")
    fig.colorbar(shown, ax=ax[1], fraction=0.046)
    for a in ax:
        a.set_axis_off()
    fig.tight_layout()
    fig.savefig(f"{args.out}.png", dpi=80)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
