"""Per-block KL(q(z_b | x) || p(z_b)) of a World Models VAE over recorded frames, and which blocks PICO's default
``informative_kl`` threshold would rank last.

    OMP_NUM_THREADS=1 PYTHONPATH=python python bench/pico_block_kl.py --run WM_RUN --out bench/results/pico_car_kl.json

``WM_RUN`` is a ``dgmlab wm run`` directory: the VAE (``vae/vae.pt``) encodes the frames of its collected episodes
(``data/ep_*.npz``), and the KL of each block of ``--block-size`` latents is averaged over all frames (nats).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from dgmlab.pico.core import PICOConfig
from dgmlab.pico.domain import gaussian_block_kl
from dgmlab.pico.masking import informative_blocks
from dgmlab.world_models.vae import load_vae, to_tensor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, type=Path, help="World Models run directory")
    ap.add_argument("--block-size", type=int, default=4, help="latents per PICO block (car racing: 4)")
    ap.add_argument("--episodes", type=int, default=0, help="use the first N episodes (0: all)")
    ap.add_argument("--threshold", type=float, default=PICOConfig.informative_kl, help="nats per block")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.thread_time()
    vae = load_vae(args.run / "vae" / "vae.pt")
    files = sorted((args.run / "data").glob("ep_*.npz"))[: args.episodes or None]
    if not files:
        raise SystemExit(f"--run: no episodes under {args.run / 'data'}")
    mus, logvars = [], []
    with torch.no_grad():
        for f in files:
            mu, logvar = vae.encode(to_tensor(np.load(f)["obs"]))
            mus.append(mu.double().numpy())
            logvars.append(logvar.double().numpy())
    mu, logvar = np.concatenate(mus), np.concatenate(logvars)
    kl = gaussian_block_kl(mu, logvar, args.block_size)
    per_latent = gaussian_block_kl(mu, logvar, 1)
    informative = informative_blocks(kl, args.threshold, len(kl))
    out = {"run": str(args.run), "frames": len(mu), "episodes": len(files), "block_size": args.block_size,
           "threshold": args.threshold, "block_kl": kl.tolist(), "informative": informative.tolist(),
           "latent_kl_min": float(per_latent.min()), "latent_kl_max": float(per_latent.max()),
           "thread_cpu_s": time.thread_time() - t0, "load_average": os.getloadavg()}
    print(json.dumps(out, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
