"""The car-racing domain: CarRacing-v3 frames through the World Models VAE (z = 32, K = 8 blocks of 4), the World
Models controller as the user, and the closed loop where the controller drives on the compressed latents.

The user's action is the controller's steering, discretised into left / straight / right at +-``steer_threshold``;
its continuous steering error is reported beside. The controller reads [z, h] where h is the MDN-RNN's LSTM state,
which the receiver computes from the latents it received (the sender mirrors it, so both know h). Dropped blocks
hold the receiver's previous value (zeros at the start of an episode), so the compressor sees [z, h, held latents]:
under hold-previous a block that is never sent stays stale forever (a fixed mask is a disaster), and the sender can
mirror what the receiver holds. Kept latents are coded under the VAE's N(0, 1) prior, or in the closed loop
optionally under the MDN-RNN's predictive distribution (:mod:`dgmlab.pico.predictive`).

The sender's latent z is the one the World Models agent acts on: a sample of q(z | x) (mean plus the encoder's
standard deviation times noise seeded by the track, as :class:`dgmlab.world_models.rollout.Agent` draws it), so the
uncompressed driver *is* the World Models agent and scores what ``dgmlab wm eval`` scores. (It is stored under the
key ``mu``, the latent the sender holds.)

Offline data (for training PICO and for agreement) are episodes driven by the *uncompressed* agent (the controller's
own state distribution), recorded with their frames, sender latents, LSTM states and actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dgmlab.pico.bitstream import LatentCode, decode, encode, quantize
from dgmlab.pico.domain import Domain, hold_previous_fill
from dgmlab.pico.predictive import decode_video, encode_video

__all__ = [
    "BLOCK_SIZE",
    "CODES",
    "CarModels",
    "Driver",
    "car_domain",
    "drive_episode",
    "load_car_models",
    "mask_staleness",
    "record_episodes",
    "steer_class",
]

BLOCK_SIZE = 4


@dataclass
class CarModels:
    vae: torch.nn.Module
    rnn: torch.nn.Module
    controller: object
    run_dir: str


def load_car_models(run_dir: str | Path) -> CarModels:
    """VAE, MDN-RNN and the best CMA-ES controller of a World Models run directory."""
    from dgmlab.world_models.cmaes import load_best
    from dgmlab.world_models.controller import Controller
    from dgmlab.world_models.rollout import load_models

    run = Path(run_dir)
    for part in ("vae/vae.pt", "rnn/rnn.pt", "controller/cmaes_history.npz"):
        if not (run / part).is_file():
            raise FileNotFoundError(f"{run / part} not found: --run must be a World Models run directory with a "
                                    f"trained VAE, MDN-RNN and controller (dgmlab wm run)")
    vae, rnn = load_models(str(run.resolve()))
    controller = Controller(load_best(run / "controller"), vae.z_dim, rnn.hidden, True)
    if vae.z_dim % BLOCK_SIZE:
        raise ValueError(f"VAE latent size {vae.z_dim} is not a multiple of the block size {BLOCK_SIZE}")
    return CarModels(vae, rnn, controller, str(run))


def steer_class(steer: np.ndarray, threshold: float) -> np.ndarray:
    """0 = left (steer < -threshold), 1 = straight, 2 = right (steer > threshold)."""
    return np.where(steer < -threshold, 0, np.where(steer > threshold, 2, 1))


MaskChooser = Callable[[np.ndarray], np.ndarray]  # features (F,) -> bool mask (K,)


class Driver:
    """The controller acting on received latents: sample z as the World Models agent does, choose a mask, quantise
    kept blocks, hold the rest."""

    def __init__(self, models: CarModels, choose: MaskChooser | None, step: float, seed: int) -> None:
        self.m, self.choose, self.step = models, choose, step
        self.rng = np.random.default_rng(seed)
        self.num_blocks = models.vae.z_dim // BLOCK_SIZE
        self.log: dict[str, list] = {k: [] for k in ("obs", "mu", "h", "mask", "z", "action")}
        self.state, self.h = None, np.zeros(models.rnn.hidden)
        self.prev = np.zeros(models.vae.z_dim)

    def act(self, obs: np.ndarray) -> np.ndarray:
        from dgmlab.world_models.vae import to_tensor

        with torch.no_grad():
            mean, logvar = self.m.vae.encode(to_tensor(obs[None]))
        noise = self.rng.standard_normal(mean.shape[1]).astype(np.float32)
        mu = (mean[0].numpy() + np.exp(0.5 * logvar[0].numpy()) * noise).astype(np.float64)  # as Agent.act
        if self.choose is None:  # uncompressed: the ceiling
            mask, z = np.ones(self.num_blocks, bool), mu
        else:
            mask = self.choose(np.concatenate([mu, self.h, self.prev]))
            z = np.where(np.repeat(mask, BLOCK_SIZE), quantize(mu, self.step), self.prev)
        action = self.m.controller.act(z, self.h)
        for key, value in zip(self.log, (obs, mu, self.h, mask, z, action)):
            self.log[key].append(value)
        with torch.no_grad():
            x = torch.from_numpy(np.concatenate([z, action]).astype(np.float32)).view(1, 1, -1)
            out, self.state = self.m.rnn.lstm(x, self.state)
        self.h, self.prev = out[0, 0].numpy().astype(np.float64), z
        return action


CODES = ("prior", "predictive")


def mask_staleness(masks: np.ndarray) -> dict[str, float]:
    """How fresh the receiver's latents are over one episode of (T, K) masks under hold-previous: distinct masks,
    blocks never sent, and the mean age in frames of the value held per block (0 = sent this frame; a block not yet
    sent holds the episode-start zeros, aged t + 1 at frame t), averaged over frames and blocks."""
    masks = np.asarray(masks, bool)
    last = np.full(masks.shape[1], -1)
    age = np.zeros(masks.shape, np.float64)
    for t, m in enumerate(masks):
        last = np.where(m, t, last)
        age[t] = t - last
    return {"distinct_masks": len(np.unique(masks, axis=0)), "never_sent_blocks": int((~masks.any(0)).sum()),
            "mean_age": float(age.mean())}


def drive_episode(models: CarModels, choose: MaskChooser | None, seed: int, step: float, max_steps: int = 1000,
                  budget: float | None = None, keep_frames: bool = False,
                  code: str | tuple[str, ...] = "prior") -> dict:
    """One episode on track ``seed``; returns its score, and bits per frame of its real bitstream: kept latents
    coded under the VAE's N(0, 1) prior (``code="prior"``) or under the MDN-RNN's predictive distribution given the
    received latents and the controller's actions (``"predictive"``, :mod:`dgmlab.pico.predictive`). A tuple of
    coders codes the one drive under each: ``bits_per_frame`` / ``bytes`` are the first's, ``bits_by_code`` all."""
    codes = (code,) if isinstance(code, str) else tuple(code)
    if not codes or any(c not in CODES for c in codes):
        raise ValueError(f"code: expected one of {CODES} or a tuple of them, got {code!r}")
    from dgmlab.world_models.env import CarRacingEnv
    from dgmlab.world_models.rollout import run_episode

    driver = Driver(models, choose, step, seed)
    env = CarRacingEnv(fast=True, max_steps=max_steps)
    try:
        score = run_episode(env, driver.act, seed)[0]
    finally:
        env.close()
    log = {k: np.asarray(v) for k, v in driver.log.items() if keep_frames or k != "obs"}
    result = {"seed": seed, "score": score, "frames": len(log["mu"]), "log": log}
    if choose is not None:
        sizes = {c: _episode_bytes(models, log, LatentCode(BLOCK_SIZE, step, budget), c) for c in codes}
        result["bytes"] = sizes[codes[0]]
        result["bits_per_frame"] = 8.0 * sizes[codes[0]] / len(log["mu"])
        result["bits_by_code"] = {c: 8.0 * n / len(log["mu"]) for c, n in sizes.items()}
        result.update(mask_staleness(log["mask"]))
    return result


