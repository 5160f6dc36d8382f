"""Vectorised agent rollouts: many CarRacing environments stepped in one process, V + M + C batched over them.

A batch-1 torch call per frame is dominated by dispatch overhead (the per-frame VAE encode and LSTM step cost about
as much as the environment step itself; README, "Vectorised rollouts"). :func:`vector_returns` keeps ``k``
environments in one process and, every step, encodes all live frames in one VAE call, advances all LSTMs in one
call and computes every candidate's action in one ``einsum``; each environment keeps its own track seed, its own
controller parameters and its own z-noise generator, so returns equal :func:`rollout.agent_return`'s for the same
(parameters, seed) up to float rounding of the batched kernels.

:func:`map_rollouts` is what training and evaluation call: it cuts (parameters, seed) pairs into chunks of
``batch`` rollouts and ships each chunk to an executor worker (``batch = 0``: one rollout per task, the old path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dgmlab.world_models.controller import ACTION_DIM, n_params
from dgmlab.world_models.env import CarRacingEnv
from dgmlab.world_models.executors import Executor
from dgmlab.world_models.rollout import AgentSpec, RolloutTask, agent_return, load_models, track_seed


@dataclass(frozen=True)
class VectorTask:
    """A chunk of rollouts run together: row i of ``params`` drives track ``seeds[i]``."""

    params: np.ndarray
    """(k, n_params) controller parameters."""
    seeds: tuple[int, ...]
    """k track seeds."""
    spec: AgentSpec


def batched_actions(weight: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Controller squashing for k candidates at once: weight (k, 3, in), bias (k, 3), x (k, in) -> (k, 3)."""
    a = np.tanh(np.einsum("kij,kj->ki", weight, x) + bias)
    return np.stack([a[:, 0], (a[:, 1] + 1.0) / 2.0, np.clip(a[:, 2], 0.0, 1.0)], axis=1)


def _split_params(params: np.ndarray, in_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(k, n_params) -> weight (k, 3, in_dim), bias (k, 3), the layout :class:`controller.Controller` reads."""
    k = len(params)
    return params[:, : in_dim * ACTION_DIM].reshape(k, ACTION_DIM, in_dim), params[:, in_dim * ACTION_DIM:]


def vector_returns(task: VectorTask, attempt: int = 0) -> np.ndarray:
    """Returns (k,) of the agents in ``task`` (re-seeded on retries, like :func:`rollout.agent_return`)."""
    import torch

    from dgmlab.world_models.vae import to_tensor

    spec, params = task.spec, np.asarray(task.params, dtype=np.float64)
    vae, rnn = load_models(spec.model_dir)
    expected = n_params(vae.z_dim, rnn.hidden, spec.use_hidden)
    if params.ndim != 2 or params.shape != (len(task.seeds), expected):
        raise ValueError(f"VectorTask.params: expected ({len(task.seeds)}, {expected}), got {params.shape}")
    if not np.all(np.isfinite(params)):
        raise ValueError("controller params contain NaN/inf")
    weight, bias = _split_params(params, expected // ACTION_DIM - 1)
    seeds = [track_seed(s, attempt) for s in task.seeds]
    rngs = [np.random.default_rng(s) for s in seeds]
    envs = [CarRacingEnv(spec.fast_env, spec.max_steps, patience=spec.patience) for _ in seeds]
    k = len(seeds)
    h, c = torch.zeros(1, k, rnn.hidden), torch.zeros(1, k, rnn.hidden)
    totals, live = np.zeros(k), np.ones(k, dtype=bool)
    try:
        obs = np.stack([env.reset(s) for env, s in zip(envs, seeds)])
        while live.any():
            idx = np.flatnonzero(live)
            with torch.no_grad():
                mu, logvar = vae.encode(to_tensor(obs[idx]))
                z = mu.numpy()
                if spec.sample_z:
                    noise = np.stack([rngs[i].standard_normal(vae.z_dim).astype(np.float32) for i in idx])
                    z = z + np.exp(0.5 * logvar.numpy()) * noise
                x = np.concatenate([z, h[0, idx].numpy().astype(np.float64)], 1) if spec.use_hidden else z
                actions = batched_actions(weight[idx], bias[idx], x)
                step_in = torch.from_numpy(np.concatenate([z, actions], 1).astype(np.float32)).unsqueeze(1)
                _, (h_new, c_new) = rnn.lstm(step_in, (h[:, idx].contiguous(), c[:, idx].contiguous()))
                h[:, idx], c[:, idx] = h_new, c_new
            for j, i in enumerate(idx):
                obs[i], reward, done = envs[i].step(actions[j])
                totals[i] += reward
                live[i] = not done
    finally:
        for env in envs:
            env.close()
    return totals


def map_rollouts(executor: Executor, params: Sequence[np.ndarray] | np.ndarray, seeds: Sequence[int],
                 spec: AgentSpec, batch: int = 0, timeout_s: float = 600.0, retries: int = 2) -> np.ndarray:
    """Returns of rollout i = (params[i], seeds[i]), run ``batch`` per worker task (0: one per task).

    A chunk's timeout is ``timeout_s`` per rollout in it; a timed-out or crashed chunk is retried, re-seeded, whole.
    """
    params = np.asarray(params, dtype=np.float64)
    if len(params) != len(seeds):
        raise ValueError(f"map_rollouts: {len(params)} parameter rows but {len(seeds)} seeds")
    if batch < 0:
        raise ValueError(f"batch must be >= 0 (0: one rollout per task), got {batch}")
    if batch == 0:
        tasks = [RolloutTask(p, int(s), spec) for p, s in zip(params, seeds)]
        return np.asarray(executor.map(agent_return, tasks, timeout_s=timeout_s, retries=retries), dtype=np.float64)
    n_chunks = max(1, -(-len(seeds) // batch))
    chunks = [c for c in np.array_split(np.arange(len(seeds)), n_chunks) if len(c)]
    tasks = [VectorTask(params[c], tuple(int(seeds[i]) for i in c), spec) for c in chunks]
    out = executor.map(vector_returns, tasks, timeout_s=timeout_s * max(map(len, chunks)), retries=retries)
    return np.concatenate([np.asarray(r, dtype=np.float64) for r in out])
