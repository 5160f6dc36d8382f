"""Table 3.3 analogue: a Flow++ model's variational bound vs the net codelength of local bits-back coding.

    python bench/bitsback_codelength.py --model runs/bb_tiny16/model.pt --limit 64 \
        --out bench/results/bitsback_codelength.json

Held-out patches are coded in batches into one message (Algorithm 3.4 over the compositional codec). "bound (same
noise)" is Eq. 3.44 evaluated at the noise ū the coder itself drew; "bound (fresh noise)" is the model's one-sample
-ELBO averaged over --bound-samples fresh draws (what training reports); auxiliary bits are listed separately.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bitsback_common import sample_patches, run_info
from dgmlab.coding import Message
from dgmlab.coding.local_bitsback import LocalParams, net_bits
from dgmlab.flows.local_coding import FlowPlusPlusCoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="natural")
    ap.add_argument("--data", default="natural")
    ap.add_argument("--split", default="heldout", choices=("train", "heldout"))
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--bound-samples", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/bitsback_codelength.json")
    args = ap.parse_args()
    info = run_info(args.threads)
    cm, x = sample_patches(args.model, args.data, args.limit, split=args.split)
    msg, same_noise = Message(num_streams=16, seed=0), 0.0
    t0 = time.perf_counter()
    for lo in range(0, len(x), args.batch):
        xb = x[lo:lo + args.batch]
        coder = FlowPlusPlusCoder(cm.model, xb.shape, LocalParams())
        u = coder.dequantizer(xb.astype(np.float64)).pop(msg.copy())
        same_noise += float(coder.theoretical_bits(xb, u).sum())
        coder.codec().push(msg, xb)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        xt = torch.from_numpy(x).double()
        model = cm.model.double()
        fresh = np.mean([model.bits_per_dim(xt, torch.Generator().manual_seed(s)).mean().item()
                         for s in range(args.bound_samples)])
    dims = x.size
    result = {"model": cm.model_id, "split": args.split, "model_sha256": cm.sha256, "data": args.data, "patches": len(x),
              "patch_shape": list(x.shape[1:]), "delta": 2.0**-32, "sigma": 2.0**-14,
              "bound_fresh_noise_bpd": fresh, "bound_same_noise_bpd": same_noise / dims,
              "net_codelength_bpd": net_bits(msg) / dims, "gap_bpd": net_bits(msg) / dims - same_noise / dims,
              "auxiliary_bits_per_dim": msg.initial_bits_used() / dims, "encode_seconds": seconds, **info}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
