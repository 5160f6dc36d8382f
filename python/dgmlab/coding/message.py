"""The ANS message: a stack of interleaved rANS streams.

>>> import numpy as np
>>> from dgmlab.coding import Message, Categorical
>>> msg = Message(num_streams=4, seed=0)
>>> Categorical(np.array([0.5, 0.25, 0.25]), shape=(6,)).push(msg, np.array([0, 1, 2, 0, 0, 1]))
>>> data = msg.to_bytes()
>>> Categorical(np.array([0.5, 0.25, 0.25]), shape=(6,)).pop(Message.from_bytes(data)).tolist()
[0, 1, 2, 0, 0, 1]

A message is a *stack*: pop returns what was pushed last. An array of n symbols is split into ``num_streams``
contiguous chunks (stream s codes items ``[s*n//N, (s+1)*n//N)``), coded in parallel; the split depends only on n
and N, so encoder and decoder must use the same stream count (it is stored in the bytes).

Each stream starts from a head of random bits drawn from a generator seeded by ``seed`` at its first push or pop,
and popping more than a stream holds, which bits-back coding does on purpose, draws more. :meth:`initial_bits_used`
counts these "initial bits" (log2(head / 2^31), 31..32, per started stream, and 32 per further word), so the net
codelength is
``num_bits() - initial_bits_used()``. A random head is what makes bits-back pops genuine samples from the start.
"""

from __future__ import annotations

from dgmlab.coding._ext import _native


class Message:
    """A stack of ``num_streams`` rANS streams (64-bit state, 32-bit words) with seeded initial bits."""

    __slots__ = ("_impl",)

    def __init__(self, num_streams: int = 1, seed: int = 0) -> None:
        if isinstance(num_streams, bool) or not isinstance(num_streams, int) or not 1 <= num_streams <= 2**20:
            raise ValueError(f"num_streams: expected an int in [1, 2**20], got {num_streams!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise ValueError(f"seed: expected an int in [0, 2**64), got {seed!r}")
        self._impl = _native.Message(num_streams, seed)

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        """Rebuild a message from :meth:`to_bytes`; corrupt, truncated or foreign bytes raise ``ValueError``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"data: expected bytes, got {type(data).__name__}")
        msg = cls.__new__(cls)
        msg._impl = _native.Message.from_bytes(bytes(data))
        return msg

    def to_bytes(self) -> bytes:
        """Serialise: magic, format version, stream count, seed, each stream's state and words, checksum."""
        return self._impl.to_bytes()

    def copy(self) -> Message:
        msg = Message.__new__(Message)
        msg._impl = self._impl.copy()
        return msg

    @property
    def num_streams(self) -> int:
        return self._impl.num_streams

    @property
    def seed(self) -> int:
        return self._impl.seed

    def num_bits(self) -> float:
        """Information held, initial bits included: 32 per word plus log2(head / 2^31) per stream.

        ``to_bytes`` adds fixed headers and always writes each stream's 64-bit head in full.
        """
        return self._impl.num_bits()

    def initial_bits_used(self) -> float:
        """Initial bits drawn from the seeded source: stream heads and pops past the content (bits-back's auxiliary bits)."""
        return self._impl.initial_bits_used()

    def __repr__(self) -> str:
        return (
            f"Message(num_streams={self.num_streams}, num_bits={self.num_bits():.1f}, "
            f"initial_bits_used={self.initial_bits_used():.1f})"
        )
