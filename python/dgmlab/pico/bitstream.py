"""PICO's real bitstream: kept latent blocks quantised and coded with dgmlab's rANS coder, plus the mask.

>>> import numpy as np
>>> z = np.random.default_rng(0).normal(size=(5, 8))
>>> mask = np.zeros((5, 4), bool); mask[:, 1] = True                     # 4 blocks of 2 latents, keep block 1
>>> data = encode(z, mask, LatentCode(block_size=2, step=0.25))
>>> out = decode(data)
>>> bool(np.all(out.mask == mask)), bool(np.allclose(out.values[:, 2:4], z[:, 2:4], atol=0.125))
(True, True)

One bitstream codes a batch of N observations (a test set, or the frames of one episode) so the fixed costs (a 29-byte
header and the coder's own framing) are shared; bits per observation = ``8 * len(data) / N``, everything
included. Per observation, in decode order: k (the number of kept blocks) under the randomised-rounding law of the
budget (``k_probs``; uniform over 0..K when k varies freely), the mask as the rank of a k-subset of K blocks
(uniform over C(K, k) values: log2 C(K, k) bits; with ``LatentCode.priority``, the informative blocks of a
compressor that keeps them first, only over the subsets that rule allows: log2 C(#informative, k) bits while k
fits them, log2 C(#others, k - #informative) above), then every kept latent as ``round(z / step)`` under a discretised
Gaussian N(mean, std^2) (the model's prior by default, or any predictive distribution the decoder can recompute).
Dropped latents are not sent: the receiver fills them (:mod:`dgmlab.pico.domain`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

from dgmlab.coding import Categorical, DiscretizedGaussian, Message, Uniform

__all__ = ["Decoded", "LatentCode", "decode", "encode", "pop_subset", "push_subset", "subset_pool", "subset_rank",
           "subset_unrank"]

_MAGIC = b"PICO"
_HEADER = struct.Struct("<4sBHHIdd")  # magic, version, K, block size, N, step, budget (NaN: k coded uniformly)
_VERSION = 1  # version 2 = version 1 + the priority blocks as ceil(K / 8) bytes of bits (numpy.packbits order)
_VERSION_PRIORITY = 2


@dataclass(frozen=True)
class LatentCode:
    """How kept latents are quantised and coded."""

    block_size: int
    """Latents per block (K = latent size / block_size)."""
    step: float = 0.25
    """Quantisation step of a kept latent, in latent units (the rate-distortion knob)."""
    budget: float | None = None
    """The budget rho used to draw k (k coded under its rounding law); None codes k uniformly over 0..K."""
    priority: tuple[bool, ...] | None = None
    """The blocks kept before any other (PICO's informative blocks, ``PICO.priority``): every mask keeps only
    priority blocks, or all of them and some others, and is coded among the subsets that allows. None (or all
    True): any k-subset."""

    def __post_init__(self) -> None:
        if self.priority is not None:
            prio = tuple(bool(v) for v in np.asarray(self.priority, bool).ravel())
            object.__setattr__(self, "priority", None if all(prio) else prio)
        if not (isinstance(self.block_size, int) and self.block_size >= 1):
            raise ValueError(f"block_size: expected an int >= 1, got {self.block_size!r}")
        if not (np.isfinite(self.step) and self.step > 0):
            raise ValueError(f"step: expected a finite quantisation step > 0, got {self.step!r}")


@dataclass
class Decoded:
    mask: np.ndarray
    """(N, K) bool: which blocks were sent."""
    values: np.ndarray
    """(N, L) float64: dequantised latents where sent, NaN where dropped."""


def subset_rank(mask_row: np.ndarray) -> int:
    """Colex rank of the set of kept blocks among the C(K, k) sets of its size (enumerative code)."""
    return sum(comb(int(pos), i + 1) for i, pos in enumerate(np.flatnonzero(mask_row)))


def subset_unrank(rank: int, k: int, num_blocks: int) -> np.ndarray:
    """Inverse of :func:`subset_rank`: the boolean mask of rank ``rank`` among k-subsets of ``num_blocks``."""
    row = np.zeros(num_blocks, bool)
    for i in range(k, 0, -1):
        pos = i - 1
        while comb(pos + 1, i) <= rank:
            pos += 1
        row[pos] = True
        rank -= comb(pos, i)
    return row


def subset_pool(k: int, num_blocks: int, priority: Sequence[bool] | np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(pool, fixed): a k-subset allowed by ``priority`` is ``fixed`` (bool, K) plus a subset of the ``pool``
    indices (all blocks; the priority ones while k fits them; else all priority blocks + some of the others)."""
    fixed = np.zeros(num_blocks, bool)
    if priority is None:
        return np.arange(num_blocks), fixed
    prio = np.asarray(priority, bool)
    if len(prio) != num_blocks:
        raise ValueError(f"priority: expected one flag per block ({num_blocks}), got {len(prio)}")
    if k <= prio.sum():
        return np.flatnonzero(prio), fixed
    return np.flatnonzero(~prio), prio


def push_subset(msg: Message, mask_row: np.ndarray, priority: tuple[bool, ...] | None = None) -> None:
    """Push which k-subset ``mask_row`` keeps, uniform over the C(K, k) of them or over those ``priority`` allows
    (k is coded separately)."""
    k = int(mask_row.sum())
    pool, fixed = subset_pool(k, len(mask_row), priority)
    rest = mask_row.copy()
    rest[pool] = False
    if not np.array_equal(rest, fixed):
        raise ValueError(f"mask: {np.flatnonzero(mask_row).tolist()} does not keep the priority (informative) "
                         f"blocks first ({np.flatnonzero(priority).tolist()}); code it without priority")
    Uniform(comb(len(pool), k - int(fixed.sum())), (1,)).push(msg, np.array([subset_rank(mask_row[pool])]))


def pop_subset(msg: Message, k: int, num_blocks: int, priority: tuple[bool, ...] | None = None) -> np.ndarray:
    """Inverse of :func:`push_subset`: the mask row of a k-subset of ``num_blocks``."""
    pool, fixed = subset_pool(k, num_blocks, priority)
    size = k - int(fixed.sum())
    row = fixed.copy()
    row[pool] = subset_unrank(int(Uniform(comb(len(pool), size), (1,)).pop(msg)[0]), size, len(pool))
    return row


def _check(z: np.ndarray, mask: np.ndarray, code: LatentCode) -> tuple[np.ndarray, np.ndarray]:
    z, mask = np.asarray(z, np.float64), np.asarray(mask)
    if z.ndim != 2 or mask.ndim != 2 or mask.dtype != bool:
        raise ValueError(f"expected latents (N, L) and a boolean mask (N, K), got {z.shape} and {mask.shape} "
                         f"{mask.dtype}")
    if z.shape[0] != mask.shape[0] or z.shape[1] != mask.shape[1] * code.block_size:
        raise ValueError(f"latents {z.shape} do not match mask {mask.shape} with block_size {code.block_size}: "
                         f"need L = K * block_size and the same N")
    if not np.all(np.isfinite(z)):
        raise ValueError("latents contain NaN/inf")
    return z, mask


def _k_codec(code: LatentCode, num_blocks: int, n: int):
    if code.budget is None:
        return Uniform(num_blocks + 1, (n,))
    from dgmlab.pico.masking import k_distribution

    return Categorical(k_distribution(code.budget, num_blocks), shape=(n,))


def _value_codec(mean, std, shape, code: LatentCode) -> DiscretizedGaussian:
    return DiscretizedGaussian(np.broadcast_to(mean, shape), np.broadcast_to(std, shape), bin_width=code.step)


def quantize(z: np.ndarray, step: float) -> np.ndarray:
    """What the receiver will see for a sent latent: ``step * round(z / step)``."""
    return np.floor(np.asarray(z, np.float64) / step + 0.5) * step


def encode(z: np.ndarray, mask: np.ndarray, code: LatentCode, mean: object = 0.0, std: object = 1.0) -> bytes:
    """Code the kept blocks of ``z`` (N, L) under ``mask`` (N, K); ``mean``/``std`` broadcast to (N, L)."""
    z, mask = _check(z, mask, code)
    n, num_blocks = mask.shape
    keep = np.repeat(mask, code.block_size, axis=1)
    mean, std = np.broadcast_to(mean, z.shape)[keep], np.broadcast_to(std, z.shape)[keep]
    msg = Message(num_streams=1, seed=0)
    values = _value_codec(mean, std, mean.shape, code)
    values.push(msg, values.quantize(z[keep]))
    for row in mask[::-1]:  # a stack: push last what the decoder pops first
        push_subset(msg, row, code.priority)
    _k_codec(code, num_blocks, n).push(msg, mask.sum(1))
    budget = np.nan if code.budget is None else code.budget
    version = _VERSION if code.priority is None else _VERSION_PRIORITY
    header = _HEADER.pack(_MAGIC, version, num_blocks, code.block_size, n, code.step, budget)
    if code.priority is not None:
        header += np.packbits(np.array(code.priority, bool)).tobytes()
    return header + msg.to_bytes()


def _read_header(data: bytes) -> tuple[LatentCode, int, int, int]:
    """(code, N, K, header length in bytes)."""
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        raise ValueError("data: not a PICO bitstream (bad magic or truncated header)")
    _, version, num_blocks, block, n, step, budget = _HEADER.unpack_from(data)
    if version not in (_VERSION, _VERSION_PRIORITY):
        raise ValueError(f"data: PICO bitstream version {version}, this dgmlab reads {_VERSION} and "
                         f"{_VERSION_PRIORITY}")
    size, priority = _HEADER.size, None
    if version == _VERSION_PRIORITY:
        size += (num_blocks + 7) // 8
        if len(data) < size:
            raise ValueError("data: truncated PICO bitstream header")
        bits = np.unpackbits(np.frombuffer(data[_HEADER.size:size], np.uint8))[:num_blocks]
        priority = tuple(bool(b) for b in bits)
    return LatentCode(block, step, None if np.isnan(budget) else budget, priority), n, num_blocks, size


def read_header(data: bytes) -> tuple[LatentCode, int, int]:
    """(code, N, K) from a PICO bitstream; ``ValueError`` if it is not one."""
    return _read_header(data)[:3]


def decode(data: bytes, mean: object = 0.0, std: object = 1.0) -> Decoded:
    """Inverse of :func:`encode` (the same ``mean``/``std`` the encoder used, as (N, L) or broadcastable)."""
    code, n, num_blocks, size = _read_header(data)
    msg = Message.from_bytes(data[size:])
    k = _k_codec(code, num_blocks, n).pop(msg)
    mask = np.zeros((n, num_blocks), bool)
    for i in range(n):
        mask[i] = pop_subset(msg, int(k[i]), num_blocks, code.priority)
    shape = (n, num_blocks * code.block_size)
    keep = np.repeat(mask, code.block_size, axis=1)
    mean, std = np.broadcast_to(mean, shape)[keep], np.broadcast_to(std, shape)[keep]
    symbols = _value_codec(mean, std, mean.shape, code).pop(msg)
    values = np.full(shape, np.nan)
    values[keep] = symbols * code.step
    return Decoded(mask, values)
