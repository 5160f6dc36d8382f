"""pytest-benchmark suite for the coder: `python -m pytest bench/test_coder_bench.py --benchmark-only`.

Each case encodes or decodes 200,000 symbols; divide the reported time by 200,000 for time per symbol.
"""

from __future__ import annotations

import numpy as np
import pytest

from dgmlab.coding import (
    Categorical,
    DiscretizedGaussian,
    DiscretizedMixtureLogistic,
    GaussianBuckets,
    Message,
)

N = 200_000
rng = np.random.default_rng(0)


def fine_gaussian(std: float) -> tuple:
    mean = rng.normal(size=N) * 0.5
    codec = DiscretizedGaussian(mean, np.full(N, std), 2.0**-32, (-(2**41), 2**41))
    return codec, codec.quantize(rng.normal(mean, std))


def quantised_gaussian() -> tuple:
    mean, std = rng.uniform(-10, 10, N), rng.uniform(0.5, 8, N)
    codec = DiscretizedGaussian(mean, std, 1.0, (-32, 31))
    return codec, codec.quantize(rng.normal(mean, std))


def categorical() -> tuple:
    probs = rng.dirichlet(np.full(256, 0.5))
    return Categorical(probs, shape=(N,)), rng.choice(256, N, p=probs)


def mixture() -> tuple:
    logits, means, log_scales = rng.normal(size=(3, N, 5))
    codec = DiscretizedMixtureLogistic(logits, means * 60 + 128, log_scales + 1, 1.0, (0, 255))
    return codec, rng.integers(0, 256, N)


def buckets() -> tuple:
    mean, std = rng.normal(size=N), np.exp(rng.uniform(-3, 0, N))
    codec = GaussianBuckets(mean, std, precision=12)
    return codec, codec.bucket_of(rng.normal(mean, std))


CASES = {
    "fine_gaussian_std2^-14": lambda: fine_gaussian(2.0**-14),
    "fine_gaussian_std1": lambda: fine_gaussian(1.0),
    "quantised_gaussian_64": quantised_gaussian,
    "categorical_256": categorical,
    "mixture_logistic_5_8bit": mixture,
    "gaussian_buckets_p12": buckets,
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("streams", [1, 16])
def test_encode(benchmark, name, streams):
    codec, symbols = CASES[name]()

    def encode():
        msg = Message(num_streams=streams, seed=0)
        codec.push(msg, symbols)

    benchmark(encode)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("streams", [1, 16])
def test_decode(benchmark, name, streams):
    codec, symbols = CASES[name]()
    msg = Message(num_streams=streams, seed=0)
    codec.push(msg, symbols)
    data = msg.to_bytes()
    out = benchmark(lambda: codec.pop(Message.from_bytes(data)))
    np.testing.assert_array_equal(out, symbols)
