"""Tables 3.4 / 3.5 analogue: encode and decode seconds per image, black box vs compositional vs the net alone.

    OMP_NUM_THREADS=1 python bench/bitsback_timing.py --model natural --batch 64 \
        --out bench/results/bitsback_timing.json

Black box: Algorithm 3.1 on the whole model flow (Jacobian by autograd, one image at a time, batch 1) inside
Algorithm 3.4. Compositional: Section 3.5.4.3 inside Algorithm 3.4 as ``dgmlab compress`` runs it (actnorm + 1x1
convolution runs fused into per-pixel blocks), batch 1 and --batch. Net alone: one float64 pass of the dequantizer
and the model flow (the -ELBO) on the same batch, no coding. Times are process CPU seconds (``time.process_time``:
every thread of the process, so the load of a shared machine does not inflate them; run with OMP_NUM_THREADS equal
to --threads so the native kernels use as many threads as torch). Each figure is the median of --repeats runs,
interleaved (net, encode, decode per repeat) after one warm-up run, divided by the batch size.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from bitsback_common import run_info, sample_patches, write_result

from dgmlab.coding import Message
from dgmlab.coding.local_bitsback import Dequantized, LocalParams
from dgmlab.flows.local_coding import FlowPlusPlusCoder


def _times(coder: FlowPlusPlusCoder, codec, x: np.ndarray, repeats: int, net: bool = True,
           warmup: bool = True) -> dict[str, float]:
    """Median CPU seconds per image of the net alone, encoding and decoding (after one warm-up run)."""
    xt = torch.from_numpy(x).double()
    runs: dict[str, list[float]] = {"net_s": [], "encode_s": [], "decode_s": []}
    for r in range(int(not warmup), repeats + 1):
        t0 = time.process_time()
        if net:
            with torch.no_grad():
                coder.model.elbo(xt, torch.Generator().manual_seed(0))
        t1 = time.process_time()
        msg = Message(num_streams=16, seed=0)
        codec.push(msg, x)
        t2 = time.process_time()
        out = codec.pop(msg)
        t3 = time.process_time()
        assert np.array_equal(out, x)
        if r:  # the first run warms up torch's and the coder's buffers
            for key, t in zip(runs, (t1 - t0, t2 - t1, t3 - t2)):
                runs[key].append(t / len(x))
    return {key: statistics.median(v) for key, v in runs.items() if v and (net or key != "net_s")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="natural")
    ap.add_argument("--data", default="natural")
    ap.add_argument("--split", default="heldout", choices=("train", "heldout"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/bitsback_timing.json")
    args = ap.parse_args()
    info = run_info(args.threads)
    cm, x = sample_patches(args.model, args.data, args.batch, split=args.split)
    rows = {}
    for batch in (1, args.batch):
        coder = FlowPlusPlusCoder(cm.model, x[:batch].shape, LocalParams(), fuse=True)
        t = _times(coder, coder.codec(), x[:batch], args.repeats)
        rows[f"compositional, batch {batch}"] = {"encode_s": t["encode_s"], "decode_s": t["decode_s"]}
        rows[f"neural net alone, batch {batch}"] = {"encode_s": t["net_s"], "decode_s": t["net_s"]}
    coder = FlowPlusPlusCoder(cm.model, x[:1].shape, LocalParams())
    blackbox = Dequantized(coder.blackbox_codec(), coder.dequantizer, levels=(0, 255))
    rows["black box, batch 1"] = _times(coder, blackbox, x[:1], 1, net=False, warmup=False)
    comp, net = rows[f"compositional, batch {args.batch}"], rows[f"neural net alone, batch {args.batch}"]
    comp1 = rows["compositional, batch 1"]
    result = {"model": cm.model_id, "model_sha256": cm.sha256, "split": args.split,
              "patch_shape": list(x.shape[1:]), "rows": rows, "timer": "time.process_time (CPU seconds)",
              "compositional_over_net_batch": {k: comp[k] / net[k] for k in comp},
              "blackbox_over_compositional_batch1": {k: rows["black box, batch 1"][k] / comp1[k] for k in comp1},
              "repeats": args.repeats, **info}
    write_result(args.out, result)


if __name__ == "__main__":
    main()
