"""CMA-ES training loop (pycma ask/tell) with pickle-free, resumable checkpoints.

The optimiser never calls the evaluator: :func:`train_cmaes` asks for candidates, hands them to ``evaluate`` (which
uses an executor), turns returns into a fitness with weight decay and tells them back.

Checkpoint (``out_dir``), rewritten atomically after every generation:

- ``cmaes_history.npz``: ``objective`` (G, popsize) values told to CMA-ES, ``digest`` (G,) hashes of the asked
  candidates, ``best`` best-ever parameters.
- ``cmaes_state.json``: generation count, seeds and best return; ``cmaes_metrics.csv`` / ``cmaes_eval.csv``.

CMA-ES draws its Gaussians from a ``RandomState(seed)`` of its own, so its state after G generations is a
deterministic function of (seed, told values): resuming re-creates it by replaying ask/tell (checked against the
stored digests) instead of unpickling pycma objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dgmlab.world_models.logs import append_csv, drop_rows_from


@dataclass
class CMAESSettings:
    """The optimiser's part of ``ControllerConfig``."""

    n_params: int
    """Dimension of the search space."""
    popsize: int = 64
    """Candidates per generation."""
    sigma0: float = 0.1
    """Initial step size."""
    weight_decay: float = 0.01
    """Fitness = mean return - weight_decay * mean(theta^2)."""
    generations: int = 300
    """Total generations (a resumed run continues to this number)."""
    eval_every: int = 25
    """Call ``reevaluate`` on the best-ever candidate every N generations (0: never)."""
    seed: int = 0
    """Seed of CMA-ES's own random numbers."""


def make_es(s: CMAESSettings):
    import cma

    opts = {"popsize": s.popsize, "randn": np.random.RandomState(s.seed).randn, "seed": np.nan,
            "verbose": -9, "verb_disp": 0, "verb_log": 0, "maxiter": 10**9, "tolfun": 0, "tolflatfitness": 10**9}
    return cma.CMAEvolutionStrategy(np.zeros(s.n_params), s.sigma0, opts)


def digest(solutions: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(solutions, dtype=np.float64).tobytes()).hexdigest()[:16]


def objective(returns: np.ndarray, solutions: np.ndarray, weight_decay: float) -> np.ndarray:
    """Value to minimise: -(mean return) + weight_decay * mean(theta^2); ``returns`` is (pop, rollouts)."""
    returns = np.asarray(returns, dtype=np.float64)
    if not np.all(np.isfinite(returns)):
        raise FloatingPointError(f"non-finite rollout returns {returns}; the environment or the models produced NaN")
    return -returns.mean(axis=1) + weight_decay * np.mean(np.square(solutions), axis=1)


def _resume(es, out: Path) -> tuple[list[np.ndarray], list[str], np.ndarray | None, dict]:
    """Replay the stored generations into ``es``; returns (objectives, digests, best params, state)."""
    if not (out / "cmaes_state.json").is_file():
        return [], [], None, {"best_return": -np.inf, "best_generation": -1}
    state = json.loads((out / "cmaes_state.json").read_text())
    with np.load(out / "cmaes_history.npz", allow_pickle=False) as h:
        objs, digs, best = list(h["objective"]), [str(d) for d in h["digest"]], h["best"]
    for g, (obj, dig) in enumerate(zip(objs, digs)):
        solutions = np.asarray(es.ask())
        if digest(solutions) != dig:
            raise RuntimeError(f"resume: generation {g} replays to different candidates than were evaluated; "
                               f"{out} was written with other settings (popsize/sigma0/seed); use a new directory")
        es.tell(list(solutions), list(obj))
    for name in ("cmaes_metrics.csv", "cmaes_eval.csv"):
        drop_rows_from(out / name, "generation", len(objs))
    return objs, digs, best, state


def _checkpoint(out: Path, objs: list, digs: list, best: np.ndarray, state: dict) -> None:
    tmp = out / ".cmaes_history.tmp.npz"
    np.savez(tmp, objective=np.asarray(objs), digest=np.asarray(digs), best=best)
    os.replace(tmp, out / "cmaes_history.npz")
    (out / ".cmaes_state.tmp").write_text(json.dumps(state, indent=2))
    os.replace(out / ".cmaes_state.tmp", out / "cmaes_state.json")


def train_cmaes(out_dir: str | Path, s: CMAESSettings, evaluate: Callable[[np.ndarray, int], np.ndarray],
                reevaluate: Callable[[np.ndarray, int], np.ndarray] | None = None) -> np.ndarray:
    """Run (or resume) CMA-ES; ``evaluate(solutions, gen)`` -> returns (pop, rollouts). Returns the best params.

    The best-ever candidate is the one with the highest mean training return; ``reevaluate(params, gen)`` -> returns
    of that candidate on fresh tracks, logged to ``cmaes_eval.csv`` every ``eval_every`` generations.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    es = make_es(s)
    objs, digs, best, state = _resume(es, out)
    for gen in tqdm(range(len(objs), s.generations), desc="cma-es", initial=len(objs), total=s.generations):
        t0 = time.monotonic()
        solutions = np.asarray(es.ask())
        returns = np.asarray(evaluate(solutions, gen), dtype=np.float64).reshape(len(solutions), -1)
        obj = objective(returns, solutions, s.weight_decay)
        es.tell(list(solutions), list(obj))
        means = returns.mean(axis=1)
        if means.max() > state["best_return"]:
            best, state = solutions[means.argmax()].copy(), {"best_return": float(means.max()), "best_generation": gen}
        objs.append(obj)
        digs.append(digest(solutions))
        state.update(generations_done=gen + 1, seed=s.seed, popsize=s.popsize, n_params=s.n_params)
        append_csv(out / "cmaes_metrics.csv", [{
            "generation": gen, "charts/return_mean": means.mean(), "charts/return_max": means.max(),
            "charts/return_min": means.min(), "charts/best_ever": state["best_return"], "charts/sigma": es.sigma,
            "charts/seconds": time.monotonic() - t0}])
        if reevaluate is not None and s.eval_every and (gen + 1) % s.eval_every == 0:
            r = np.asarray(reevaluate(best, gen), dtype=np.float64)
            append_csv(out / "cmaes_eval.csv", [{"generation": gen, "eval/mean": r.mean(), "eval/std": r.std(),
                                                 "eval/episodes": len(r)}])
        _checkpoint(out, objs, digs, best, state)  # last: rows logged after a killed checkpoint are dropped on resume
    return best


def load_best(out_dir: str | Path) -> np.ndarray:
    """Best-ever controller parameters from a CMA-ES checkpoint directory."""
    path = Path(out_dir) / "cmaes_history.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no controller checkpoint at {path}; run `dgmlab wm train-controller` first")
    with np.load(path, allow_pickle=False) as h:
        return h["best"]
