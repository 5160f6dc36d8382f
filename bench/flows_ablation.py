"""Small-scale replication of Table 3.2's ablation direction: Flow++ vs uniform dequantization, affine coupling and
no self-attention, each trained with the same steps, batch and seed, evaluated on the same held-out images.

    python bench/flows_ablation.py --data natural --steps 400 --out bench/results/flows_ablation.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ABLATIONS = {
    "flow++": {},
    "uniform dequantization": {"dequantization": "uniform"},
    "affine coupling": {"coupling": "affine"},
    "no self-attention": {"attention": False},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="natural")
    p.add_argument("--model", default="tiny", help="named base config")
    p.add_argument("--set", nargs="*", default=["image_size=16", "filters=16"], help="base config overrides")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--heldout-stride", type=int, default=1, help="evaluate every N-th held-out image")
    p.add_argument("--runs", default="/tmp/dgmlab_flows_ablation", help="folder for the training runs")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    from dgmlab.data.registry import load_images
    from dgmlab.flows.evaluate import evaluate_bpd
    from dgmlab.flows.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    base = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    heldout = np.asarray(load_images(args.data, "heldout"))[:: args.heldout_stride]
    rows = {}
    for name, change in ABLATIONS.items():
        cfg = TrainConfig(
            data=args.data,
            model=args.model,
            overrides={**base, **change},
            steps=args.steps,
            batch_size=args.batch_size,
            warmup=min(200, args.steps // 4),
            eval_every=10**9,
        )
        trainer = Trainer(cfg, Path(args.runs) / name.replace(" ", "_").replace("+", "p"))
        start = time.process_time()
        trainer.run(progress=False)
        seconds = time.process_time() - start
        result = evaluate_bpd(trainer.ema, heldout, progress=False)
        params = sum(q.numel() for q in trainer.model.parameters())
        rows[name] = {
            "heldout_bpd": round(result["bpd_elbo"], 4),
            "params": params,
            "train_cpu_seconds": round(seconds, 1),
            "overrides": {**base, **change},
        }
        print(name, rows[name], flush=True)
    out = {
        "command": "python bench/flows_ablation.py " + " ".join(sys.argv[1:]),
        "data": args.data,
        "model": args.model,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "heldout_images": len(heldout),
        "results": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
