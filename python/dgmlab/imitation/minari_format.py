"""Demonstrations as a Minari-style dataset (HDF5), read and written with h5py alone, without network access.

The layout follows Minari's documented dataset standard, so that offline-RL tooling that reads Minari datasets can
read ours and the reverse::

    ROOT/data/main_data.hdf5     group ``episode_{i}`` per trajectory, i = 0, 1, ..., holding
        observations   [T + 1, obs]   s_0 .. s_T (the observation after the last step included)
        actions        [T] or [T, act]
        rewards        [T]
        terminations   [T] bool       True only at a last step that terminated
        truncations    [T] bool       True only at a last step that was truncated
      and attributes ``id``, ``total_steps``; the file's root attributes repeat the dataset metadata
    ROOT/data/metadata.json      dataset_id, env_spec (gymnasium's JSON), total_episodes, total_steps,
                                 data_format ("hdf5"), dataset_size, plus dgmlab's own metadata

Only whole, unsubsampled trajectories with their final observations fit this layout (``sample_demonstrations``
records them). The ``minari`` package itself is not a dependency (it is not available here), so compatibility is with
the documented layout, not tested against its reader. Usage::

    save_minari(Demonstrations.load("demos/CartPole-v1.npz"), "datasets/cartpole/expert-v0")
    demos = load_minari("datasets/cartpole/expert-v0")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dgmlab.imitation.demos import Demonstrations

DATA_FILE = Path("data") / "main_data.hdf5"
METADATA_FILE = Path("data") / "metadata.json"
_EPISODE_KEYS = ("observations", "actions", "rewards", "terminations", "truncations")


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as err:  # the [rl] extra brings h5py
        raise ImportError("Minari-style datasets need h5py: pip install 'dgmlab[rl]' (or h5py)") from err
    return h5py


def _env_spec_json(env_id: str | None) -> str | None:
    if env_id is None:
        return None
    import gymnasium as gym

    return gym.spec(env_id).to_json()


def save_minari(demos: Demonstrations, root: str | Path, dataset_id: str | None = None) -> Path:
    """Write ``demos`` under ``root`` (created; an existing dataset there is refused, not overwritten)."""
    root = Path(root)
    if int(demos.meta.get("subsample", 1)) != 1:
        raise ValueError("demos: subsampled trajectories are not consecutive steps; export the full dataset "
                         "(before .subsample) to the Minari layout")
    if demos.final_observations is None or demos.terminations is None:
        raise ValueError("demos: no final observations recorded (a file sampled by an older dgmlab); re-sample it "
                         "with `dgmlab imitation demos` to export it to the Minari layout")
    if (root / DATA_FILE).exists():
        raise ValueError(f"root: {str(root)!r} already holds a dataset; choose a new folder or delete it first")
    h5py = _h5py()
    (root / DATA_FILE).parent.mkdir(parents=True, exist_ok=True)
    meta = {"dataset_id": dataset_id or root.name, "total_episodes": demos.num_trajectories,
            "total_steps": len(demos.observations), "env_spec": _env_spec_json(demos.env_id),
            "data_format": "hdf5", "dgmlab_meta": json.dumps(demos.meta)}
    with h5py.File(root / DATA_FILE, "w") as f:
        for key, value in meta.items():
            if value is not None:
                f.attrs[key] = value
        for i, rows in enumerate(demos.trajectory_slices()):
            steps = rows.stop - rows.start
            ends = np.zeros(steps, dtype=bool)
            ends[-1] = True
            group = f.create_group(f"episode_{i}")
            group.attrs["id"] = i
            group.attrs["total_steps"] = steps
            group.create_dataset("observations", data=np.concatenate(
                [demos.observations[rows], demos.final_observations[i][None]]))
            group.create_dataset("actions", data=demos.actions[rows])
            group.create_dataset("rewards", data=demos.rewards[rows])
            group.create_dataset("terminations", data=ends & bool(demos.terminations[i]))
            group.create_dataset("truncations", data=ends & (not demos.terminations[i]))
    meta["dataset_size"] = round((root / DATA_FILE).stat().st_size / 2**20, 3)
    (root / METADATA_FILE).write_text(json.dumps(meta, indent=2))
    return root


def _read_episode(group: Any, name: str) -> dict[str, np.ndarray]:
    missing = [k for k in _EPISODE_KEYS if k not in group]
    if missing:
        raise ValueError(f"root: episode {name!r} lacks datasets {missing}; expected {list(_EPISODE_KEYS)}")
    ep = {k: np.asarray(group[k][()]) for k in _EPISODE_KEYS}
    steps = len(ep["actions"])
    if ep["observations"].ndim != 2 or len(ep["observations"]) != steps + 1 or steps == 0:
        raise ValueError(f"root: episode {name!r} must hold T + 1 flat observations for T >= 1 actions, got "
                         f"observations {ep['observations'].shape} and actions {ep['actions'].shape} (dict or "
                         f"image observation spaces are not supported)")
    for k in ("rewards", "terminations", "truncations"):
        if ep[k].shape != (steps,):
            raise ValueError(f"root: episode {name!r} {k} has shape {ep[k].shape}, expected ({steps},)")
    return ep


def load_minari(root: str | Path) -> Demonstrations:
    """Read a Minari-style dataset folder (ours or another tool's with flat Box observations) as demonstrations."""
    root = Path(root)
    path = root / DATA_FILE
    if not path.is_file():
        raise ValueError(f"root: no {DATA_FILE} under {str(root)!r}; expected a Minari dataset folder")
    h5py = _h5py()
    meta_path = root / METADATA_FILE
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            names = sorted((k for k in f if k.startswith("episode_")), key=lambda k: int(k.split("_")[1]))
            episodes = [_read_episode(f[k], k) for k in names]
    except OSError as err:
        raise ValueError(f"root: {str(path)!r} is not a readable HDF5 file ({err})") from err
    if not episodes:
        raise ValueError(f"root: {str(path)!r} holds no episode_<i> groups")
    if meta_path.is_file():
        attrs.update(json.loads(meta_path.read_text()))
    meta = json.loads(str(attrs.get("dgmlab_meta", "{}")))
    if "env_id" not in meta and attrs.get("env_spec"):
        meta["env_id"] = json.loads(str(attrs["env_spec"]))["id"]
    starts = [np.arange(len(ep["actions"])) == 0 for ep in episodes]
    actions = np.concatenate([ep["actions"] for ep in episodes])
    actions = actions.astype(np.int64) if np.issubdtype(actions.dtype, np.integer) else actions.astype(np.float32)
    return Demonstrations(
        observations=np.concatenate([ep["observations"][:-1] for ep in episodes]).astype(np.float32),
        actions=actions, rewards=np.concatenate([ep["rewards"] for ep in episodes]).astype(np.float32),
        episode_starts=np.concatenate(starts), meta=meta,
        episode_returns=np.array([float(ep["rewards"].sum()) for ep in episodes]),
        final_observations=np.stack([ep["observations"][-1] for ep in episodes]).astype(np.float32),
        terminations=np.array([bool(ep["terminations"][-1]) for ep in episodes]))


def read_demonstrations(path: str | Path) -> Demonstrations:
    """A ``.npz`` demonstrations file, or a Minari-style dataset folder."""
    return load_minari(path) if Path(path).is_dir() else Demonstrations.load(path)
