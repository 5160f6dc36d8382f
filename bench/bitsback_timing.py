"""Tables 3.4 / 3.5 analogue: encode and decode seconds per image, black box vs compositional vs the net alone.

    python bench/bitsback_timing.py --model runs/bb_tiny16/model.pt --out bench/results/bitsback_timing.json

Black box: Algorithm 3.1 on the whole model flow (Jacobian by autograd, one image at a time, batch 1) inside
Algorithm 3.4. Compositional: Section 3.5.4.3 inside Algorithm 3.4, batch 1 and --batch. Net alone: one float64
pass of the dequantizer and the model flow (the -ELBO) on the same batch, no coding. Each figure is the median of
--repeats runs divided by the batch size, on the CPU with --threads torch threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from bitsback_common import sample_patches, run_info
from dgmlab.coding import Message
from dgmlab.coding.local_bitsback import Dequantized, LocalParams
from dgmlab.flows.local_coding import FlowPlusPlusCoder


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _coding_times(coder: FlowPlusPlusCoder, codec, x: np.ndarray, repeats: int) -> tuple[float, float]:
    enc, dec = [], []
    for _ in range(repeats):
        msg = Message(num_streams=16, seed=0)
        t0 = time.perf_counter()
        codec.push(msg, x)
        t1 = time.perf_counter()
        out = codec.pop(msg)
        t2 = time.perf_counter()
        assert np.array_equal(out, x)
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    return statistics.median(enc) / len(x), statistics.median(dec) / len(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="natural")
    ap.add_argument("--data", default="natural")
    ap.add_argument("--split", default="heldout", choices=("train", "heldout"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/bitsback_timing.json")
    args = ap.parse_args()
    info = run_info(args.threads)
    cm, x = sample_patches(args.model, args.data, args.batch, split=args.split)
    rows = {}
    for batch in (1, args.batch):
        coder = FlowPlusPlusCoder(cm.model, x[:batch].shape, LocalParams())
        enc, dec = _coding_times(coder, coder.codec(), x[:batch], args.repeats)
        rows[f"compositional, batch {batch}"] = {"encode_s": enc, "decode_s": dec}
        xt = torch.from_numpy(x[:batch]).double()
        with torch.no_grad():
            net = _median_seconds(lambda: coder.model.elbo(xt, torch.Generator().manual_seed(0)), args.repeats)
        rows[f"neural net alone, batch {batch}"] = {"encode_s": net / batch, "decode_s": net / batch}
    coder = FlowPlusPlusCoder(cm.model, x[:1].shape, LocalParams())
    blackbox = Dequantized(coder.blackbox_codec(), coder.dequantizer, levels=(0, 255))
    enc, dec = _coding_times(coder, blackbox, x[:1], 1)
    rows["black box, batch 1"] = {"encode_s": enc, "decode_s": dec}
    comp = rows[f"compositional, batch {args.batch}"]
    net = rows[f"neural net alone, batch {args.batch}"]
    result = {"model": cm.model_id, "split": args.split, "patch_shape": list(x.shape[1:]), "rows": rows,
              "compositional_over_net_batch": comp["encode_s"] / net["encode_s"],
              "blackbox_over_compositional_batch1": enc / rows["compositional, batch 1"]["encode_s"],
              "repeats": args.repeats, **info}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
