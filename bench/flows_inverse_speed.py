"""Flow++ inverse (sampling, black-box decoding) with the native mixture-CDF inverse vs the torch bisection.

    OMP_NUM_THREADS=1 python bench/flows_inverse_speed.py --model natural --n 16 --size 32 \\
        --out bench/results/flows_inverse_speed.json

Times ``model.sample(n, size)`` (latents through every coupling's inverse) with
``dgmlab.flows.mixlogistic.mixlogistic_inverse`` (the native float64 Newton-bisection kernel, what the package
uses) and with ``mixlogistic_inverse_reference`` (the torch bisection it replaced) patched in, same latents. Process
CPU seconds (``time.process_time``), median of --repeats after a warm-up; run with OMP_NUM_THREADS equal to
--threads. Also reports the largest difference between the two samples' pre-floor values.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from bitsback_common import run_info
from dgmlab.flows import couplings, mixlogistic
from dgmlab.flows.compress import load_coding_model


def _timed_inverse(model, z: torch.Tensor, inverse, repeats: int) -> tuple[float, torch.Tensor]:
    couplings.mixlogistic_inverse = inverse
    try:
        with torch.no_grad():
            x = model.inverse(z)
            times = []
            for _ in range(repeats):
                t0 = time.process_time()
                model.inverse(z)
                times.append(time.process_time() - t0)
    finally:
        couplings.mixlogistic_inverse = mixlogistic.mixlogistic_inverse
    return statistics.median(times), x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="natural")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/flows_inverse_speed.json")
    args = ap.parse_args()
    info = run_info(args.threads)
    cm = load_coding_model(args.model)
    model = cm.model.double().eval()
    squeezes = sum(section == "squeeze" for section in model.config.architecture)
    shape = (args.n, model.config.channels * 4**squeezes, args.size >> squeezes, args.size >> squeezes)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    native, x_native = _timed_inverse(model, z, mixlogistic.mixlogistic_inverse, args.repeats)
    reference, x_reference = _timed_inverse(model, z, mixlogistic.mixlogistic_inverse_reference, args.repeats)
    result = {"model": cm.model_id, "model_sha256": cm.sha256, "latent_shape": list(shape),
              "native_cpu_s": native, "torch_bisection_cpu_s": reference, "speedup": reference / native,
              "max_abs_difference": float((x_native - x_reference).abs().max()),
              "timer": "time.process_time (CPU seconds)", "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
              "repeats": args.repeats, **info}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
