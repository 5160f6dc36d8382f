"""A toy domain where only latent block 0 decides the user's action (imported by the PICO tests)."""

from __future__ import annotations

import numpy as np

from dgmlab.pico.domain import Domain, prior_fill


def _probs(z: np.ndarray) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-6.0 * z[:, 0]))
    return np.stack([1 - p, p], 1)


def toy_domain(n: int = 600, blocks: int = 4, seed: int = 0) -> Domain:
    z = np.random.default_rng(seed).standard_normal((n, blocks))
    return Domain(features=z.astype(np.float32), latents=z, block_size=1, original_probs=_probs(z),
                  fill=prior_fill(seed + 1), user_probs=_probs,
                  distortion=lambda zt: np.abs(zt - z).mean(1))
