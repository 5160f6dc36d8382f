"""dgmlab's rANS coder against constriction 0.5.0 on the same data, in one run.

    python bench/coder_vs_peers.py [--n 1000000] [--out bench/results/coder_vs_peers.json]
    python bench/coder_vs_peers.py --scaling-only      # the 1-vs-all-cores pair alone, for a quiet machine

Workloads: quantised Gaussian (64 scales 0.5..8, 64-symbol support), 256-symbol categorical (one shared table),
and dgmlab's fine-grid Gaussian (bin width 2^-32, std 2^-14 and 1; constriction has no such model). Reports ns per
symbol for encode and decode (best of --repeats), overhead over the ideal information content, and the ratios.
Single-threaded figures (constriction; dgmlab with 1 and with 8 interleaved streams, OMP_NUM_THREADS=1) are thread
CPU time, which other processes on a shared machine barely disturb; the thread-scaling pair (1 vs all cores, 64
streams) is wall time, with each run's process CPU time beside it (a rough check: libgomp's spin-waits count as CPU
time, more so on a loaded machine; bench/coder_work_split.py counts each thread's instructions instead). The wall
ratio needs a quiet machine: `--scaling-only` runs just that pair.
Each configuration runs in a child process so the OpenMP thread count is set before its runtime starts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

FINE = 2.0**-32


def workloads(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 8.0, 64)
    means = rng.uniform(-10, 10, n)
    stds = scales[rng.integers(0, 64, n)]
    qg = np.clip(np.round(rng.normal(means, stds)), -32, 31).astype(np.int64)
    probs = rng.dirichlet(np.full(256, 0.5))
    cat = rng.choice(256, size=n, p=probs).astype(np.int64)
    out = {"quantised_gaussian": (means, stds, qg), "categorical_256": (probs, cat)}
    for name, std in (("fine_gaussian_std2^-14", 2.0**-14), ("fine_gaussian_std1", 1.0)):
        mu = rng.normal(size=n) * 0.5
        x = rng.normal(mu, std)
        out[name] = (mu, np.full(n, std), np.floor(x / FINE + 0.5).astype(np.int64))
    return out


def ideal_bits(name: str, data: tuple) -> float:
    if name == "categorical_256":
        probs, symbols = data
        return float(-np.log2(probs[symbols]).sum())
    mean, std, symbols = data
    w = 1.0 if name == "quantised_gaussian" else FINE
    lo = np.where(symbols == -32, -np.inf, (symbols - 0.5) * w) if name == "quantised_gaussian" else (symbols - 0.5) * w
    hi = np.where(symbols == 31, np.inf, (symbols + 0.5) * w) if name == "quantised_gaussian" else (symbols + 0.5) * w
    return float(-np.log2(norm.cdf((hi - mean) / std) - norm.cdf((lo - mean) / std)).sum())


# Single-threaded runs are timed in thread CPU time, which a shared machine's other processes barely disturb;
# multi-threaded runs need wall time. Set by the child process from --clock.
CLOCK = time.thread_time


def best_time(fn, repeats: int) -> float:
    return best_times(fn, repeats)[0]


def best_times(fn, repeats: int) -> tuple[float, float]:
    """Best of `repeats` by CLOCK, with the process CPU time of that run (all threads together)."""
    runs = []
    for _ in range(repeats):
        start, cpu = CLOCK(), time.process_time()
        fn()
        runs.append((CLOCK() - start, time.process_time() - cpu))
    return min(runs)


def measure_dgmlab(n: int, repeats: int, num_streams: int) -> dict:
    from dgmlab.coding import Categorical, DiscretizedGaussian, Message

    results = {}
    for name, data in workloads(n).items():
        if name == "categorical_256":
            probs, symbols = data
            codec = Categorical(probs, shape=symbols.shape)
        else:
            mean, std, symbols = data
            support = (-32, 31) if name == "quantised_gaussian" else (-(2**41), 2**41)
            codec = DiscretizedGaussian(mean, std, 1.0 if name == "quantised_gaussian" else FINE, support)

        def encode():
            msg = Message(num_streams=num_streams, seed=0)
            codec.push(msg, symbols)
            return msg

        msg = encode()
        data_bytes = msg.to_bytes()
        enc, enc_cpu = best_times(encode, repeats)
        dec, dec_cpu = best_times(lambda: codec.pop(Message.from_bytes(data_bytes)), repeats)
        assert np.array_equal(codec.pop(Message.from_bytes(data_bytes)), symbols)
        ideal = ideal_bits(name, data)
        net = msg.num_bits() - msg.initial_bits_used()  # the random stream heads are not content
        results[name] = {
            "encode_ns": enc / n * 1e9,
            "decode_ns": dec / n * 1e9,
            "encode_process_cpu_ns": enc_cpu / n * 1e9,
            "decode_process_cpu_ns": dec_cpu / n * 1e9,
            "bits": net,
            "ideal_bits": ideal,
            "overhead_pct": 100 * (net - ideal) / ideal,
        }
    return results


def measure_constriction(n: int, repeats: int) -> dict:
    import constriction

    results = {}
    data = workloads(n)
    model = constriction.stream.model.QuantizedGaussian(-32, 31)
    mean, std, symbols = data["quantised_gaussian"]
    s32 = symbols.astype(np.int32)
    runs = {
        "quantised_gaussian": (
            lambda c: c.encode_reverse(s32, model, mean, std),
            lambda c: c.decode(model, mean, std),
            s32,
        )
    }
    probs, cat = data["categorical_256"]
    cat_model = constriction.stream.model.Categorical(probs, perfect=False)
    c32 = cat.astype(np.int32)
    runs["categorical_256"] = (lambda c: c.encode_reverse(c32, cat_model), lambda c: c.decode(cat_model, n), c32)
    for name, (encode, decode, symbols) in runs.items():
        def enc_once():
            coder = constriction.stream.stack.AnsCoder()
            encode(coder)
            return coder

        coder = enc_once()
        compressed = coder.get_compressed()
        enc = best_time(enc_once, repeats)
        dec = best_time(lambda: decode(constriction.stream.stack.AnsCoder(compressed)), repeats)
        assert np.array_equal(decode(constriction.stream.stack.AnsCoder(compressed)), symbols)
        ideal = ideal_bits(name, data[name])
        results[name] = {
            "encode_ns": enc / n * 1e9,
            "decode_ns": dec / n * 1e9,
            "bits": float(coder.num_bits()),
            "ideal_bits": ideal,
            "overhead_pct": 100 * (coder.num_bits() - ideal) / ideal,
        }
    return results


def child(args: argparse.Namespace) -> None:
    global CLOCK
    CLOCK = time.thread_time if args.clock == "cpu" else time.perf_counter
    if args.child == "constriction":
        print(json.dumps(measure_constriction(args.n, args.repeats)))
    else:
        print(json.dumps(measure_dgmlab(args.n, args.repeats, args.streams)))


def run_child(kind: str, args: argparse.Namespace, threads: int, streams: int, clock: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--child", kind, "--n", str(args.n), "--repeats", str(args.repeats),
           "--streams", str(streams), "--clock", clock]
    return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def scaling_report(args: argparse.Namespace, cores: int) -> dict:
    """1 thread vs all cores, 64 streams, wall time (needs a quiet machine), plus each run's process CPU time."""
    return {"dgmlab_1_thread_wall": run_child("dgmlab", args, 1, 64, "wall"),
            f"dgmlab_{cores}_threads_wall": run_child("dgmlab", args, cores, 64, "wall")}


