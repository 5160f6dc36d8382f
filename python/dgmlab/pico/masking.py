"""Block masks: how many blocks to keep (randomised rounding), which ones (top-k), and the relaxed mask for training.

>>> import numpy as np
>>> k = budget_to_k(0.3, 8, np.random.default_rng(0), size=100_000)   # rho * K = 2.4: k is 2 or 3, mean 2.4
>>> sorted(set(k.tolist())), round(float(k.mean()), 2)
([2, 3], 2.4)

A budget rho in [0, 1] keeps ``rho * K`` of the K latent blocks *in expectation*: k = floor(rho K) + Bernoulli(frac),
so the mean rate is exactly the budget (the paper's deployment rule). :func:`k_distribution` gives the same law
as probabilities, which the bitstream uses to code k in (almost) zero bits when rho K is an integer.

The compressor's logits l define a policy over the k-subsets S of blocks, P(S | x) = softmax_S(sum_{i in S} l_i / T)
(:func:`subset_log_policy`); its mode is the top-k of l (what deployment keeps), :func:`gumbel_topk_mask` draws
exploratory masks around it, and :func:`candidate_subsets` lists the subsets the training loss averages over.

Each takes an optional ``priority`` (K,) bool: the *informative* blocks (:func:`informative_blocks`), which are kept
before any other: with k <= #informative only informative blocks are chosen, with more all of them are kept and
the rest is chosen among the others. ``None`` (or all True) is the unrestricted choice, unchanged.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import torch

from dgmlab.pico.bitstream import subset_pool

__all__ = [
    "budget_to_k",
    "candidate_subsets",
    "check_budget",
    "gumbel_topk_mask",
    "informative_blocks",
    "k_distribution",
    "mask_usage",
    "random_mask",
    "relaxed_mask",
    "straight_through_mask",
    "subset_log_policy",
    "topk_mask",
]


def check_budget(rho: float) -> float:
    """The budget as a float, or ``ValueError`` if it is not a number in [0, 1]."""
    try:
        value = float(rho)
    except (TypeError, ValueError):
        raise ValueError(f"budget: expected a fraction of blocks in [0, 1], got {rho!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"budget: expected a fraction of blocks in [0, 1], got {rho!r} (0.25 keeps a quarter)")
    return value


def k_distribution(rho: float, num_blocks: int) -> np.ndarray:
    """P(k = 0 .. K) under randomised rounding of rho K: mass on floor and ceil only, mean exactly rho K."""
    rho = check_budget(rho)
    target = rho * num_blocks
    lo = int(np.floor(target))
    probs = np.zeros(num_blocks + 1)
    frac = target - lo
    probs[lo] = 1.0 - frac
    if frac > 0:
        probs[lo + 1] = frac
    return probs


def budget_to_k(rho: float, num_blocks: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of k from :func:`k_distribution` (int64)."""
    target = check_budget(rho) * num_blocks
    lo = int(np.floor(target))
    return (lo + (rng.random(size) < target - lo)).astype(np.int64)


def informative_blocks(block_kl: np.ndarray | None, threshold: float, num_blocks: int) -> np.ndarray:
    """(K,) bool: blocks whose mean KL(q(z_b | x) || p(z_b)) reaches ``threshold`` nats (all True if the KL is
    unknown, the threshold is 0, or no block reaches it: then there is no ranking to apply).

    A block whose posterior equals the prior carries nothing about x: the sender's quantised sample and the
    receiver's prior fill are draws of the same law, so bits spent on it buy nothing.
    """
    if block_kl is None or threshold <= 0:
        return np.ones(num_blocks, bool)
    block_kl = np.asarray(block_kl, np.float64)
    if block_kl.shape != (num_blocks,):
        raise ValueError(f"block_kl: expected one KL per block, shape ({num_blocks},), got {block_kl.shape}")
    informative = block_kl >= threshold
    return informative if informative.any() else np.ones(num_blocks, bool)


def _priority(priority: np.ndarray | None, num_blocks: int) -> np.ndarray | None:
    """``priority`` as a (K,) bool array, or None when it restricts nothing."""
    if priority is None:
        return None
    priority = np.asarray(priority, bool)
    if priority.shape != (num_blocks,):
        raise ValueError(f"priority: expected a (K,) = ({num_blocks},) bool mask of informative blocks, got shape "
                         f"{priority.shape}")
    return None if priority.all() else priority


def topk_mask(scores: np.ndarray, k: np.ndarray, priority: np.ndarray | None = None) -> np.ndarray:
    """Boolean (N, K) mask keeping the k[i] highest-scoring blocks of row i (ties go to the lower index); with
    ``priority``, the priority blocks rank above all others (then by score)."""
    scores = np.asarray(scores, dtype=np.float64)
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), scores.shape[:1])
    if scores.ndim != 2:
        raise ValueError(f"scores: expected (N, K) block scores, got shape {scores.shape}")
    if k.min(initial=0) < 0 or k.max(initial=0) > scores.shape[1]:
        raise ValueError(f"k: expected 0 <= k <= {scores.shape[1]} blocks, got range [{k.min()}, {k.max()}]")
    priority = _priority(priority, scores.shape[1])
    if priority is None:
        order = np.argsort(-scores, axis=1, kind="stable")
    else:  # lexsort is stable; its last key is the primary one
        order = np.lexsort((-scores, np.broadcast_to(~priority, scores.shape)), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None].repeat(len(scores), 0), axis=1)
    return ranks < k[:, None]


