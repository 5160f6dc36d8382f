"""Discriminator, BC, FEM/GTAL costs, GAIL training, checkpoints and the policy normaliser."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgmlab.imitation.apprenticeship import Apprenticeship, ApprenticeshipConfig, worst_case_weights
from dgmlab.imitation.bc import BC, BCConfig
from dgmlab.imitation.demos import Demonstrations
from dgmlab.imitation.discriminator import Discriminator, discriminator_loss, imitation_reward
from dgmlab.imitation.evaluation import load_model, policy_returns
from dgmlab.imitation.gail import GAIL, GAILConfig
from dgmlab.imitation.onpolicy import TRPOConfig
from dgmlab.imitation.policies import RunningNorm

TINY = TRPOConfig(steps_per_iter=1000, num_envs=1, hidden=(32, 32))


def test_running_norm_matches_numpy_over_chunks() -> None:
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 3))
    norm = RunningNorm(3)
    for chunk in np.array_split(data, 7):
        norm.update(chunk)
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-4)


def _fit_discriminator(shift: float, n: int, steps: int,
                       entropy_coef: float = 0.0) -> tuple[Discriminator, torch.Tensor, list[dict]]:
    """Adam on Eq. 2.26 for Gaussian clouds at +-shift; returns D, all inputs and the per-step statistics."""
    torch.manual_seed(0)
    policy_x, expert_x = torch.randn(n, 4) + shift, torch.randn(n, 4) - shift
    disc = Discriminator(4, hidden=(32, 32))
    disc.fit_standardizer(expert_x)
    opt = torch.optim.Adam(disc.parameters(), lr=0.01)
    history = []
    for _ in range(steps):
        loss, stats = discriminator_loss(disc(policy_x), disc(expert_x), entropy_coef)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(stats)
    return disc, torch.cat([policy_x, expert_x]), history


def test_discriminator_loss_decreases_on_separable_data() -> None:
    _, _, history = _fit_discriminator(2.0, 256, 50)
    assert history[-1]["disc/loss"] < 0.2 * history[0]["disc/loss"]
    assert history[-1]["disc/policy_acc"] == 1.0 and history[-1]["disc/expert_acc"] == 1.0


def test_discriminator_entropy_bonus_lowers_its_confidence() -> None:
    """On overlapping clouds that D overfits, the bonus keeps its logits (so the reward -log D) smaller."""
    plain, inputs, _ = _fit_discriminator(0.5, 64, 300)
    regularised, _, _ = _fit_discriminator(0.5, 64, 300, entropy_coef=0.5)
    with torch.no_grad():
        assert regularised(inputs).abs().mean() < 0.8 * plain(inputs).abs().mean()


def test_imitation_reward_forms_have_their_signs() -> None:
    logits = torch.linspace(-5, 5, 11)
    assert (imitation_reward(logits, "neg_log_d") > 0).all()
    assert (imitation_reward(logits, "log_one_minus_d") < 0).all()
    with pytest.raises(ValueError, match="reward_form"):
        imitation_reward(logits, "bogus")


def test_worst_case_cost_weights() -> None:
    mu_pi, mu_e = torch.tensor([1.0, 3.0, 0.0]), torch.tensor([0.0, 0.0, 5.0])
    w = worst_case_weights(mu_pi, mu_e, "linear")
    assert float(w.norm()) == pytest.approx(1.0)
    assert float(w @ (mu_pi - mu_e)) == pytest.approx(float((mu_pi - mu_e).norm()))
    torch.testing.assert_close(worst_case_weights(mu_pi, mu_e, "convex"), torch.tensor([0.0, 0.0, -1.0]))
    with pytest.raises(ValueError, match="cost_class"):
        worst_case_weights(mu_pi, mu_e, "quadratic")


def test_bc_learns_cartpole_expert(cartpole_demos: Demonstrations, tmp_path) -> None:
    bc = BC("CartPole-v1", cartpole_demos.take(2), BCConfig(seed=0)).learn()
    assert policy_returns(bc.predict, "CartPole-v1", 5).mean() >= 475
    assert bc.history[-1][0] < BCConfig().max_epochs - 1  # stopped early on the validation loss
    loaded = load_model(bc.save(tmp_path / "bc.zip"))
    obs = cartpole_demos.observations[:50]
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True), bc.predict(obs, deterministic=True))


@pytest.mark.slow
def test_tiny_gail_run_improves_cartpole_policy(cartpole_demos: Demonstrations) -> None:
    gail = GAIL("CartPole-v1", cartpole_demos, GAILConfig(trpo=TRPOConfig(steps_per_iter=2000, num_envs=1)))
    before = policy_returns(gail.predict, "CartPole-v1", 5).mean()
    gail.learn(20_000, progress=False)
    after = policy_returns(gail.predict, "CartPole-v1", 5).mean()
    assert before < 60
    assert after > max(150.0, 3 * before)


def _params(model: GAIL) -> dict[str, torch.Tensor]:
    return {**{f"p.{k}": v for k, v in model.policy.state_dict().items()},
            **{f"v.{k}": v for k, v in model.value.state_dict().items()},
            **{f"d.{k}": v for k, v in model.discriminator.state_dict().items()}}


def test_checkpoint_resume_continues_identically(cartpole_demos: Demonstrations, tmp_path) -> None:
    cfg = GAILConfig(trpo=TINY)
    straight = GAIL("CartPole-v1", cartpole_demos, cfg).learn(2000, progress=False)
    straight.save(tmp_path / "ckpt.zip")
    straight.learn(4000, progress=False)
    resumed = GAIL.load(tmp_path / "ckpt.zip", demos=cartpole_demos)
    assert resumed.num_timesteps == 2000 and resumed.iteration == 2
    resumed.learn(4000, progress=False)
    a, b = _params(straight), _params(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed.disc_optim.state_dict()["state"][0]["step"] == straight.disc_optim.state_dict()["state"][0]["step"]


def test_learn_writes_metrics_and_checkpoint(cartpole_demos: Demonstrations, tmp_path) -> None:
    model = Apprenticeship("CartPole-v1", cartpole_demos, ApprenticeshipConfig(trpo=TINY, cost_class="convex"))
    model.learn(2000, checkpoint=tmp_path / "m.zip", checkpoint_every=1, metrics=tmp_path / "m.csv", progress=False)
    header = (tmp_path / "m.csv").read_text().splitlines()[0].split(",")
    for key in ("charts/SPS", "losses/approx_kl", "cost/worst_case_gap", "time/rollout_s", "time/trpo_s"):
        assert key in header
    assert len((tmp_path / "m.csv").read_text().splitlines()) == 3
    loaded = load_model(tmp_path / "m.zip", demos=cartpole_demos)
    assert isinstance(loaded, Apprenticeship) and loaded.num_timesteps == 2000


def test_models_reject_mismatched_demonstrations(cartpole_demos: Demonstrations) -> None:
    with pytest.raises(ValueError, match="observations have 4 dims"):
        GAIL("Acrobot-v1", cartpole_demos, GAILConfig(trpo=TINY))
    with pytest.raises(ValueError, match="discrete actions"):
        bad = Demonstrations(cartpole_demos.observations, cartpole_demos.actions.astype(np.float32)[:, None],
                             cartpole_demos.rewards, cartpole_demos.episode_starts, cartpole_demos.episode_returns)
        BC("CartPole-v1", bad)
    with pytest.raises(ValueError, match="env_id"):
        GAIL("NoSuchEnv-v0", cartpole_demos, GAILConfig(trpo=TINY))


def test_gail_rejects_zero_discriminator_steps(cartpole_demos: Demonstrations) -> None:
    with pytest.raises(ValueError, match="disc_steps: expected at least 1"):
        GAIL("CartPole-v1", cartpole_demos, GAILConfig(trpo=TINY, disc_steps=0))


def test_predict_validates_observation_shape(cartpole_demos: Demonstrations) -> None:
    bc = BC("CartPole-v1", cartpole_demos)
    assert bc.predict(np.zeros(4)).shape == ()
    assert bc.predict(np.zeros((3, 4))).shape == (3,)
    with pytest.raises(ValueError, match="obs: expected shape"):
        bc.predict(np.zeros(5))


def test_shipped_cartpole_expert_loads_and_scores() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "results" / "imitation" / "experts" / "CartPole-v1.zip"
    expert = load_model(path)
    assert expert.env_id == "CartPole-v1" and expert.num_timesteps == 100_000
    assert policy_returns(expert.predict, "CartPole-v1", 3).mean() >= 475
