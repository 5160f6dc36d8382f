"""The coder's fast paths give the bits of the general ones: vectorised Phi and CDF quantisation on the encoder,
the exact-layout Gaussian model of small supports (quantised Gaussians), and the decoder's slot guess."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dgmlab.coding import DiscretizedGaussian, GaussianBuckets, Message, Uniform
from dgmlab.coding._ext import _native


def special_and_random(rng: np.random.Generator, n: int) -> np.ndarray:
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, -8.0, 8.0, np.nextafter(8.0, 0), np.nextafter(-8.0, -9), 1e-300]
    return np.concatenate([specials, rng.normal(size=n) * 4, rng.uniform(-9, 9, n),
                           rng.integers(0, 2**64, n // 4, dtype=np.uint64).view(np.float64)])


def test_vectorised_phi_matches_scalar_phi_bit_for_bit():
    rng = np.random.default_rng(11)
    e = special_and_random(rng, 40000)
    mean = rng.permutation(special_and_random(rng, 40000))[: e.size]
    with np.errstate(all="ignore"):  # random bit patterns include signalling NaNs
        std = np.abs(rng.permutation(special_and_random(rng, 40000))[: e.size]) + 1e-3
    for n in (e.size, 1, 3, 5, 7):  # tails of the 4-lane loop
        dispatched = _native.det_phi_standardised(e[:n], mean[:n], std[:n], True)
        scalar = _native.det_phi_standardised(e[:n], mean[:n], std[:n], False)
        assert dispatched.tobytes() == scalar.tobytes()
    with np.errstate(all="ignore"):
        assert scalar.tobytes() == _native.det_phi((e[:7] - mean[:7]) / std[:7]).tobytes()
    assert _native.coder_simd() in ("avx512", "avx2", "scalar")


def test_vectorised_cdf_quantisation_matches_scalar():
    rng = np.random.default_rng(12)
    n = 4099
    precision = rng.integers(1, 32, n)
    total = (np.uint64(1) << precision.astype(np.uint64)).astype(np.uint32)
    nb = np.maximum(1, rng.integers(0, 2**30, n) >> (31 - precision + 1)).astype(np.int32)
    b = (rng.integers(-2, 2**31, n) % (nb.astype(np.int64) + 1)).astype(np.int32)  # 0..NB, with the two ends
    b[:5] = [0, 0, 1, 2, 3]
    f0 = np.sort(rng.uniform(0, 1, (n, 2)), axis=1)[:, 0]
    f1 = np.maximum(f0, rng.uniform(0, 1, n))
    f0[:3], f1[:3] = 0.0, 1.0
    rng_ = (total.astype(np.int64) - 2 * nb.astype(np.int64)).astype(np.float64)
    ok = rng_ > 0
    args = (f0[ok], f1[ok], rng_[ok], b[ok], nb[ok], total[ok])
    for m in (int(ok.sum()), 1, 2, 3, 6):
        fast = _native.quantise_pairs(*(a[:m] for a in args), True)
        slow = _native.quantise_pairs(*(a[:m] for a in args), False)
        assert fast[0].tobytes() == slow[0].tobytes() and fast[1].tobytes() == slow[1].tobytes()


def exact_support_digest() -> str:
    """Quantised Gaussians on small supports (one bucket per bin) from integer-derived parameters: pushes on 1 and
    5 streams, pops of the own content, and pops of foreign content (guesses that miss, tails, both ends)."""
    h = hashlib.sha256()
    i = np.arange(4000)
    for lo, hi, width in ((-32, 31, 1.0), (0, 255, 1.0), (-3, 3, 0.5), (0, 0, 1.0), (-511, 511, 2.0),
                          (2**49, 2**49 + 900, 1.0), (-(2**50) - 10, -(2**50) + 10, 1.0), (-5, 1017, 0.25)):
        mean = (lo + ((i * 37) % 101) / 100.0 * (hi - lo + 10) - 5) * width
        std = (2.0 ** (((i * 7) % 23) - 9.0)) * width
        symbols = np.clip(np.floor(mean / width + 0.5) + ((i * 7919) % 13 - 6) * ((i % 5) + 1), lo, hi).astype(np.int64)
        codec = DiscretizedGaussian(mean, std, width, (lo, hi))
        for streams in (1, 5):
            msg = Message(num_streams=streams, seed=3)
            codec.push(msg, symbols)
            data = msg.to_bytes()
            h.update(data)
            back = Message.from_bytes(data)
            assert (codec.pop(back) == symbols).all()
            h.update(codec.pop(back).tobytes())  # past the content: initial bits
            foreign = Message(num_streams=streams, seed=4)
            Uniform(2**31, shape=(9000,)).push(foreign, (np.arange(9000) * 2654435761) % 2**31)
            h.update(codec.pop(foreign).tobytes())
            h.update(foreign.to_bytes())
    bucket = GaussianBuckets(((i[:500] * 37) % 101 - 50) / 25.0, 2.0 ** -((i[:500] * 7) % 5) + 0.25, precision=10)
    msg = Message(num_streams=2, seed=5)
    bucket.push(msg, (i[:500] * 31) % 1024)
    h.update(msg.to_bytes())
    return h.hexdigest()


# Produced by the build before the fast paths (general layout per symbol, scalar Phi): they must not change a bit.
EXACT_PINNED = "31ce441111be386b16719f463628869a4add96d5af3ba01078ac199fcff23383"


def test_exact_support_bitstreams_are_pinned():
    assert exact_support_digest() == EXACT_PINNED


@pytest.mark.parametrize("streams", [1, 4])
def test_exact_support_roundtrip_from_tails(streams):
    """Symbols far in the tails (guesses miss, the search takes over) still round-trip."""
    n = 2000
    mean = np.linspace(-40, 40, n)
    std = np.full(n, 0.05)
    symbols = np.where(np.arange(n) % 2 == 0, -32, 31).astype(np.int64)
    codec = DiscretizedGaussian(mean, std, 1.0, (-32, 31))
    msg = Message(num_streams=streams, seed=1)
    codec.push(msg, symbols)
    assert (codec.pop(Message.from_bytes(msg.to_bytes())) == symbols).all()
