"""dgmlab's rANS coder against constriction 0.5.0 on the same data, in one run.

    python bench/coder_vs_peers.py [--n 1000000] [--out bench/results/coder_vs_peers.json]
    python bench/coder_vs_peers.py --scaling-only      # the 1-vs-all-cores pair alone, for a quiet machine
    python bench/coder_vs_peers.py --process-ceiling   # the machine's own limit for that pair's work
    python bench/coder_vs_peers.py --per-core          # the pair with threads bound, 1 thread timed on every core

Workloads: quantised Gaussian (64 scales 0.5..8, 64-symbol support), 256-symbol categorical (one shared table),
and dgmlab's fine-grid Gaussian (bin width 2^-32, std 2^-14 and 1; constriction has no such model). Reports ns per
symbol for encode and decode (best of --repeats), overhead over the ideal information content, and the ratios.
Single-threaded figures (constriction; dgmlab with 1 and with 8 interleaved streams, OMP_NUM_THREADS=1) are thread
CPU time, which other processes on a shared machine barely disturb. The thread-scaling pair (1 thread vs all cores,
64 streams, --scaling-n symbols) is wall time: encode = a new Message and the push, decode = Message.from_bytes and
the pop. Both thread counts run in one process, switched with threadpoolctl and interleaved round by round (after a
warm-up round), so that a machine whose load drifts hits both alike; each run's process CPU time is recorded beside
it: on two free cores the multi-threaded runs take about twice their wall time in CPU time, on a busy machine
(other processes holding a core) about their wall time, which says that the ratio measured the machine, not the
code. The wall ratio needs a quiet machine: `--scaling-only` runs just that pair. `--process-ceiling` runs the same
1-thread work in one process alone and then in one process per core at once: the throughput of those independent
processes relative to one alone is what the machine allows that work (caches, memory, the host), whatever threads
do. Their phases line up only roughly (each process generates its data first), so it is an upper bound.
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
from contextlib import contextmanager
from functools import partial
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


def dgmlab_codecs(n: int):
    """(name, codec, symbols, data) for every workload, as dgmlab codes it."""
    from dgmlab.coding import Categorical, DiscretizedGaussian

    for name, data in workloads(n).items():
        if name == "categorical_256":
            probs, symbols = data
            codec = Categorical(probs, shape=symbols.shape)
        else:
            mean, std, symbols = data
            support = (-32, 31) if name == "quantised_gaussian" else (-(2**41), 2**41)
            codec = DiscretizedGaussian(mean, std, 1.0 if name == "quantised_gaussian" else FINE, support)
        yield name, codec, symbols, data


def measure_dgmlab(n: int, repeats: int, num_streams: int) -> dict:
    from dgmlab.coding import Message

    results = {}
    for name, codec, symbols, data in dgmlab_codecs(n):
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


def wall_and_cpu(fn) -> tuple[float, float]:
    """Wall and process CPU time of fn(); its result is dropped after the clocks stop."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    del result
    return wall, cpu


def scaling_pair(codec, symbols: np.ndarray, num_streams: int):
    """The timed pair of the scaling runs: encode = a new Message and the push; decode = from_bytes and the pop."""
    from dgmlab.coding import Message

    def encode():
        msg = Message(num_streams=num_streams, seed=0)
        codec.push(msg, symbols)
        return msg

    data_bytes = encode().to_bytes()

    def decode():
        return codec.pop(Message.from_bytes(data_bytes))

    return encode, decode


def timed_rounds(encode, decode, symbols: np.ndarray, configs: dict, repeats: int) -> dict:
    """(wall, process CPU) seconds of encode and decode under each configuration (label -> context manager factory),
    round by round: the order flips every round, so that a machine whose speed drifts hits every configuration
    alike. Round 0 warms up (threads, allocator, caches) and checks the round trip."""
    labels = list(configs)
    runs: dict = {label: {"encode": [], "decode": []} for label in labels}
    for round_ in range(repeats + 1):
        for label in labels if round_ % 2 == 0 else labels[::-1]:
            with configs[label]():
                enc = wall_and_cpu(encode)
                dec = wall_and_cpu(decode)
                if round_ == 0:
                    assert np.array_equal(decode(), symbols)
                    continue
            runs[label]["encode"].append(enc)
            runs[label]["decode"].append(dec)
    return runs


