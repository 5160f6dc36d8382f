"""Native kernels vs PyTorch on the CPU, measured in one run; prints a Markdown table and writes JSON.

    python bench/kernels_vs_torch.py --out bench/results/kernels_vs_torch.json

Cholesky -> AR (float64): ``dgmlab.kernels.cholesky_to_ar`` vs the same conversion with ``torch.linalg.cholesky`` of
J J^T and ``torch.linalg.solve_triangular`` (L^-1, then A = -diag(L) L^-1 below the diagonal), batch 4096 of 3x3 and
12x12, batch 16 of 256x256. Mixture inversion (float64, 10^6 elements, K = 4 and 32, logit targets):
``dgmlab.kernels.mixlogistic_inverse`` (Newton-bisection, and plain bisection for reference) vs the pure-PyTorch
bisection kept in tests/kernels/reference.py, all at tolerance 2^-40 relative to the smallest component scale.
Each timing is the median of --repeats runs after one warm-up (the PyTorch bisection runs once: it takes minutes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import dgmlab
from dgmlab import kernels

ROOT = Path(__file__).resolve().parents[1]


def load_reference() -> Any:
    spec = importlib.util.spec_from_file_location("dgmlab_kernels_reference", ROOT / "tests/kernels/reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_cholesky_to_ar(J: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    L = torch.linalg.cholesky(J @ J.mT)
    M = torch.linalg.solve_triangular(L, torch.eye(J.shape[-1], dtype=J.dtype).expand_as(J), upper=False)
    return L, torch.tril(-torch.diagonal(L, dim1=-2, dim2=-1)[..., None] * M, -1)


def bench_cholesky(B: int, d: int, repeats: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(d)
    J = torch.randn(B, d, d, dtype=torch.float64, generator=gen) / d**0.5 + torch.eye(d, dtype=torch.float64)
    t_torch = median_seconds(lambda: torch_cholesky_to_ar(J), repeats)
    t_native = median_seconds(lambda: kernels.cholesky_to_ar(J), repeats)
    L_ref, A_ref = torch_cholesky_to_ar(J)
    ar = kernels.cholesky_to_ar(J)
    return {"kernel": "cholesky_to_ar", "shape": f"{B} x {d}x{d}", "torch_s": t_torch, "native_s": t_native,
            "speedup": t_torch / t_native, "max_abs_diff_L": float((ar.L - L_ref).abs().max()),
            "max_abs_diff_coeffs": float((ar.coeffs - A_ref).abs().max())}


def bench_mixture(n: int, K: int, repeats: int, reference: Any, tol: float) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(K)
    logits = torch.randn(n, K, dtype=torch.float64, generator=gen)
    means = torch.randn(n, K, dtype=torch.float64, generator=gen) * 2.0
    log_scales = torch.rand(n, K, dtype=torch.float64, generator=gen) * 4.0 - 2.0
    y = torch.randn(n, dtype=torch.float64, generator=gen) * 4.0
    start = time.perf_counter()
    x_ref = reference.mixlogistic_inverse_bisection(y, logits, means, log_scales, tol=tol)
    t_torch = time.perf_counter() - start
    t_newton = median_seconds(lambda: kernels.mixlogistic_inverse(y, logits, means, log_scales, tol=tol), repeats)
    t_bisect = median_seconds(
        lambda: kernels.mixlogistic_inverse(y, logits, means, log_scales, tol=tol, method="bisection"), repeats)
    x = kernels.mixlogistic_inverse(y, logits, means, log_scales, tol=tol)
    residual, _ = kernels.mixlogistic_forward(x, logits, means, log_scales)
    return {"kernel": "mixlogistic_inverse", "shape": f"{n:.0e} x K={K}", "torch_s": t_torch, "native_s": t_newton,
            "native_bisection_s": t_bisect, "speedup": t_torch / t_newton, "speedup_bisection": t_torch / t_bisect,
            "max_abs_diff_x": float((x - x_ref).abs().max()), "max_abs_residual_y": float((residual - y).abs().max())}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| kernel | size | PyTorch (s) | dgmlab (s) | speed-up | dgmlab bisection (s) | speed-up |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        bis = (f"{r['native_bisection_s']:.4f} | {r['speedup_bisection']:.1f}x" if "native_bisection_s" in r
               else "- | -")
        lines.append(f"| {r['kernel']} | {r['shape']} | {r['torch_s']:.4f} | {r['native_s']:.4f} | "
                     f"{r['speedup']:.1f}x | {bis} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/kernels_vs_torch.json")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per native / torch linalg measurement")
    parser.add_argument("--n", type=int, default=10**6, help="elements in the mixture inversion")
    parser.add_argument("--tol", type=float, default=kernels.DEFAULT_TOL)
    args = parser.parse_args()
    reference = load_reference()
    rows = [bench_cholesky(B, d, args.repeats) for B, d in [(4096, 3), (4096, 12), (16, 256)]]
    rows += [bench_mixture(args.n, K, max(1, args.repeats // 2), reference, args.tol) for K in (4, 32)]
    table = markdown(rows)
    print(table)
    meta = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "load_average_after": os.getloadavg(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "dgmlab": dgmlab.build_info(), "tol": args.tol}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows, "table": table}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