def random_mask(num_rows: int, num_blocks: int, k: np.ndarray, rng: np.random.Generator,
                priority: np.ndarray | None = None) -> np.ndarray:
    """The non-adaptive baseline: k[i] blocks chosen uniformly at random for each row (with ``priority``: uniformly
    among the allowed subsets, see the module docstring)."""
    return topk_mask(rng.random((num_rows, num_blocks)), k, priority)


def gumbel_topk_mask(logits: np.ndarray, k: np.ndarray, rng: np.random.Generator,
                     temperature: float = 1.0, priority: np.ndarray | None = None) -> np.ndarray:
    """Exploration around the compressor: top-k of logits / T + Gumbel noise (a draw of k blocks without
    replacement, each next block with probability proportional to exp(l_i / T))."""
    logits = np.asarray(logits, np.float64)
    return topk_mask(logits / temperature + rng.gumbel(size=logits.shape), k, priority)


def candidate_subsets(num_blocks: int, k: int, max_subsets: int, rng: np.random.Generator,
                      priority: np.ndarray | None = None) -> np.ndarray:
    """(C, K) bool: all C(K, k) subsets of k blocks, or ``max_subsets`` distinct uniformly drawn ones if there are
    more (then the training loss is a sampled-softmax approximation of the full expectation). With ``priority``,
    only the allowed subsets: k-subsets of the priority blocks, or for k above their number all of them plus every
    (k - #priority)-subset of the others."""
    if not 0 <= k <= num_blocks:
        raise ValueError(f"k: expected 0 <= k <= {num_blocks}, got {k}")
    pool, fixed = subset_pool(k, num_blocks, _priority(priority, num_blocks))
    size = k - int(fixed.sum())
    if comb(len(pool), size) <= max_subsets:
        rows = list(combinations(range(len(pool)), size))
    else:
        seen: set[tuple[int, ...]] = set()
        while len(seen) < max_subsets:
            seen.add(tuple(sorted(rng.choice(len(pool), size, replace=False).tolist())))
        rows = sorted(seen)
    out = np.repeat(fixed[None], len(rows), 0)
    for i, row in enumerate(rows):
        out[i, pool[list(row)]] = True
    return out


def subset_log_policy(logits: torch.Tensor, subsets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """(B, C) log P(S_c | x) = log_softmax_c(sum_{i in S_c} l_i / T) over the candidate subsets (C, K)."""
    return torch.log_softmax(logits @ subsets.to(logits.dtype).T / temperature, -1)


def mask_usage(masks: np.ndarray) -> dict[str, object]:
    """How observation-adaptive a set of (N, K) masks is: distinct masks, entropy (bits) of the empirical mask
    distribution (0 = one mask for everything), and each block's keep rate."""
    masks = np.asarray(masks, bool)
    _, counts = np.unique(masks, axis=0, return_counts=True)
    p = counts / counts.sum()
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: one mask gives 0.0, not -0.0
    return {"distinct_masks": len(counts), "mask_entropy_bits": entropy,
            "keep_rates": [round(float(v), 4) for v in masks.mean(0)]}


def relaxed_mask(logits: torch.Tensor, k: float, temperature: float = 1.0, iters: int = 40) -> torch.Tensor:
    """sigmoid((logits - t) / temperature) with the threshold t per row set so the mask sums to k.

    t is found by bisection and detached, so the gradient moves blocks relative to each other at a fixed budget.
    """
    num_blocks = logits.shape[-1]
    if not 0 <= k <= num_blocks:
        raise ValueError(f"k: expected 0 <= k <= {num_blocks}, got {k}")
    with torch.no_grad():
        lo = logits.min(-1, keepdim=True).values - 30 * temperature
        hi = logits.max(-1, keepdim=True).values + 30 * temperature
        for _ in range(iters):
            mid = (lo + hi) / 2
            too_many = torch.sigmoid((logits - mid) / temperature).sum(-1, keepdim=True) > k
            lo, hi = torch.where(too_many, mid, lo), torch.where(too_many, hi, mid)
        t = (lo + hi) / 2
    return torch.sigmoid((logits - t) / temperature)


def straight_through_mask(logits: torch.Tensor) -> torch.Tensor:
    """Variable-k mask for the rate-aware objective: hard ``logits > 0`` forward, sigmoid's gradient backward."""
    soft = torch.sigmoid(logits)
    return soft + ((logits > 0).to(soft.dtype) - soft).detach()