def measure_scaling(n: int, repeats: int, thread_counts: tuple[int, ...], num_streams: int = 64) -> dict:
    """Wall time per symbol of each thread count on the same work, interleaved round by round in this process."""
    from threadpoolctl import threadpool_limits

    configs = {t: partial(threadpool_limits, limits=t, user_api="openmp") for t in thread_counts}
    results: dict[int, dict] = {t: {} for t in thread_counts}
    for name, codec, symbols, _ in dgmlab_codecs(n):
        runs = timed_rounds(*scaling_pair(codec, symbols, num_streams), symbols, configs, repeats)
        for t in thread_counts:
            entry = {}
            for side in ("encode", "decode"):
                walls = sorted(runs[t][side])
                entry[f"{side}_ns"] = walls[0][0] / n * 1e9
                entry[f"{side}_median_ns"] = walls[len(walls) // 2][0] / n * 1e9
                entry[f"{side}_process_cpu_ns"] = walls[0][1] / n * 1e9
                entry[f"{side}_all_wall_ns"] = [w / n * 1e9 for w, _ in runs[t][side]]
            results[t][name] = entry
    return {f"dgmlab_{t}_thread{'s' if t > 1 else ''}_wall": results[t] for t in thread_counts}


def measure_per_core(n: int, repeats: int, cores: list[int], num_streams: int = 64) -> dict:
    """One thread on each core in turn, then one thread per core, round by round (wall time per symbol).

    The child runs with OMP_PROC_BIND=close and OMP_PLACES=cores, so the OpenMP threads stay on their cores; a
    one-thread run moves the calling thread onto the core under test and back. On a VM each core's speed drifts on
    its own (other guests share the host), so a round's one-thread runs on every core give the baseline that the
    all-threads run of the same round is compared with.
    """
    from threadpoolctl import threadpool_limits

    home = os.sched_getaffinity(0)

    @contextmanager
    def one_thread_on(core: int):
        os.sched_setaffinity(0, {core})
        try:
            with threadpool_limits(limits=1, user_api="openmp"):
                yield
        finally:
            os.sched_setaffinity(0, home)

    configs = {f"core{c}": partial(one_thread_on, c) for c in cores}
    configs["all"] = partial(threadpool_limits, limits=len(cores), user_api="openmp")
    results = {}
    for name, codec, symbols, _ in dgmlab_codecs(n):
        runs = timed_rounds(*scaling_pair(codec, symbols, num_streams), symbols, configs, repeats)
        results[name] = {label: {side: [w / n * 1e9 for w, _ in runs[label][side]] for side in ("encode", "decode")}
                         for label in configs}
    return {"cores": cores, "per_core_wall_ns": results}


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
    elif args.child == "per-core":
        print(json.dumps(measure_per_core(args.n, args.repeats, [int(c) for c in args.cores.split(",")])))
    elif args.child == "scaling":
        print(json.dumps(measure_scaling(args.n, args.repeats, (1, args.threads) if args.threads > 1 else (1,))))
    else:
        print(json.dumps(measure_dgmlab(args.n, args.repeats, args.streams)))


def child_command(kind: str, args: argparse.Namespace, threads: int, streams: int, clock: str,
                  n: int | None = None) -> tuple[list[str], dict]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--child", kind, "--n", str(n or args.n), "--repeats", str(args.repeats),
           "--streams", str(streams), "--clock", clock, "--threads", str(threads)]
    if kind == "per-core":  # threads bound to cores, so that "core c" means one core
        env.update(OMP_PROC_BIND="close", OMP_PLACES="cores")
        cmd += ["--cores", ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))]
    return cmd, env