def print_scaling(report: dict, cores: int) -> None:
    one_wall, many = report["dgmlab_1_thread_wall"], report[f"dgmlab_{cores}_threads_wall"]
    for name in one_wall:
        ratios = []
        for side in ("encode", "decode"):
            wall = one_wall[name][f"{side}_ns"] / many[name][f"{side}_ns"]
            cpu = many[name][f"{side}_process_cpu_ns"] / one_wall[name][f"{side}_process_cpu_ns"]
            ratios.append(f"{side} {wall:.2f}x (CPU time {cpu:.2f}x of 1 thread's)")
        print(f"{name:26s} {cores}-thread speed-up (wall, 64 streams): {', '.join(ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "coder_vs_peers.json")
    parser.add_argument("--scaling-only", action="store_true",
                        help="only the thread-scaling pair (wall time: run it on a quiet machine)")
    parser.add_argument("--child", choices=["dgmlab", "constriction"], help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    cores = os.cpu_count() or 1
    report = {"n": args.n, "machine": f"{platform.processor() or platform.machine()}, {cores} cores",
              "load_average_at_start": os.getloadavg()[0]}
    if args.scaling_only:
        report.update(scaling_report(args, cores))
        report["load_average_at_end"] = os.getloadavg()[0]
        out = args.out.with_name(args.out.stem + "_scaling.json")
        out.write_text(json.dumps(report, indent=2))
        print_scaling(report, cores)
        print(f"wrote {out}")
        return
    report["constriction"] = run_child("constriction", args, 1, 1, "cpu")
    report["dgmlab_1_thread"] = run_child("dgmlab", args, 1, 1, "cpu")
    report["dgmlab_1_thread_8_streams"] = run_child("dgmlab", args, 1, 8, "cpu")
    report.update(scaling_report(args, cores))
    report["load_average_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    one, eight, peer = report["dgmlab_1_thread"], report["dgmlab_1_thread_8_streams"], report["constriction"]
    one_wall, many = report["dgmlab_1_thread_wall"], report[f"dgmlab_{cores}_threads_wall"]
    print(f"{'workload':26s} {'coder':28s} {'enc ns':>8s} {'dec ns':>8s} {'overhead':>10s}")
    for name in one:
        rows = [("constriction 0.5.0", peer.get(name)), ("dgmlab 1 thread, 1 stream", one[name]),
                ("dgmlab 1 thread, 8 streams", eight[name]), ("dgmlab 1 thread (wall)", one_wall[name]),
                (f"dgmlab {cores} threads (wall)", many[name])]
        for label, r in rows:
            if r:
                print(f"{name:26s} {label:28s} {r['encode_ns']:8.1f} {r['decode_ns']:8.1f} {r['overhead_pct']:9.4f}%")
        if name in peer:
            for label, r in (("1 stream", one[name]), ("8 streams", eight[name])):
                enc, dec = (peer[name][f"{side}_ns"] / r[f"{side}_ns"] for side in ("encode", "decode"))
                print(f"{'':26s} constriction / dgmlab (1 thread, {label}): encode {enc:.2f}x, decode {dec:.2f}x")
    print_scaling(report, cores)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
