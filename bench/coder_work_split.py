"""How evenly the coder's parallel regions split their work across threads, counted in instructions.

    python bench/coder_work_split.py [--n 200000] [--threads 2]

Wall-clock scaling needs a quiet machine (``python bench/coder_vs_peers.py --scaling-only``); on a shared one this
script checks the part the code controls: it builds bench/coder_work_split.cpp against the installed headers (a C++
compiler and valgrind must be installed) and runs a push and a pop of 64 streams under callgrind, once with 1 thread
and once with --threads, counting the instructions of the push or pop call on each thread.
The ideal speed-up is the 1-thread count over the busiest thread's count, so it includes everything serial in the
call (validation, setup), but not memory effects or the other jobs on the machine.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("coder_work_split.cpp")


def build(tmp: str) -> str:
    """Compiles coder_work_split.cpp against the installed headers, with the extension's flags."""
    import dgmlab

    include = Path(dgmlab.__file__).parent / "include"
    exe = os.path.join(tmp, "work_split")
    subprocess.run(["c++", "-std=c++17", "-O3", "-DNDEBUG", "-ffp-contract=off", "-fopenmp", f"-I{include}",
                    str(SOURCE), "-o", exe], check=True)
    return exe


def per_thread_instructions(exe: str, n: int, workload: str, side: str, threads: int) -> list[int]:
    """Instructions of the push or pop call on each thread that ran any, from callgrind's per-thread totals."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg")
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
               f"--callgrind-out-file={out}", exe, str(n), workload, side]
        subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS=str(threads)), check=True, capture_output=True)
        counts = []
        for path in sorted(glob.glob(out + "*")):
            with open(path) as f:
                counts += [int(line.split()[1]) for line in f if line.startswith("totals:")]
        return [c for c in counts if c > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(tmp)
        for workload in ("quantised", "fine"):
            for side in ("push", "pop"):
                report(exe, args, workload, side)


def report(exe: str, args: argparse.Namespace, workload: str, side: str) -> None:
    one = sum(per_thread_instructions(exe, args.n, workload, side, 1))
    many = per_thread_instructions(exe, args.n, workload, side, args.threads)
    print(f"{workload:9s} {side:4s}: 1 thread {one / args.n:4.0f} instructions/symbol; {args.threads} threads "
          f"{[round(c / args.n) for c in many]} per thread, together {sum(many) / one:.3f}x; "
          f"ideal speed-up {one / max(many):.2f}x")


if __name__ == "__main__":
    main()
