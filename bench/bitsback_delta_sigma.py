"""Figure 3.6 analogue: net codelength and auxiliary bits vs δ and σ on a random subset of held-out patches.

    OMP_NUM_THREADS=1 python bench/bitsback_delta_sigma.py --model natural --limit 16 \
        --out bench/results/bitsback_delta_sigma.json

For each (δ, σ) the same --limit random patches are coded one after another into one message, as ``dgmlab
compress`` codes them with ``--batch 1`` (Algorithm 3.4 over the compositional codec, whitened between patches),
for each of --seeds auxiliary-bit seeds; the net codelength and the auxiliary bits per
dimension are averaged over seeds; the model's variational bound on the same patches (mean of 4 one-sample
estimates) is the dashed line. Writes JSON and a PNG plot beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from bitsback_common import run_info, sample_patches

from dgmlab.coding import Message
from dgmlab.coding.local_bitsback import LocalParams, net_bits
from dgmlab.flows.compress import PatchCoders, push_batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="natural")
    ap.add_argument("--data", default="natural")
    ap.add_argument("--split", default="heldout", choices=("train", "heldout"))
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--log2-delta", type=int, nargs="+", default=[-16, -20, -24, -28, -32])
    ap.add_argument("--log2-sigma", type=int, nargs="+", default=[-6, -10, -14])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/bitsback_delta_sigma.json")
    args = ap.parse_args()
    info = run_info(args.threads)
    cm, x = sample_patches(args.model, args.data, args.limit, seed=1, split=args.split)
    with torch.no_grad():
        model, xt = cm.model.double(), torch.from_numpy(x).double()
        bound = float(np.mean([model.bits_per_dim(xt, torch.Generator().manual_seed(s)).mean().item()
                               for s in range(4)]))
    rows = []
    for ls in args.log2_sigma:
        for ld in args.log2_delta:
            params = LocalParams(delta=2.0**ld, sigma=2.0**ls)
            net, aux, coders = [], [], PatchCoders(cm.model, params, fuse=True)
            for seed in range(args.seeds):
                msg, _ = push_batches(Message(num_streams=1, seed=seed), x, coders, batch=1)
                net.append(net_bits(msg) / x.size)
                aux.append(msg.initial_bits_used() / x.size)
            rows.append({"log2_delta": ld, "log2_sigma": ls, "net_bpd": float(np.mean(net)),
                         "auxiliary_bits_per_dim": float(np.mean(aux))})
            print(rows[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": cm.model_id, "model_sha256": cm.sha256, "split": args.split,
                               "patches": len(x), "patch_shape": list(x.shape[1:]), "seeds": args.seeds,
                               "bound_bpd": bound, "rows": rows, **info}, indent=2) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ls in args.log2_sigma:
        sel = [r for r in rows if r["log2_sigma"] == ls]
        for ax, key in zip(axes, ("net_bpd", "auxiliary_bits_per_dim")):
            ax.plot([-r["log2_delta"] for r in sel], [r[key] for r in sel], marker="o", label=f"σ = 2^{ls}")
    axes[0].axhline(bound, color="k", linestyle="--", label="model bound")
    for ax, title in zip(axes, ("net codelength (bits/dim)", "auxiliary bits (bits/dim)")):
        ax.set_xlabel("-log2 δ")
        ax.set_title(title)
        ax.legend()
    axes[0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()