def _episode_bytes(models: CarModels, log: dict[str, np.ndarray], latent_code: LatentCode, code: str) -> int:
    """Bytes of one episode's bitstream under ``code``, decoded and checked against the latents driven on."""
    if code == "prior":
        data = encode(log["mu"], log["mask"], latent_code)
        values = decode(data).values
    else:  # the receiver knows the actions its controller took
        data = encode_video(log["mu"], log["mask"], log["action"], models.rnn, latent_code)
        values = decode_video(data, models.rnn, log["action"]).values
    starts = np.zeros(len(log["mu"]), bool)
    starts[0] = True
    if not np.array_equal(hold_previous_fill(starts)(values), log["z"]):
        raise RuntimeError("decoded latents differ from those the controller drove on (a coder bug)")
    return len(data)


def record_episodes(models: CarModels, seeds: list[int], max_steps: int, path: Path) -> dict[str, np.ndarray]:
    """Episodes of the uncompressed agent (frames, mu, h, action, episode starts), cached in ``path`` (.npz)."""
    if path.is_file():
        with np.load(path) as data:
            if list(data["seeds"]) == list(seeds) and int(data["max_steps"]) == max_steps:
                return dict(data)
    parts = [drive_episode(models, None, s, 0.25, max_steps, keep_frames=True)["log"] for s in seeds]
    starts = np.concatenate([np.arange(len(p["mu"])) == 0 for p in parts])
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("obs", "mu", "h", "action")}
    out.update(starts=starts, seeds=np.asarray(seeds), max_steps=np.int64(max_steps))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def _rollout(data: dict[str, np.ndarray], features: np.ndarray, step: float):
    """Run a mask policy through the recorded episodes in parallel, frame by frame, mirroring the receiver."""
    starts = np.flatnonzero(data["starts"])
    lengths = np.diff(np.append(starts, len(features)))
    mu = data["mu"]

    def rollout(choose):
        held = np.zeros((len(starts), mu.shape[1]))
        masks = np.zeros((len(mu), mu.shape[1] // BLOCK_SIZE), bool)
        seen = np.zeros((len(mu), features.shape[1] + mu.shape[1]), np.float32)
        for t in range(int(lengths.max())):
            active = lengths > t
            rows = starts[active] + t
            f = np.concatenate([features[rows], held[active]], 1)
            m = np.asarray(choose(f), bool)
            masks[rows], seen[rows] = m, f
            held[active] = np.where(np.repeat(m, BLOCK_SIZE, axis=1), quantize(mu[rows], step), held[active])
        return masks, seen

    return rollout


def car_domain(models: CarModels, data: dict[str, np.ndarray], steer_threshold: float = 0.1,
               step: float = 0.25) -> Domain:
    """The domain over recorded frames: features [mu, h], user = the controller's discretised steering (its
    continuous (steering, gas, brake) for the gaussian discriminator); the compressor also sees the latents the
    receiver holds (hold-previous, kept blocks quantised with ``step``)."""
    h, frames = data["h"], data["obs"]

    def actions(z: np.ndarray) -> np.ndarray:
        """The controller's (steering, gas, brake) on received latents."""
        return np.array([models.controller.act(zi, hi) for zi, hi in zip(z, h)], np.float64)

    def steer(z: np.ndarray) -> np.ndarray:
        return actions(z)[:, 0]

    def probs(z: np.ndarray) -> np.ndarray:
        return np.eye(3)[steer_class(steer(z), steer_threshold)]

    def distortion(z: np.ndarray) -> np.ndarray:
        from dgmlab.world_models.vae import to_tensor

        out = []
        with torch.no_grad():
            for i in range(0, len(z), 256):
                rec = models.vae.decode(torch.as_tensor(z[i:i + 256], dtype=torch.float32))
                out.append((rec - to_tensor(frames[i:i + 256])).abs().mean((1, 2, 3)).numpy())
        return np.concatenate(out)

    true_steer = steer(data["mu"])
    features = np.concatenate([data["mu"], h], 1).astype(np.float32)
    return Domain(features=features, latents=data["mu"], block_size=BLOCK_SIZE, original_probs=probs(data["mu"]),
                  fill=hold_previous_fill(data["starts"]), user_probs=probs, distortion=distortion,
                  extra_metrics=lambda z: {"steer_abs_err": np.abs(steer(z) - true_steer)},
                  rollout=_rollout(data, features, step), state_dim=data["mu"].shape[1], action_values=actions)
