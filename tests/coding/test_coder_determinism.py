"""The integer CDFs are a fixed function of the parameters: pinned bitstreams and an mpmath reference."""

from __future__ import annotations

import hashlib

import mpmath as mp
import numpy as np

from dgmlab.coding import (
    Categorical,
    DiscretizedGaussian,
    DiscretizedMixtureLogistic,
    GaussianBuckets,
    Message,
)
from dgmlab.coding._ext import _native

FINE = 2.0**-32
WIDE = (-(2**41), 2**41)


def fixed_inputs(n: int = 3000):
    """Parameters from integer arithmetic only (no libm, no RNG), identical on every platform."""
    i = np.arange(n)
    mean = ((i * 37) % 101 - 50) / 64.0
    std = 2.0 ** -((i * 7) % 21).astype(np.float64)
    symbols = np.floor(mean / FINE + 0.5).astype(np.int64) + ((i * 7919) % 2001 - 1000) * 2**(i % 19)
    return mean, std, np.clip(symbols, *WIDE)


def message_digest() -> str:
    mean, std, symbols = fixed_inputs()
    msg = Message(num_streams=3, seed=7)
    DiscretizedGaussian(mean, std, FINE, WIDE).push(msg, symbols)
    i = np.arange(500)
    logits = np.stack([(i % 5) / 2.0, -(i % 3) / 4.0, np.zeros(500)], 1)
    means = np.stack([(i % 256) * 1.0, 100.0 + i % 7, 200.0 - i % 11], 1)
    log_scales = np.stack([-(i % 4) / 2.0, (i % 3) / 2.0, np.ones(500)], 1)
    DiscretizedMixtureLogistic(logits, means, log_scales, 1.0, (0, 255)).push(msg, (i * 13) % 256)
    GaussianBuckets(mean[:500], std[:500] + 0.5, precision=12).push(msg, (i * 31) % 4096)
    Categorical(np.arange(1, 65) / 2080.0, shape=(500,)).push(msg, (i * 3) % 64)
    return hashlib.sha256(msg.to_bytes()).hexdigest()


# Produced on x86-64 (GCC 12, -ffp-contract=off). Any platform must reproduce it exactly: if this changes, messages
# written by one build no longer decode with another.
PINNED = "2e1283dc69b3ebd8a4d068e119f093e465167dfcf6b832f1ceb7318be210b840"


def test_bitstream_is_pinned():
    assert message_digest() == PINNED


def test_pinned_message_decodes():
    mean, std, symbols = fixed_inputs()
    msg = Message(num_streams=3, seed=7)
    codec = DiscretizedGaussian(mean, std, FINE, WIDE)
    codec.push(msg, symbols)
    np.testing.assert_array_equal(codec.pop(Message.from_bytes(msg.to_bytes())), symbols)


def test_elementary_functions_match_mpmath():
    mp.mp.dps = 40
    xs = np.concatenate([np.linspace(-6, 27, 3001), [0.0, 0.5, 1.5, 16.0, 26.9]])
    for x, got in zip(xs, _native.det_erfc(xs)):
        want = float(mp.erfc(x))
        if want > 1e-300:
            assert abs(got / want - 1) < 5e-13, x
    ys = np.linspace(-740, 709, 2001)
    for y, got in zip(ys, _native.det_exp(ys)):
        assert abs(got / float(mp.exp(y)) - 1) < 1e-14, y
    zs = np.exp(np.linspace(-700, 700, 2001))
    for z, got in zip(zs, _native.det_log(zs)):
        assert abs(got - float(mp.log(z))) < 1e-13 * max(1.0, abs(float(mp.log(z)))), z
    ps = np.exp(np.linspace(-600, np.log(0.999999), 500))
    for p, got in zip(ps, _native.det_normal_quantile(ps)):
        assert abs(float(mp.ncdf(got)) / p - 1) < 1e-11, p


def test_paired_phi_is_bit_identical_to_phi():
    """phi2 (SSE2, two edges at once: the encoder's path) gives exactly phi's bits, specials included."""
    rng = np.random.default_rng(3)
    t = np.concatenate([rng.normal(size=20000) * 4, rng.uniform(-9, 9, 20000), np.linspace(-8.5, 8.5, 4097),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, -8.0, 8.0, np.nextafter(8.0, 0), np.nextafter(-8.0, -9)],
                        rng.integers(0, 2**64, 5000, dtype=np.uint64).view(np.float64)])
    u = rng.permutation(t)
    p0, p1 = _native.det_phi2(t, u)
    assert p0.tobytes() == _native.det_phi(t).tobytes()
    assert p1.tobytes() == _native.det_phi(u).tobytes()


def test_quantised_gaussian_cdf_matches_an_exact_reference():
    """C(b) = floor(Phi(edge) (2^26 - 2 NB)) + 2b, recomputed with 40-digit arithmetic on random parameters."""
    mp.mp.dps = 40
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        mean, std = rng.normal() * 0.5, 2.0 ** rng.uniform(-20, 6)
        symbol = int(np.clip(np.floor((mean + std * rng.standard_t(4)) / FINE + 0.5), *WIDE))
        b, nb, first, last, c0, c1 = _native.gaussian_slot(symbol, mean, std, FINE, *WIDE)
        assert first <= symbol < last and 0 <= b < nb and c1 > c0
        r = 2**26 - 2 * nb
        for bucket, edge, got in ((b, first, c0), (b + 1, last, c1)):
            if bucket in (0, nb):
                assert got == (0 if bucket == 0 else 2**26)
                continue
            exact = mp.ncdf((mp.mpf(edge) - mp.mpf("0.5")) * mp.mpf(FINE) / std - mp.mpf(mean) / std) * r
            if abs(exact - mp.nint(exact)) < 1e-4:  # within reach of our ~1e-14 CDF error of an integer: skip
                continue
            assert got == int(mp.floor(exact)) + 2 * bucket
            checked += 1
    assert checked > 400
