"""Generalised advantage estimation (Schulman et al., 2016) with termination and truncation kept apart.

For a rollout of T steps over N environments (arrays of shape ``[T, N]``)::

    delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},       done_t = terminated_t or truncated_t

``next_values[t]`` is V of the state that followed step t, i.e. the *final* observation when the episode ended at t
(not the reset observation). A terminated episode has no future value; a truncated one (time limit, or the end of
the batch) is bootstrapped from V(final observation), but its advantage chain is cut either way.
"""

from __future__ import annotations

import numpy as np


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
        truncated: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and value targets (``advantages + values``), both shaped like ``rewards``."""
    shape = rewards.shape
    for name, arr in (("values", values), ("next_values", next_values), ("terminated", terminated),
                      ("truncated", truncated)):
        if arr.shape != shape:
            raise ValueError(f"{name}: expected shape {shape} like rewards, got {arr.shape}")
    not_term = 1.0 - terminated.astype(np.float64)
    not_done = 1.0 - np.logical_or(terminated, truncated).astype(np.float64)
    deltas = rewards + gamma * next_values * not_term - values
    advantages = np.zeros(shape, dtype=np.float64)
    running = np.zeros(shape[1:], dtype=np.float64)
    for t in reversed(range(shape[0])):
        running = deltas[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values
