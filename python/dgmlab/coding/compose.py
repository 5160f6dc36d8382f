"""Composing codecs: sequences and bits-back coding.

Any object with ``push(msg, symbols)`` and ``pop(msg) -> symbols`` is a codec. Compositions are codecs too, so
they nest. Bits-back coding (Wallace; Hinton & van Camp; Townsend et al.'s BB-ANS) codes x with a latent z:

    push x:  z <- posterior(x).pop(msg)     # decode z from the message (initial bits if it runs dry)
             likelihood(z).push(msg, x)
             prior.push(msg, z)
    pop:     z <- prior.pop(msg); x <- likelihood(z).pop(msg); posterior(x).push(msg, z)

Its net cost is -log p(x|z) - log p(z) + log q(z|x) bits: the bits popped for z come back to the decoder.

>>> import numpy as np
>>> from dgmlab.coding import Message, Categorical, Sequence
>>> seq = Sequence([Categorical(np.array([0.5, 0.5]), shape=(2,)), Categorical(np.array([0.9, 0.1]), shape=(3,))])
>>> msg = Message(num_streams=1, seed=0)
>>> seq.push(msg, (np.array([1, 0]), np.array([0, 0, 1])))
>>> [a.tolist() for a in seq.pop(msg)]
[[1, 0], [0, 0, 1]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from dgmlab.coding.message import Message


class Codec(Protocol):
    def push(self, msg: Message, symbols: Any) -> None: ...

    def pop(self, msg: Message) -> Any: ...


class Sequence:
    """Codes a tuple of values, one per codec; pops return them in the same order."""

    def __init__(self, codecs: list[Codec]) -> None:
        self.codecs = list(codecs)

    def push(self, msg: Message, values: tuple) -> None:
        if len(values) != len(self.codecs):
            raise ValueError(f"values: expected {len(self.codecs)} values, one per codec, got {len(values)}")
        for codec, value in zip(reversed(self.codecs), reversed(values)):
            codec.push(msg, value)

    def pop(self, msg: Message) -> tuple:
        return tuple(codec.pop(msg) for codec in self.codecs)


class BitsBack:
    """Bits-back coding of x with latent z: ``prior`` codes z, ``likelihood(z)`` codes x, ``posterior(x)`` codes z.

    The decoder must rebuild exactly the same codecs: compute their parameters identically on both sides.
    """

    def __init__(self, prior: Codec, likelihood: Callable[[Any], Codec], posterior: Callable[[Any], Codec]) -> None:
        self.prior, self.likelihood, self.posterior = prior, likelihood, posterior

    def push(self, msg: Message, x: Any) -> None:
        z = self.posterior(x).pop(msg)
        self.likelihood(z).push(msg, x)
        self.prior.push(msg, z)

    def pop(self, msg: Message) -> Any:
        z = self.prior.pop(msg)
        x = self.likelihood(z).pop(msg)
        self.posterior(x).push(msg, z)
        return x
