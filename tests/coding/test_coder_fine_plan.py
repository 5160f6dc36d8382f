"""The fine-grid Gaussian encoder's AVX-512 plan (csrc/include/dgmlab/fine_gaussian.hpp) gives the bits of the scalar
plan: per item on adversarial parameters, and end to end (message bytes) on every SIMD level and thread count."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dgmlab.coding._ext import _native

FINE = 2.0**-32


def adversarial(rng: np.random.Generator, n: int, w: float, lo: int, hi: int):
    """Means anywhere in (and past) the support, scales from far below a bin to far above the support, symbols at
    the centre, at +-6 sigma (the central region's edges), in the geometric tails, in the end bins and next to them."""
    span = float(hi - lo)
    centre = rng.choice([lo + 0.5 * span, lo + 1.0, hi - 1.0, lo + rng.uniform(0, 1) * span], size=n)
    mean = (centre + rng.normal(size=n) * rng.choice([1.0, 2.0**20, span / 4], size=n)) * w
    std = w * 2.0 ** rng.uniform(-45, np.log2(span) + 8, n)
    t = rng.choice([0.0, 1.0, 5.99, 6.0, 6.01, 40.0, 1e6], size=n) * rng.choice([-1, 1], size=n)
    pos = (mean + (t + rng.normal(size=n)) * std) / w
    symbols = np.clip(np.nan_to_num(np.floor(pos + 0.5), posinf=hi, neginf=lo), lo, hi).astype(np.int64)
    pick = rng.integers(0, 8, n)
    symbols[pick == 0] = lo
    symbols[pick == 1] = hi
    symbols[pick == 2] = lo + 1
    symbols[pick == 3] = hi - 1
    return symbols, mean, std


@pytest.mark.parametrize("w, lo, hi", [(FINE, -(2**41), 2**41), (FINE, -(2**62), 2**62), (1.0, 0, 1023),
                                       (0.5, -(2**30), 17), (2.0**-20, 2**61, 2**62), (3.0, -5000, 2**40)])
def test_avx512_plan_matches_scalar_plan(w, lo, hi):
    rng = np.random.default_rng(abs(lo) % 1000 + hi % 997)
    for n in (20011, 1, 7, 8, 9, 33):  # tails of the 8-lane loop and of the 32-item blocks
        symbols, mean, std = adversarial(rng, n, w, lo, hi)
        fast = _native.fine_gaussian_plan(symbols, mean, std, w, lo, hi, True)
        slow = _native.fine_gaussian_plan(symbols, mean, std, w, lo, hi, False)
        for a, b in zip(fast, slow):
            assert a.tobytes() == b.tobytes()
        assert (slow[3] > 0).all() and (slow[0] < slow[1]).all()


def test_plan_matches_on_the_benchmark_workload():
    rng = np.random.default_rng(5)
    n = 50000
    for sigma in (2.0**-14, 1.0):
        mean = rng.normal(size=n) * 0.5
        symbols = np.floor(rng.normal(mean, sigma) / FINE + 0.5).astype(np.int64)
        std = np.full(n, sigma)
        fast = _native.fine_gaussian_plan(symbols, mean, std, FINE, -(2**41), 2**41, True)
        slow = _native.fine_gaussian_plan(symbols, mean, std, FINE, -(2**41), 2**41, False)
        for a, b in zip(fast, slow):
            assert a.tobytes() == b.tobytes()


DIGEST = textwrap.dedent("""
    import hashlib, numpy as np
    from dgmlab.coding import DiscretizedGaussian, Message
    from dgmlab.coding._ext import _native
    rng = np.random.default_rng(3)
    h = hashlib.sha256()
    for n, w, lo, hi in ((100003, 2.0**-32, -(2**41), 2**41), (9000, 2.0**-32, -(2**62), 2**62), (5000, 1.0, 0, 4095)):
        mean = rng.normal(size=n) * 0.5 * w * 2**30
        std = w * 2.0 ** rng.uniform(-3, 33, n)
        symbols = np.clip(np.floor(rng.normal(mean, std * rng.choice([1, 1, 1, 30], n)) / w + 0.5), lo, hi).astype(np.int64)
        symbols[::97] = lo
        symbols[1::89] = hi
        codec = DiscretizedGaussian(mean, std, w, (lo, hi))
        for streams in (1, 2, 3, 5, 8, 64):  # lockstep groups of 1-4 streams
            msg = Message(num_streams=streams, seed=7)
            codec.push(msg, symbols)
            data = msg.to_bytes()
            assert (codec.pop(Message.from_bytes(data)) == symbols).all()
            h.update(data)
    print(_native.coder_simd(), h.hexdigest())
""")


def run_digest(**env: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", DIGEST], env=dict(os.environ, **env), check=True, timeout=300,
                         capture_output=True, text=True).stdout.split()
    return out[0], out[1]


def test_bitstreams_identical_on_every_simd_level_and_thread_count():
    """Fresh processes with the vector paths capped (DGMLAB_SIMD) and with 1 and 2 OpenMP threads: same bytes."""
    levels = {run_digest(DGMLAB_SIMD=cap, OMP_NUM_THREADS="1") for cap in ("scalar", "avx2", "avx512")}
    levels.add(run_digest(OMP_NUM_THREADS="2"))
    assert len({digest for _, digest in levels}) == 1, levels
    assert {"scalar"} <= {simd for simd, _ in levels}
