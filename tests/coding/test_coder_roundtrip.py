"""Every codec roundtrips bit-exactly on random parameters, across stream counts and through bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgmlab.coding import (
    BitsBack,
    Categorical,
    DiscretizedGaussian,
    DiscretizedLogistic,
    DiscretizedMixtureLogistic,
    GaussianBuckets,
    Message,
    Sequence,
    Uniform,
)

FINE = 2.0**-32
WIDE = (-(2**41), 2**41)  # +-2^9 in data units on the 2^-32 grid

seeds = st.integers(0, 2**32 - 1)
streams = st.sampled_from([1, 2, 3, 8, 33])


def roundtrip(codec, symbols, num_streams: int, seed: int = 0) -> Message:
    msg = Message(num_streams=num_streams, seed=seed)
    codec.push(msg, symbols)
    decoded = codec.pop(Message.from_bytes(msg.to_bytes()))
    np.testing.assert_array_equal(decoded, symbols)
    return msg


@settings(max_examples=40, deadline=None)
@given(seed=seeds, num_streams=streams, log2_std=st.floats(-20, 10), n=st.integers(1, 300))
def test_fine_gaussian_roundtrips_over_extreme_scales(seed, num_streams, log2_std, n):
    rng = np.random.default_rng(seed)
    std = np.full(n, 2.0**log2_std) * rng.uniform(0.5, 2, n)
    mean = rng.normal(size=n) * rng.choice([1e-6, 1.0, 100.0])
    x = mean + std * rng.standard_t(3, n)  # heavy tails reach the tail buckets
    codec = DiscretizedGaussian(mean, std, bin_width=FINE, support=WIDE)
    symbols = codec.quantize(x)
    symbols[: n // 10] = rng.integers(*WIDE, size=n // 10)  # arbitrary symbols anywhere in the support
    roundtrip(codec, symbols, num_streams, seed)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, num_streams=streams, n=st.integers(1, 200), lo=st.integers(-3000, 3000), width=st.integers(0, 5000))
def test_grid_codecs_roundtrip_on_small_and_medium_supports(seed, num_streams, n, lo, width):
    rng = np.random.default_rng(seed)
    support = (lo, lo + width)
    mean = rng.uniform(lo - 50, lo + width + 50, n)
    scale = np.exp(rng.uniform(-5, 6, n))
    symbols = rng.integers(lo, lo + width + 1, n)
    for codec in (DiscretizedGaussian(mean, scale, 1.0, support), DiscretizedLogistic(mean, scale, 1.0, support)):
        roundtrip(codec, symbols, num_streams, seed)


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    lo=st.sampled_from([-(2**62), -(2**41), -5000, 0, 2**61]),
    width=st.sampled_from([1, 1023, 1024, 5000, 2**41, 2**62]),
    bin_width=st.sampled_from([2.0**-32, 3e-7, 1.0, 1e5]),
    log_scale=st.floats(-700, 700),
    centre=st.sampled_from([-1e300, -1e20, 0.0, 1.0, 1e20, 1e300]),
)
def test_grid_codecs_roundtrip_on_extreme_supports(seed, lo, width, bin_width, log_scale, centre):
    """Supports up to 2^62 bins, means far outside them, scales from 1e-304 to 1e304."""
    rng = np.random.default_rng(seed)
    hi = min(2**62, lo + width)
    n = 100
    mean = centre * rng.uniform(0, 1, n) + rng.normal(size=n)
    scale = np.exp(log_scale + rng.uniform(-1, 1, n))
    symbols = rng.integers(lo, hi, n, endpoint=True)
    with np.errstate(over="ignore"):  # means of 1e300 on a 2^-32 grid: the nearest bin is off the int64 range
        near = np.clip(np.floor(mean / bin_width + 0.5), -(2.0**62), 2.0**62).astype(np.int64)
    symbols[:30] = np.clip(near[:30] + rng.integers(-3, 4, 30), lo, hi)
    for codec in (DiscretizedGaussian(mean, scale, bin_width, (lo, hi)), DiscretizedLogistic(mean, scale, bin_width, (lo, hi))):
        roundtrip(codec, symbols, 3, seed)


def test_grid_codecs_roundtrip_on_the_largest_support():
    """lo = -2^62, hi = 2^62: hi - lo overflows int64 (this once crashed with a division by zero)."""
    lo, hi = -(2**62), 2**62
    symbols = np.array([lo, hi, lo + 1, hi - 1, 0, 2**61, -(2**61), 12345])
    for w in (1e-3, 1.0, 2.0**-32):
        mean, scale = np.linspace(-5, 5, len(symbols)), np.full(len(symbols), 2.0)
        for codec in (DiscretizedGaussian(mean, scale, w, (lo, hi)), DiscretizedLogistic(mean, scale, w, (lo, hi))):
            roundtrip(codec, symbols, 3)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, num_streams=streams, k=st.integers(1, 10), n=st.integers(1, 200), fine=st.booleans())
def test_mixture_of_logistics_roundtrips(seed, num_streams, k, n, fine):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    means = rng.normal(size=(n, k)) * (0.5 if fine else 100) + (0 if fine else 128)
    log_scales = rng.uniform(-8, 0, (n, k)) if fine else rng.uniform(-3, 4, (n, k))
    support = WIDE if fine else (0, 255)
    codec = DiscretizedMixtureLogistic(logits, means, log_scales, FINE if fine else 1.0, support)
    symbols = rng.integers(support[0], support[1] + 1, n)
    symbols[: n // 2] = np.clip(np.floor(means[: n // 2, 0] / (FINE if fine else 1.0) + 0.5), *support).astype(int)
    roundtrip(codec, symbols, num_streams, seed)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, num_streams=streams, k=st.integers(1, 300), n=st.integers(1, 200), precision=st.integers(9, 31))
def test_categoricals_roundtrip(seed, num_streams, k, n, precision):
    rng = np.random.default_rng(seed)
    rows = rng.dirichlet(np.full(k, 0.3), size=n)
    rows[0] = 0
    rows[0, -1] = 1  # zero-probability categories still get a nonzero frequency
    symbols = rng.integers(0, k, n)
    roundtrip(Categorical(rows, precision=precision), symbols, num_streams, seed)
    shared = rng.dirichlet(np.ones(k))
    roundtrip(Categorical(shared, shape=(n,), precision=precision), symbols, num_streams, seed)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, num_streams=streams, size=st.sampled_from([1, 2, 3, 255, 256, 1000, 2**31 - 1, 2**31, 2**31 + 5, 2**62]))
def test_uniform_roundtrips(seed, num_streams, size):
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, size, 100, dtype=np.int64) if size > 1 else np.zeros(100, dtype=np.int64)
    symbols[0] = size - 1
    roundtrip(Uniform(size, shape=(100,)), symbols, num_streams, seed)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, num_streams=streams, precision=st.integers(1, 16), n=st.integers(1, 300))
def test_gaussian_buckets_roundtrip(seed, num_streams, precision, n):
    rng = np.random.default_rng(seed)
    mean, std = rng.normal(size=n) * 2, np.exp(rng.uniform(-6, 1, n))
    codec = GaussianBuckets(mean, std, precision=precision)
    symbols = codec.bucket_of(mean + std * rng.normal(size=n))
    symbols[0] = 2**precision - 1
    roundtrip(codec, symbols, num_streams, seed)


def test_gaussian_buckets_have_equal_prior_mass():
    from scipy.stats import norm

    codec = GaussianBuckets(np.zeros(1), np.ones(1), precision=6)
    np.testing.assert_allclose(np.diff(norm.cdf(codec.edges)), 1 / 64, rtol=1e-11)  # erfc is fitted to 2e-13
    np.testing.assert_array_equal(codec.bucket_of(codec.centres), np.arange(64))


def test_message_is_a_stack_across_codecs():
    rng = np.random.default_rng(0)
    a = Categorical(np.array([0.2, 0.8]), shape=(1000,))
    b = DiscretizedGaussian(rng.normal(size=500), np.full(500, 0.01), FINE, WIDE)
    sa, sb = rng.integers(0, 2, 1000), b.quantize(rng.normal(size=500))
    msg = Message(num_streams=4, seed=1)
    a.push(msg, sa)
    b.push(msg, sb)
    np.testing.assert_array_equal(b.pop(msg), sb)
    np.testing.assert_array_equal(a.pop(msg), sa)
    assert 4 * 31 <= msg.initial_bits_used() < 4 * 32  # the four random heads, nothing more
    assert msg.num_bits() == pytest.approx(msg.initial_bits_used(), abs=1e-9)


def test_stream_count_changes_the_bytes_but_not_the_content():
    rng = np.random.default_rng(3)
    codec = DiscretizedGaussian(np.zeros(10_000), np.full(10_000, 1e-3), FINE, WIDE)
    symbols = codec.quantize(rng.normal(scale=1e-3, size=10_000))
    messages = {n: roundtrip(codec, symbols, n) for n in (1, 2, 7, 64)}
    assert len({m.to_bytes() for m in messages.values()}) == 4
    sizes = [m.num_bits() for m in messages.values()]
    assert max(sizes) - min(sizes) < 64 * 64  # streams cost at most about one 64-bit head each
    assert Message.from_bytes(messages[7].to_bytes()).num_streams == 7


def test_bits_back_composition_roundtrips_and_refunds_the_posterior_bits():
    rng = np.random.default_rng(5)
    n = 2000
    # A two-component model: z ~ Bernoulli(1/2) picks the mean of x's Gaussian.
    prior = Categorical(np.array([0.5, 0.5]), shape=(n,))
    means = np.array([-1.0, 1.0])

    def likelihood(z):
        return DiscretizedGaussian(means[z], np.full(n, 0.5), 2.0**-8, (-(2**12), 2**12))

    def posterior(x_sym):
        x = x_sym * 2.0**-8
        logp = -0.5 * ((x[:, None] - means[None]) / 0.5) ** 2
        p = np.exp(logp - logp.max(1, keepdims=True))
        return Categorical(p / p.sum(1, keepdims=True))

    codec = BitsBack(prior, likelihood, posterior)
    z = rng.integers(0, 2, n)
    x = likelihood(z).quantize(means[z] + 0.5 * rng.normal(size=n))
    msg = Message(num_streams=4, seed=9)
    codec.push(msg, x)
    assert msg.initial_bits_used() > 0  # the first posterior pops ran on an empty message
    decoded = codec.pop(Message.from_bytes(msg.to_bytes()))
    np.testing.assert_array_equal(decoded, x)
    seq = Sequence([prior, prior])
    m2 = Message(num_streams=1, seed=0)
    seq.push(m2, (z, z[::-1]))
    out = seq.pop(m2)
    np.testing.assert_array_equal(out[0], z)
    np.testing.assert_array_equal(out[1], z[::-1])
