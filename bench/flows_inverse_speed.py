"""Flow++ inverse (sampling, black-box decoding) with the native mixture-CDF inverse vs the torch bisection.

    OMP_NUM_THREADS=1 python bench/flows_inverse_speed.py --model natural --n 16 --size 32 \\
        --out bench/results/flows_inverse_speed.json

Times ``model.sample(n, size)`` (latents through every coupling's inverse) with
``dgmlab.flows.mixlogistic.mixlogistic_inverse`` (the native float64 Newton-bisection kernel, what the package
uses) and with ``mixlogistic_inverse_reference`` (the torch bisection it replaced) patched in, same latents. Process
CPU seconds (``time.process_time``), median of --repeats after a warm-up; run with OMP_NUM_THREADS equal to
--threads. Also reports the largest difference between the two samples' pre-floor values, and how far apart the
mixture components of the first coupling are on the latents (all-equal components make every bracket exact, so the
torch bisection stops at once while the native kernel still runs its Newton steps).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from bitsback_common import run_info, write_result

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


def _component_spread(model, z: torch.Tensor) -> float:
    """Largest spread of the K component means of the last coupling's mixtures at ``z`` (0: the K coincide)."""
    coupling = next(layer for layer in reversed(model.flow) if isinstance(layer, couplings.Coupling))
    if coupling.kind != "mixture":
        return 0.0
    with torch.no_grad():
        means = coupling._params(coupling.split(z)[0], None)[3]
    return float((means.max(dim=-1).values - means.min(dim=-1).values).max())


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
              "mixture_component_mean_spread": _component_spread(model, z),
              "timer": "time.process_time (CPU seconds)", "repeats": args.repeats, **info}
    write_result(args.out, result)


if __name__ == "__main__":
    main()
