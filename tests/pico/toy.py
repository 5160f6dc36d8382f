"""Toy domains for the PICO tests (imported by them): one where only latent block 0 decides the user's action, and
one where *which* block decides it depends on the observation."""

from __future__ import annotations

import numpy as np

from dgmlab.pico.domain import Domain, prior_fill, prior_fill_draw


def _probs(z: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-6.0 * z[:, 0]))
    return np.stack([1 - p, p], 1)


def toy_domain(n: int = 600, blocks: int = 4, seed: int = 0) -> Domain:
    z = np.random.default_rng(seed).standard_normal((n, blocks))
    return Domain(features=z.astype(np.float32), latents=z, block_size=1, original_probs=_probs(z),
                  fill=prior_fill(seed + 1), user_probs=_probs,
                  distortion=lambda zt: np.abs(zt - z).mean(1), fill_draw=prior_fill_draw,
                  action_values=lambda zt: np.tanh(2.0 * zt[:, :1]))  # a continuous action of block 0 alone


def _switch_probs(z: np.ndarray) -> np.ndarray:
    """The user reads block 0 when block 2 is positive, block 1 otherwise (block 3 is never read)."""
    read = np.where(z[:, 2] > 0, z[:, 0], z[:, 1])
    p = 1.0 / (1.0 + np.exp(-6.0 * read))
    return np.stack([1 - p, p], 1)


def switch_domain(n: int = 800, seed: int = 0) -> Domain:
    """4 blocks, keep 2: the right mask is {0, 2} where z_2 > 0 and {1, 2} elsewhere (or {0, 1} where z_0 and z_1
    have the same sign: whichever the fill selects, the user's action is right); every fixed pair of blocks gets
    about 3/4, because the receiver's fill guesses the dropped selector or block at random."""
    z = np.random.default_rng(seed).standard_normal((n, 4))
    return Domain(features=z.astype(np.float32), latents=z, block_size=1, original_probs=_switch_probs(z),
                  fill=prior_fill(seed + 1), user_probs=_switch_probs,
                  distortion=lambda zt: np.abs(zt - z).mean(1), fill_draw=prior_fill_draw)


def _last_block_probs(z: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-6.0 * z[:, -1]))
    return np.stack([1 - p, p], 1)


def uninformative_domain(n: int = 400, seed: int = 0) -> Domain:
    """4 blocks; the generative model declares blocks 2 and 3 uninformative (``block_kl`` 0: posterior = prior),
    yet the user reads block 3 alone, so a compressor free to choose would keep block 3."""
    z = np.random.default_rng(seed).standard_normal((n, 4))
    return Domain(features=z.astype(np.float32), latents=z, block_size=1, original_probs=_last_block_probs(z),
                  fill=prior_fill(seed + 1), user_probs=_last_block_probs,
                  distortion=lambda zt: np.abs(zt - z).mean(1), fill_draw=prior_fill_draw,
                  block_kl=np.array([1.2, 0.8, 0.0, 0.004]))
