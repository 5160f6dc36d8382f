"""Whitening of a message's top between chained bits-back batches (dgmlab.coding.whitening)."""

from __future__ import annotations

import numpy as np
import pytest

from dgmlab.coding import DiscretizedGaussian, Message
from dgmlab.coding.whitening import mix, safe_whiten_words, unmix, unwhiten, whiten


def test_mix_is_a_bijection_with_pinned_values() -> None:
    words = np.random.default_rng(0).integers(0, 2**63, 4096, dtype=np.uint64) * np.uint64(2)
    words[:3] = [0, 1, 2**64 - 1]
    assert np.array_equal(unmix(mix(words)), words)
    assert len(np.unique(mix(words))) == len(np.unique(words))
    # pinned: the mixer is part of the file format
    assert mix(np.array([0, 1], dtype=np.uint64)).tolist() == [0, 0xE4D971771B652C20]


def _tail_message(streams: int = 4, n: int = 4000) -> tuple[Message, DiscretizedGaussian]:
    """A message whose top holds symbols far in the tail of N(0, 1): what a misfit prior leaves behind."""
    msg = Message(num_streams=streams, seed=1)
    prior = DiscretizedGaussian(np.zeros(n), 1.0, bin_width=2.0**-16)
    prior.push(msg, np.full(n, 4 * 2**16))  # every value at +4 standard deviations
    return msg, prior


def test_whiten_is_exact_and_free() -> None:
    msg, _ = _tail_message()
    before, bits, initial = msg.to_bytes(), msg.num_bits(), msg.initial_bits_used()
    words = safe_whiten_words(msg, target=10**9)
    assert 0 < words and words % msg.num_streams == 0
    whiten(msg, words)
    assert msg.to_bytes() != before
    assert msg.initial_bits_used() == initial and abs(msg.num_bits() - bits) < 1e-4
    unwhiten(Message.from_bytes(msg.to_bytes()), words)  # a fresh message decodes it too
    unwhiten(msg, words)
    assert msg.to_bytes() == before


def test_whitened_pops_are_typical_samples() -> None:
    msg, prior = _tail_message()
    raw = prior.pop(msg.copy()) / 2**16
    assert raw.mean() > 3.0  # a pop reads the slot the last push wrote: again +4 sigma
    whiten(msg, safe_whiten_words(msg, target=10**9))
    white = prior.pop(msg) / 2**16
    assert abs(white.mean()) < 0.1 and 0.9 < white.std() < 1.1


def test_safe_count_stays_inside_every_stream() -> None:
    msg = Message(num_streams=4, seed=0)
    symbols = np.zeros(400, dtype=np.int64)
    symbols[:100] = np.arange(100) * 10**6  # stream 0 holds far more than the others
    DiscretizedGaussian(np.zeros(400), 1.0, bin_width=2.0**-20).push(msg, symbols)
    words, initial = safe_whiten_words(msg, target=10**9), msg.initial_bits_used()
    trial = msg.copy()
    whiten(trial, words)
    assert trial.initial_bits_used() == initial
    whiten(msg, 4 * words)  # past the smallest stream: initial bits are drawn
    assert msg.initial_bits_used() > initial
    assert safe_whiten_words(Message(num_streams=2, seed=0), target=100) == 0


@pytest.mark.parametrize("words", [-1, 1.5, True, "3"])
def test_bad_word_counts_are_rejected(words) -> None:
    with pytest.raises(ValueError, match="words"):
        whiten(Message(), words)
