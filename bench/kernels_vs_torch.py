"""Native kernels vs PyTorch on the CPU, measured in one run; prints a Markdown table and writes JSON.

    python bench/kernels_vs_torch.py --threads 1 --out bench/results/kernels_vs_torch_1thread.json
    python bench/kernels_vs_torch.py --out bench/results/kernels_vs_torch.json
    python bench/kernels_vs_torch.py --threads 1 --only cholesky --out run.json   # the Cholesky rows alone

``--threads N`` runs both sides on N threads (OpenMP and torch). With one thread every time is the calling thread's
CPU time (``time.thread_time``: not the time other jobs on a shared machine take), otherwise wall time. Each timing is
the minimum over --repeats runs after one warm-up, and the PyTorch and dgmlab runs of a row alternate, so that both
sides see the same machine; the JSON also keeps the median of the per-pair ratios. The PyTorch bisection runs once
(it takes minutes); the load average is recorded before and after.

Cholesky -> AR (float64): ``dgmlab.kernels.cholesky_to_ar`` vs the same conversion with ``torch.linalg.cholesky`` of
J J^T and ``torch.linalg.solve_triangular`` (L^-1, then A = -diag(L) L^-1 below the diagonal), batch 4096 of 3x3 and
12x12, batch 16 of 256x256. Mixture inversion (float64, --n elements, default 10^6, K = 4 and 32, logit targets):
``dgmlab.kernels.mixlogistic_inverse`` (Newton-bisection, and plain bisection for reference) vs the pure-PyTorch
bisection kept in tests/kernels/reference.py, all at tolerance 2^-40 relative to the smallest component scale.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _threads_from_argv() -> int | None:
    """--threads must reach OMP_NUM_THREADS before torch or dgmlab._native loads its OpenMP runtime."""
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return None


if _threads_from_argv() is not None:
    os.environ["OMP_NUM_THREADS"] = str(_threads_from_argv())

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


CPU_TIME = False
"""Time the calling thread's CPU time (set for one thread) rather than wall time."""


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call takes: the thread's CPU time when CPU_TIME is set, wall time otherwise."""
    clock = time.thread_time if CPU_TIME else time.perf_counter
    start = clock()
    fn()
    return clock() - start