def run_child(kind: str, args: argparse.Namespace, threads: int, streams: int, clock: str, n: int | None = None) -> dict:
    cmd, env = child_command(kind, args, threads, streams, clock, n)
    return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def process_ceiling(args: argparse.Namespace, cores: int) -> dict:
    """The scaling pair's 1-thread work in one process alone, then in `cores` processes at once (wall time)."""
    alone = run_child("scaling", args, 1, 64, "wall", n=args.scaling_n)
    cmd, env = child_command("scaling", args, 1, 64, "wall", n=args.scaling_n)
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(cores)]
    together = [json.loads(p.communicate()[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError("a process of the ceiling run failed")
    key = "dgmlab_1_thread_wall"
    return {"scaling_n": args.scaling_n, "processes": cores, "alone": alone[key],
            "together": [t[key] for t in together]}


def print_ceiling(report: dict) -> None:
    k = report["processes"]
    print(f"{k} single-thread processes at once against one alone, wall time, n = {report['scaling_n']}: their "
          f"summed throughput over one alone's (best times; alone / each together in ns per symbol)")
    for name, alone in report["alone"].items():
        parts = []
        for side in ("encode", "decode"):
            each = [t[name][f"{side}_ns"] for t in report["together"]]
            ceiling = sum(alone[f"{side}_ns"] / t for t in each)
            parts.append(f"{side} {ceiling:.2f}x ({alone[f'{side}_ns']:.1f} / {', '.join(f'{t:.1f}' for t in each)})")
        print(f"  {name:24s} {', '.join(parts)}")


def scaling_report(args: argparse.Namespace, cores: int) -> dict:
    """1 thread vs all cores, 64 streams, wall time (needs a quiet machine), plus each run's process CPU time."""
    report = run_child("scaling", args, cores, 64, "wall", n=args.scaling_n)
    report["scaling_n"] = args.scaling_n
    return report


def print_per_core(report: dict) -> None:
    cores = report["cores"]
    k = len(cores)
    runs = report["per_core_wall_ns"]
    rounds = len(next(iter(runs.values()))["all"]["encode"])
    print(f"{k} threads bound to cores against 1 thread on each core, wall time, 64 streams, n = {report['scaling_n']}, "
          f"{rounds} rounds; per round: {k}-thread throughput over the fastest core's, over the cores' mean (median "
          f"[range]); best over best; the cores' speed spread (slowest / fastest 1-thread time, median)")
    for name, entry in runs.items():
        parts = []
        for side in ("encode", "decode"):
            one = np.array([entry[f"core{c}"][side] for c in cores])  # (cores, rounds) ns per symbol
            many = np.array(entry["all"][side])
            vs_fastest = one.min(axis=0) / many
            vs_mean = (1.0 / one).mean(axis=0) ** -1 / many
            spread = np.median(one.max(axis=0) / one.min(axis=0))
            parts.append(f"{side} {np.median(vs_fastest):.2f}x [{vs_fastest.min():.2f}-{vs_fastest.max():.2f}], "
                         f"{np.median(vs_mean):.2f}x [{vs_mean.min():.2f}-{vs_mean.max():.2f}]; "
                         f"{one.min() / many.min():.2f}x; spread {spread:.2f}")
        print(f"  {name:24s} {' | '.join(parts)}")


def print_scaling(report: dict, cores: int) -> None:
    one_wall, many = report["dgmlab_1_thread_wall"], report[f"dgmlab_{cores}_threads_wall"]
    runs = len(many[next(iter(many))]["encode_all_wall_ns"])
    print(f"{cores}-thread speed-up, wall time, 64 streams, n = {report['scaling_n']}, {runs} rounds: best over best "
          f"(median over median; median of the rounds' own ratios); the {cores}-thread best run's CPU time / wall time")
    for name in one_wall:
        ratios = []
        for side in ("encode", "decode"):
            a, b = one_wall[name], many[name]
            best = a[f"{side}_ns"] / b[f"{side}_ns"]
            median = a[f"{side}_median_ns"] / b[f"{side}_median_ns"]
            paired = float(np.median(np.divide(a[f"{side}_all_wall_ns"], b[f"{side}_all_wall_ns"])))
            busy = b[f"{side}_process_cpu_ns"] / b[f"{side}_ns"]
            ratios.append(f"{side} {best:.2f}x ({median:.2f}x; {paired:.2f}x; CPU/wall {busy:.2f})")
        print(f"  {name:24s} {', '.join(ratios)}")


def print_full(report: dict, cores: int) -> None:
    """The full run: every coder side by side, the ratios to constriction, then the scaling pair."""
    one, eight, peer = report["dgmlab_1_thread"], report["dgmlab_1_thread_8_streams"], report["constriction"]
    print(f"{'workload':26s} {'coder':28s} {'enc ns':>8s} {'dec ns':>8s} {'overhead':>10s}")
    for name in one:
        rows = [("constriction 0.5.0", peer.get(name)), ("dgmlab 1 thread, 1 stream", one[name]),
                ("dgmlab 1 thread, 8 streams", eight[name])]
        for label, r in rows:
            if r:
                print(f"{name:26s} {label:28s} {r['encode_ns']:8.1f} {r['decode_ns']:8.1f} {r['overhead_pct']:9.4f}%")
        if name in peer:
            for label, r in (("1 stream", one[name]), ("8 streams", eight[name])):
                enc, dec = (peer[name][f"{side}_ns"] / r[f"{side}_ns"] for side in ("encode", "decode"))
                print(f"{'':26s} constriction / dgmlab (1 thread, {label}): encode {enc:.2f}x, decode {dec:.2f}x")
    print_scaling(report, cores)


def write_report(report: dict, out: Path, show) -> None:
    """Stamps the end load, writes the JSON and prints the report."""
    report["load_average_at_end"] = os.getloadavg()[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    show(report)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "coder_vs_peers.json")
    parser.add_argument("--scaling-only", action="store_true",
                        help="only the thread-scaling pair (wall time: run it on a quiet machine)")
    parser.add_argument("--process-ceiling", action="store_true",
                        help="only the machine's limit for the scaling pair's work: 1-thread processes alone, "
                             "then one per core at once")
    parser.add_argument("--per-core", action="store_true",
                        help="only the scaling pair with threads bound to cores: each round times 1 thread on every "
                             "core, then all threads (what each core gives alone, against what threads get)")
    parser.add_argument("--scaling-n", type=int, default=4_000_000,
                        help="symbols per workload in the thread-scaling pair (large arrays)")
    parser.add_argument("--child", choices=["dgmlab", "constriction", "scaling", "per-core"], help=argparse.SUPPRESS)
    parser.add_argument("--cores", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    cores = len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cpusets), not all the host has
    report = {"n": args.n, "machine": f"{platform.processor() or platform.machine()}, {cores} cores",
              "load_average_at_start": os.getloadavg()[0]}
    if args.process_ceiling:
        report.update(process_ceiling(args, cores))
        write_report(report, args.out.with_name(args.out.stem + "_ceiling.json"), print_ceiling)
        return
    if args.per_core:
        report.update(run_child("per-core", args, cores, 64, "wall", n=args.scaling_n), scaling_n=args.scaling_n)
        write_report(report, args.out.with_name(args.out.stem + "_per_core.json"), print_per_core)
        return
    if args.scaling_only:
        report.update(scaling_report(args, cores))
        write_report(report, args.out.with_name(args.out.stem + "_scaling.json"), lambda r: print_scaling(r, cores))
        return
    report["constriction"] = run_child("constriction", args, 1, 1, "cpu")
    report["dgmlab_1_thread"] = run_child("dgmlab", args, 1, 1, "cpu")
    report["dgmlab_1_thread_8_streams"] = run_child("dgmlab", args, 1, 8, "cpu")
    report.update(scaling_report(args, cores))
    write_report(report, args.out, lambda r: print_full(r, cores))

if __name__ == "__main__":
    main()
