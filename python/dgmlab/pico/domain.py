"""What PICO needs to know about a domain: observations' features, latents, how the receiver fills dropped blocks,
and how the user acts on what it is shown.

A domain is data plus four callables; the digits and car-racing domains implement it, and a test builds a toy one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Domain", "gaussian_block_kl", "hold_previous_fill", "prior_fill", "prior_fill_draw"]


@dataclass
class Domain:
    """N observations with their latents (N, L = K * block_size) and the user's action probabilities on each."""

    features: np.ndarray
    """(N, F) float32: what the compressor, discriminator and reward model see of the original observation."""
    latents: np.ndarray
    """(N, L) float: the generative model's code of each observation (the encoder mean)."""
    block_size: int
    """Latents per block; K = L / block_size blocks are kept or dropped together."""
    original_probs: np.ndarray
    """(N, A): the user's action probabilities on the original observation (one-hot for a deterministic user)."""
    fill: Callable[[np.ndarray], np.ndarray]
    """(N, L) latents with NaN where dropped -> latents the receiver decodes (prior sample, previous frame, ...)."""
    user_probs: Callable[[np.ndarray], np.ndarray]
    """(N, L) received latents -> (N, A) the user's action probabilities on the reconstruction."""
    distortion: Callable[[np.ndarray], np.ndarray]
    """(N, L) received latents -> (N,) pixel mean absolute error of the reconstruction (perceptual baseline)."""
    code_mean: object = 0.0
    """Mean of the Gaussian kept latents are coded under (the prior), broadcastable to (N, L)."""
    code_std: object = 1.0
    """Its standard deviation."""
    extra_metrics: Callable[[np.ndarray], dict[str, np.ndarray]] = field(default=lambda z: {})
    """Optional per-observation metrics of received latents (e.g. steering error), averaged in evaluation."""
    rollout: Callable[[Callable[[np.ndarray], np.ndarray]], tuple[np.ndarray, np.ndarray]] | None = None
    """Video: ``rollout(choose)`` runs a mask policy ``choose(compressor features (B, F')) -> masks (B, K)`` frame by
    frame and returns (masks (N, K), the compressor features it saw (N, F')). The compressor then also sees what the
    receiver holds (which the sender can mirror), since under hold-previous a block never sent stays stale.
    None: the compressor sees ``features`` and masks do not depend on each other."""
    state_dim: int = 0
    """Width of the receiver state that ``rollout`` appends to ``features`` for the compressor."""
    action_values: Callable[[np.ndarray], np.ndarray] | None = None
    """Optional (N, L) received latents -> (N, A) the user's continuous action (e.g. steering, gas, brake), for the
    Gaussian-score discriminator; its value on ``latents`` is the action on the original."""
    fill_draw: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
    """Optional ``fill`` with fresh randomness from a generator. Training data are collected with it, so the reward
    model learns the agreement *expected* over the receiver's fills instead of one fixed draw's luck per training
    observation (which does not carry over to new observations). None: ``fill`` is used (e.g. hold-previous)."""
    block_kl: np.ndarray | None = None
    """Optional (K,) mean over these observations of KL(q(z_b | x) || p(z_b)) per block in nats
    (:func:`gaussian_block_kl`): how much each block tells about x. PICO ranks blocks below
    ``PICOConfig.informative_kl`` last. None: unknown, every block counts as informative."""

    def __post_init__(self) -> None:
        n = len(self.features)
        if self.features.ndim != 2 or self.latents.ndim != 2:
            raise ValueError(f"features and latents must be (N, F) and (N, L), got {self.features.shape} "
                             f"and {self.latents.shape}")
        if len(self.latents) != n or len(self.original_probs) != n:
            raise ValueError(f"features, latents and original_probs disagree on N: {n}, {len(self.latents)}, "
                             f"{len(self.original_probs)}")
        if self.block_size < 1 or self.latents.shape[1] % self.block_size:
            raise ValueError(f"latent size {self.latents.shape[1]} is not a multiple of block_size "
                             f"{self.block_size}: every block must have the same size")
        if self.block_kl is not None:
            self.block_kl = np.asarray(self.block_kl, np.float64)
            if self.block_kl.shape != (self.num_blocks,) or not np.all(np.isfinite(self.block_kl)):
                raise ValueError(f"block_kl: expected {self.num_blocks} finite KLs (one per block), got shape "
                                 f"{self.block_kl.shape}")

    @property
    def num_blocks(self) -> int:
        return self.latents.shape[1] // self.block_size

    def run_policy(self, choose: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(masks (N, K), compressor features (N, F')) of a mask policy over all observations."""
        if self.rollout is not None:
            return self.rollout(choose)
        return choose(self.features), self.features

    @property
    def num_actions(self) -> int:
        return self.original_probs.shape[1]

    @property
    def user_actions(self) -> np.ndarray:
        """The action the user takes on each original observation (argmax of its probabilities)."""
        return self.original_probs.argmax(1)


def gaussian_block_kl(mu: np.ndarray, logvar: np.ndarray, block_size: int) -> np.ndarray:
    """(K,) mean over observations of KL(N(mu, exp(logvar)) || N(0, 1)) summed over each block's latents (nats).

    ``mu``, ``logvar``: (N, L) the encoder's diagonal Gaussian posterior q(z | x) of each observation.
    """
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    if mu.ndim != 2 or mu.shape != logvar.shape or mu.shape[1] % block_size:
        raise ValueError(f"mu and logvar: expected the same (N, L) shape with L a multiple of block_size "
                         f"{block_size}, got {mu.shape} and {logvar.shape}")
    kl = 0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)
    return kl.mean(0).reshape(-1, block_size).sum(1)


def prior_fill(seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """Dropped latents become draws from N(0, 1) out of a generator seeded by ``seed`` (sender and receiver agree)."""

    def fill(values: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(seed).standard_normal(values.shape)
        return np.where(np.isnan(values), noise, values)

    return fill


def prior_fill_draw(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`prior_fill` with a fresh N(0, 1) draw from ``rng`` (for collecting training data)."""
    return np.where(np.isnan(values), rng.standard_normal(values.shape), values)


def hold_previous_fill(episode_starts: np.ndarray, initial: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Video: a dropped latent keeps the value the receiver had for the previous frame (``initial`` at a new episode).

    ``episode_starts`` is a boolean (N,) marking the first frame of each episode; rows are frames in time order.
    """

    def fill(values: np.ndarray) -> np.ndarray:
        if len(values) != len(episode_starts):
            raise ValueError(f"hold-previous fill: got {len(values)} frames for {len(episode_starts)} marks")
        out = np.array(values, dtype=np.float64)
        prev = np.full(out.shape[1], initial)
        for t in range(len(out)):
            if episode_starts[t]:
                prev = np.full(out.shape[1], initial)
            row = out[t]
            row[np.isnan(row)] = prev[np.isnan(row)]
            prev = row
        return out

    return fill