def paired_seconds(fns: list[Callable[[], Any]], repeats: int) -> tuple[list[float], list[list[float]]]:
    """One warm-up each, then `repeats` rounds running every fn once in turn; returns the minimum per fn and all times.

    Alternating puts both sides of a comparison under the same load; the minimum is the run least disturbed by it.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            t.append(timed(fn))
    return [min(t) for t in times], times


def torch_cholesky_to_ar(J: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    L = torch.linalg.cholesky(J @ J.mT)
    M = torch.linalg.solve_triangular(L, torch.eye(J.shape[-1], dtype=J.dtype).expand_as(J), upper=False)
    return L, torch.tril(-torch.diagonal(L, dim1=-2, dim2=-1)[..., None] * M, -1)


def bench_cholesky(B: int, d: int, repeats: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(d)
    J = torch.randn(B, d, d, dtype=torch.float64, generator=gen) / d**0.5 + torch.eye(d, dtype=torch.float64)
    (t_torch, t_native), (all_torch, all_native) = paired_seconds(
        [lambda: torch_cholesky_to_ar(J), lambda: kernels.cholesky_to_ar(J)], repeats)
    L_ref, A_ref = torch_cholesky_to_ar(J)
    ar = kernels.cholesky_to_ar(J)
    return {"kernel": "cholesky_to_ar", "shape": f"{B} x {d}x{d}", "torch_s": t_torch, "native_s": t_native,
            "speedup": t_torch / t_native,
            "speedup_median_of_pairs": statistics.median(a / b for a, b in zip(all_torch, all_native)),
            "repeats": repeats, "max_abs_diff_L": float((ar.L - L_ref).abs().max()),
            "max_abs_diff_coeffs": float((ar.coeffs - A_ref).abs().max())}


def bench_mixture(n: int, K: int, repeats: int, reference: Any, tol: float) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(K)
    logits = torch.randn(n, K, dtype=torch.float64, generator=gen)
    means = torch.randn(n, K, dtype=torch.float64, generator=gen) * 2.0
    log_scales = torch.rand(n, K, dtype=torch.float64, generator=gen) * 4.0 - 2.0
    y = torch.randn(n, dtype=torch.float64, generator=gen) * 4.0
    out: dict[str, torch.Tensor] = {}
    t_torch = timed(lambda: out.setdefault("x", reference.mixlogistic_inverse_bisection(y, logits, means, log_scales,
                                                                                        tol=tol)))
    x_ref = out["x"]
    (t_newton, t_bisect), _ = paired_seconds(
        [lambda: kernels.mixlogistic_inverse(y, logits, means, log_scales, tol=tol),
         lambda: kernels.mixlogistic_inverse(y, logits, means, log_scales, tol=tol, method="bisection")], repeats)
    x = kernels.mixlogistic_inverse(y, logits, means, log_scales, tol=tol)
    residual, _ = kernels.mixlogistic_forward(x, logits, means, log_scales)
    return {"kernel": "mixlogistic_inverse", "shape": f"{n:.0e} x K={K}", "torch_s": t_torch, "native_s": t_newton,
            "native_bisection_s": t_bisect, "speedup": t_torch / t_newton, "speedup_bisection": t_torch / t_bisect,
            "repeats": repeats, "max_abs_diff_x": float((x - x_ref).abs().max()),
            "max_abs_residual_y": float((residual - y).abs().max())}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [("| kernel | size | PyTorch (s) | dgmlab (s) | speed-up | median pair ratio | dgmlab bisection (s) "
              "| speed-up |"), "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        pair = f"{r['speedup_median_of_pairs']:.1f}x" if "speedup_median_of_pairs" in r else "-"
        bis = (f"{r['native_bisection_s']:.4f} | {r['speedup_bisection']:.1f}x" if "native_bisection_s" in r
               else "- | -")
        lines.append(f"| {r['kernel']} | {r['shape']} | {r['torch_s']:.4f} | {r['native_s']:.4f} | "
                     f"{r['speedup']:.1f}x | {pair} | {bis} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/kernels_vs_torch.json")
    parser.add_argument("--repeats", type=int, default=21,
                        help="timed runs per measurement (the minimum is kept; the mixture rows' native runs take "
                             "a third of them, and the PyTorch bisection runs once)")
    parser.add_argument("--n", type=int, default=10**6, help="elements in the mixture inversion")
    parser.add_argument("--tol", type=float, default=kernels.DEFAULT_TOL)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both sides (default: torch's and OpenMP's defaults); 1 times CPU time")
    parser.add_argument("--only", choices=["cholesky", "mixture"], default=None,
                        help="run only these rows (reruns of one kernel without the minutes of PyTorch bisection)")
    args = parser.parse_args()
    global CPU_TIME
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        CPU_TIME = args.threads == 1
    reference = load_reference()
    load_before = os.getloadavg()
    rows = []
    if args.only in (None, "cholesky"):
        rows += [bench_cholesky(B, d, args.repeats) for B, d in [(4096, 3), (4096, 12), (16, 256)]]
    if args.only in (None, "mixture"):
        rows += [bench_mixture(args.n, K, max(1, args.repeats // 3), reference, args.tol) for K in (4, 32)]
    table = markdown(rows)
    print(table)
    meta = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": os.getloadavg(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "clock": "thread CPU time" if CPU_TIME else "wall time",
            "statistic": "minimum over alternating repeats (PyTorch bisection: one run)",
            "dgmlab": dgmlab.build_info(), "tol": args.tol}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows, "table": table}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
