"""``dgmlab wm eval`` and the pictures: scores over random tracks, reconstructions, dreams, curves and a GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dgmlab.world_models.config import EvalConfig
from dgmlab.world_models.executors import Executor
from dgmlab.world_models.logs import read_csv
from dgmlab.world_models.rollout import Agent, AgentSpec
from dgmlab.world_models.vector import map_rollouts


def evaluate(params: np.ndarray, spec: AgentSpec, executor: Executor, cfg: EvalConfig,
             timeout_s: float = 1200.0, batch: int = 0) -> np.ndarray:
    """Returns on tracks ``cfg.seed .. cfg.seed + episodes - 1`` (never used in training), whole episodes.

    ``batch`` > 0 runs that many tracks per worker task, vectorised (``vector.map_rollouts``).
    """
    spec = AgentSpec(spec.model_dir, spec.use_hidden, cfg.max_steps, spec.fast_env, spec.sample_z)
    seeds = [cfg.seed + i for i in range(cfg.episodes)]
    return map_rollouts(executor, [params] * len(seeds), seeds, spec, batch, timeout_s)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(rows: list[np.ndarray], titles: list[str], path: Path) -> None:
    """Save rows of uint8/float (N, 64, 64, 3) images, one labelled row each."""
    plt = _plt()
    n = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.2 * n, 1.3 * len(rows)), squeeze=False)
    for i, (row, title) in enumerate(zip(rows, titles)):
        for j in range(n):
            axes[i, j].axis("off")
            if j < len(row):
                axes[i, j].imshow(row[j])
        axes[i, 0].set_title(title, fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_vae(vae, frames: np.ndarray, path: str | Path, n: int = 8, seed: int = 0) -> None:
    """Frames, their reconstructions (posterior mean) and samples from the prior N(0, I)."""
    import torch

    from dgmlab.world_models.vae import to_tensor

    with torch.no_grad():
        mu, _ = vae.encode(to_tensor(frames[:n]))
        recon = vae.decode(mu).permute(0, 2, 3, 1).numpy()
        prior = vae.decode(torch.randn(n, vae.z_dim, generator=torch.Generator().manual_seed(seed)))
    _grid([frames[:n], recon, prior.permute(0, 2, 3, 1).numpy()], ["frames", "reconstructions", "prior samples"],
          Path(path))


def plot_rnn(vae, rnn, episode: dict, path: str | Path, start: int = 40, n: int = 8, temperature: float = 1.0) -> None:
    """Actual next frames vs the MDN-RNN's one-step predictions (teacher forced) vs an open-loop dream.

    The dream starts from the real z at ``start`` and follows the real actions with sampled z at temperature tau.
    """
    import torch

    from dgmlab.world_models.mdn_rnn import sample_mdn
    from dgmlab.world_models.vae import to_tensor

    gen = torch.Generator().manual_seed(0)
    obs, act = episode["obs"], torch.from_numpy(episode["action"]).unsqueeze(0)
    with torch.no_grad():
        z = vae.encode(to_tensor(obs))[0].unsqueeze(0)
        logit_pi, mu, log_sigma, *_ = rnn(z, act)
        one_step = sample_mdn(logit_pi, mu, log_sigma, temperature, gen)[0, start - 1:start - 1 + n]
        _, _, _, _, _, state = rnn(z[:, :start], act[:, :start])
        zt, dream = one_step[:1].unsqueeze(0), []
        for t in range(start, start + n):
            dream.append(zt[0, 0])
            lp, m, ls, _, _, state = rnn(zt, act[:, t:t + 1], state)
            zt = sample_mdn(lp, m, ls, temperature, gen)
        decode = lambda zs: vae.decode(zs).permute(0, 2, 3, 1).numpy()
        rows = [obs[start:start + n], decode(one_step), decode(torch.stack(dream))]
    _grid(rows, ["actual next frames", "MDN-RNN one-step prediction", f"open-loop dream (tau={temperature})"],
          Path(path))


def plot_curves(run_dir: str | Path, path: str | Path) -> None:
    """VAE loss, MDN-RNN loss and the controller's learning curve (+ re-evaluations) side by side."""
    plt = _plt()
    run = Path(run_dir)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, name, key, title in ((axes[0], "vae/vae_metrics.csv", "losses/total", "VAE loss per batch"),
                                 (axes[1], "rnn/rnn_metrics.csv", "losses/z_nll", "MDN-RNN z NLL per batch")):
        if (run / name).is_file():
            ax.plot([r[key] for r in read_csv(run / name)], lw=0.7)
        ax.set_title(title)
    for sub, label in (("controller", "[z, h]"), ("controller_zonly", "z only"), ("controller_dream", "dream")):
        if (run / sub / "cmaes_metrics.csv").is_file():
            rows = read_csv(run / sub / "cmaes_metrics.csv")
            g = [r["generation"] for r in rows]
            axes[2].plot(g, [r["charts/return_mean"] for r in rows], label=f"{label} population mean")
            axes[2].plot(g, [r["charts/return_max"] for r in rows], label=f"{label} best of generation")
        if (run / sub / "cmaes_eval.csv").is_file():
            rows = read_csv(run / sub / "cmaes_eval.csv")
            axes[2].errorbar([r["generation"] for r in rows], [r["eval/mean"] for r in rows],
                             [r["eval/std"] for r in rows], fmt="o", label=f"{label} best re-evaluated")
    axes[2].set_title("controller return (training tracks)")
    axes[2].set_xlabel("generation")
    axes[2].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_gif(params: np.ndarray, spec: AgentSpec, seed: int, path: str | Path, every: int = 4) -> float:
    """Drive one track and save a GIF of the raw frames with the cumulative reward; returns the episode return."""
    from PIL import Image, ImageDraw

    from dgmlab.world_models.env import CarRacingEnv

    env, agent = CarRacingEnv(spec.fast_env, spec.max_steps), Agent(params, spec, seed)
    obs, total, done, images = env.reset(seed), 0.0, False, []
    while not done:
        if env.t % every == 0:
            img = Image.fromarray(env.last_frame).resize((192, 192), Image.NEAREST)
            ImageDraw.Draw(img).text((4, 4), f"step {env.t:4d} reward {total:6.1f}", fill=(255, 255, 0))
            images.append(img)
        obs, reward, done = env.step(agent.act(obs))
        total += reward
    env.close()
    images[0].save(path, save_all=True, append_images=images[1:], duration=40 * every, loop=0)
    return total
