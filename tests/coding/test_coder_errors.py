"""Bad input gets a ValueError that names the argument; corrupt bytes never crash."""

from __future__ import annotations

import numpy as np
import pytest

from dgmlab.coding import (
    Categorical,
    DiscretizedGaussian,
    DiscretizedLogistic,
    DiscretizedMixtureLogistic,
    GaussianBuckets,
    Message,
    Uniform,
)

FINE = 2.0**-32


def test_message_arguments():
    for bad in (0, -1, 2**21, 1.5, True):
        with pytest.raises(ValueError, match="num_streams"):
            Message(num_streams=bad)
    with pytest.raises(ValueError, match="seed"):
        Message(1, seed=-1)
    with pytest.raises(ValueError, match="data"):
        Message.from_bytes("not bytes")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mean=[0.0, np.nan], std=[1.0, 1.0]), r"mean\[1\]"),
        (dict(mean=[0.0, np.inf], std=[1.0, 1.0]), r"mean\[1\]"),
        (dict(mean=[0.0, 0.0], std=[1.0, 0.0]), r"std\[1\]"),
        (dict(mean=[0.0, 0.0], std=[1.0, -2.0]), r"std\[1\]"),
        (dict(mean=[0.0, 0.0], std=[np.nan, 1.0]), r"std\[0\]"),
    ],
)
def test_gaussian_parameter_values(kwargs, match):
    codec = DiscretizedGaussian(np.array(kwargs["mean"]), np.array(kwargs["std"]), 1.0, (-10, 10))
    with pytest.raises(ValueError, match=match):
        codec.push(Message(1), np.array([0, 0]))
    with pytest.raises(ValueError, match=match):
        codec.pop(Message(1))


def test_shapes_dtypes_and_supports():
    codec = DiscretizedGaussian(np.zeros(3), np.ones(3), 1.0, (-10, 10))
    msg = Message(2)
    with pytest.raises(ValueError, match="symbols: expected an integer array"):
        codec.push(msg, np.zeros(3))
    with pytest.raises(ValueError, match=r"symbols: expected shape \(3,\)"):
        codec.push(msg, np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match=r"symbols\[2\] = 11: outside the support \[-10, 10\]"):
        codec.push(msg, np.array([0, 1, 11]))
    with pytest.raises(ValueError, match="do not broadcast"):
        DiscretizedGaussian(np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match="bin_width"):
        DiscretizedLogistic(np.zeros(3), np.ones(3), bin_width=0.0)
    with pytest.raises(ValueError, match="support"):
        DiscretizedLogistic(np.zeros(3), np.ones(3), 1.0, support=(5, 4))
    with pytest.raises(ValueError, match="support"):
        DiscretizedLogistic(np.zeros(3), np.ones(3), 1.0, support=(0, 2**63))
    with pytest.raises(ValueError, match="mean: expected a real-valued array"):
        DiscretizedGaussian(np.array(["a"]), np.ones(1))
    with pytest.raises(ValueError, match="msg"):
        codec.push(b"not a message", np.zeros(3, dtype=np.int64))
    assert msg.num_bits() == 0  # nothing was written by the rejected calls


def test_categorical_arguments():
    with pytest.raises(ValueError, match="sums to"):
        Categorical(np.array([[0.5, 0.4]])).push(Message(1), np.array([0]))
    with pytest.raises(ValueError, match=r"probs\[1\]"):
        Categorical(np.array([[0.5, -0.5, 1.0]])).push(Message(1), np.array([0]))
    with pytest.raises(ValueError, match="probs"):
        Categorical(np.array([0.5, 0.5]), shape=(2,), precision=1)
    with pytest.raises(ValueError, match="precision"):
        Categorical(np.array([0.5, 0.5]), shape=(2,), precision=40)
    with pytest.raises(ValueError, match=r"symbols\[0\] = 2"):
        Categorical(np.array([0.5, 0.5]), shape=(1,)).push(Message(1), np.array([2]))
    with pytest.raises(ValueError, match="size"):
        Uniform(0)


def test_mixture_and_buckets_arguments():
    ok = np.zeros((2, 3))
    with pytest.raises(ValueError, match="equal shapes"):
        DiscretizedMixtureLogistic(ok, ok, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="components"):
        DiscretizedMixtureLogistic(np.zeros((2, 65)), np.zeros((2, 65)), np.zeros((2, 65)))
    bad = ok.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"log_scales\[5\]"):
        DiscretizedMixtureLogistic(ok, ok, bad, 1.0, (0, 255)).push(Message(1), np.array([0, 0]))
    with pytest.raises(ValueError, match="precision"):
        GaussianBuckets(np.zeros(2), np.ones(2), precision=0)
    with pytest.raises(ValueError, match=r"symbols\[0\] = 256"):
        GaussianBuckets(np.zeros(1), np.ones(1), precision=8).push(Message(1), np.array([256]))


def encoded() -> bytes:
    rng = np.random.default_rng(0)
    msg = Message(num_streams=3, seed=1)
    DiscretizedGaussian(np.zeros(1000), np.full(1000, 0.1), FINE).push(
        msg, np.floor(rng.normal(scale=0.1, size=1000) / FINE).astype(np.int64)
    )
    return msg.to_bytes()


def test_truncated_bytes_are_rejected_at_every_length():
    data = encoded()
    for cut in list(range(64)) + list(range(64, len(data), 97)) + [len(data) - 1]:
        with pytest.raises(ValueError, match="truncated|checksum|magic"):
            Message.from_bytes(data[:cut])


def test_corrupt_and_foreign_bytes_are_rejected():
    data = bytearray(encoded())
    rng = np.random.default_rng(1)
    for position in rng.integers(0, len(data), 200):
        flipped = bytearray(data)
        flipped[position] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ValueError, match="corrupt|checksum|magic|version|truncated"):
            Message.from_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="magic"):
        Message.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match="trailing"):
        Message.from_bytes(bytes(data) + b"\x00")
    future = bytearray(data)
    future[8] = 2
    with pytest.raises(ValueError, match="version 2 is not supported"):
        Message.from_bytes(bytes(future))
