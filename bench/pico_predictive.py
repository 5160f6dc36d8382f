"""Bits per frame of PICO's kept latents coded under the VAE prior vs under the MDN-RNN's predictive distribution.

    OMP_NUM_THREADS=1 PYTHONPATH=python python bench/pico_predictive.py --run RUN --episodes HELDOUT/data \
        --out bench/results/pico_predictive.json

``RUN`` is a World Models run directory with a trained VAE and MDN-RNN (``dgmlab wm run --until rnn``); ``HELDOUT``
holds episodes the VAE and MDN-RNN never saw (``dgmlab wm collect`` with another base seed). Per held-out episode:
the sender's latents are samples of q(z | x) (the World Models agent's z, noise seeded by the track), the receiver
knows the recorded actions, and at each (step, budget) the same random block masks (the non-adaptive policy; k by
randomised rounding) are coded two ways, one bitstream per episode: ``pico.bitstream.encode`` (kept latents under
N(0, 1)) and ``pico.predictive.encode_video`` (under the MDN-RNN's mixture given the received latents, hold-previous
for dropped blocks). Both are decoded and checked to give the same latents. Bits per frame = 8 * bytes / frames,
everything included (headers, k, masks). Coding time is thread CPU time (``time.thread_time``) of encode + decode.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zlib
from math import comb, log2
from pathlib import Path

import numpy as np
import torch

from dgmlab.pico.bitstream import LatentCode, decode, encode
from dgmlab.pico.masking import budget_to_k, k_distribution, random_mask
from dgmlab.pico.predictive import decode_video, encode_video
from dgmlab.world_models.mdn_rnn import load_rnn
from dgmlab.world_models.storage import list_episodes, load_episode
from dgmlab.world_models.vae import load_vae, to_tensor

BLOCK = 4


def sender_latents(vae, obs: np.ndarray, seed: int) -> np.ndarray:
    """z = mean + std * noise per frame, noise from a generator seeded by the track (as the agent draws it)."""
    with torch.no_grad():
        parts = [vae.encode(to_tensor(obs[i:i + 256])) for i in range(0, len(obs), 256)]
    mean = torch.cat([p[0] for p in parts]).numpy()
    std = np.exp(0.5 * torch.cat([p[1] for p in parts]).numpy())
    rng = np.random.default_rng(seed)
    noise = np.stack([rng.standard_normal(mean.shape[1]).astype(np.float32) for _ in range(len(mean))])
    return (mean + std * noise).astype(np.float64)


def ideal_mask_bits(mask: np.ndarray, budget: float) -> float:
    """log2 C(K, k) + -log2 P(k) summed over frames: what k and the mask cost in either bitstream."""
    num_blocks = mask.shape[1]
    probs = k_distribution(budget, num_blocks)
    return float(sum(log2(comb(num_blocks, int(k))) - log2(probs[int(k)]) for k in mask.sum(1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, type=Path, help="World Models run directory (vae/, rnn/)")
    ap.add_argument("--episodes", required=True, type=Path, help="held-out episode directory (ep_*.npz)")
    ap.add_argument("--budgets", default="0.25,0.5,1", help="fractions of the 8 blocks kept")
    ap.add_argument("--steps", default="0.1,0.25,0.5", help="quantisation steps")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    vae, rnn = load_vae(args.run / "vae" / "vae.pt"), load_rnn(args.run / "rnn" / "rnn.pt")
    episodes = []
    for path in list_episodes(args.episodes):
        ep = load_episode(path)
        episodes.append((int(ep["seed"]), sender_latents(vae, ep["obs"], int(ep["seed"])), ep["action"]))
    rows = []
    for step in (float(s) for s in args.steps.split(",")):
        for budget in (float(b) for b in args.budgets.split(",")):
            code = LatentCode(BLOCK, step, budget)
            per_ep, cpu = [], 0.0
            for seed, z, actions in episodes:
                rng = np.random.default_rng(zlib.crc32(f"{seed} {budget:g}".encode()))
                num_blocks = z.shape[1] // BLOCK
                mask = random_mask(len(z), num_blocks, budget_to_k(budget, num_blocks, rng, len(z)), rng)
                prior = encode(z, mask, code)
                t0 = time.thread_time()
                video = encode_video(z, mask, actions, rnn, code)
                out = decode_video(video, rnn, actions)
                cpu += time.thread_time() - t0
                ref = decode(prior)
                if not (np.array_equal(out.mask, mask) and np.array_equal(out.values, ref.values, equal_nan=True)):
                    raise RuntimeError(f"episode {seed}: the two bitstreams decode to different latents")
                per_ep.append((len(z), 8 * len(prior), 8 * len(video), ideal_mask_bits(mask, budget), mask.sum()))
            frames, prior_bits, video_bits, mask_bits, kept = (np.array(c, np.float64) for c in zip(*per_ep))
            ratio = video_bits / prior_bits
            row = {"step": step, "budget": budget, "episodes": len(per_ep), "frames": int(frames.sum()),
                   "prior_bits_per_frame": float(prior_bits.sum() / frames.sum()),
                   "predictive_bits_per_frame": float(video_bits.sum() / frames.sum()),
                   "mask_bits_per_frame": float(mask_bits.sum() / frames.sum()),
                   "blocks_kept_per_frame": float(kept.sum() / frames.sum()),
                   "ratio": float(video_bits.sum() / prior_bits.sum()),
                   "ratio_episode_mean": float(ratio.mean()),
                   "ratio_episode_se": float(ratio.std(ddof=1) / np.sqrt(len(ratio))) if len(ratio) > 1 else 0.0,
                   "predictive_code_cpu_ms_per_frame": 1000 * cpu / float(frames.sum())}
            print(json.dumps(row), flush=True)
            rows.append(row)
    meta = {"run": str(args.run), "episodes": str(args.episodes), "seeds": [e[0] for e in episodes],
            "load_average": os.getloadavg(), "timing": "time.thread_time of encode_video + decode_video"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
