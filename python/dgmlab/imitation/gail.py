"""Generative adversarial imitation learning (Algorithm 2.1).

Each iteration: sample trajectories with pi_theta_i; take Adam step(s) on the discriminator with Eq. 2.26; take a
TRPO step on the policy with cost log D_{w_{i+1}}(s, a) (Eq. 2.27, with causal entropy lambda). Usage::

    demos = Demonstrations.load("hopper_expert.npz").take(4).subsample(20)
    model = GAIL("Hopper-v5", demos, GAILConfig()).learn(3_000_000)
    model.predict(obs); model.save("gail.zip"); GAIL.load("gail.zip", demos=demos)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from dgmlab.imitation.demos import Demonstrations
from dgmlab.imitation.discriminator import (
    Discriminator,
    discriminator_loss,
    imitation_reward,
    state_action_features,
)
from dgmlab.imitation.onpolicy import TRPO, TRPOConfig
from dgmlab.imitation.rollout import Batch


@dataclass
class GAILConfig:
    """GAIL: the TRPO loop plus the discriminator's settings."""

    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    """Policy optimisation (rollout size, GAE, TRPO step incl. causal entropy lambda, value fit, seed)."""
    disc_lr: float = 0.01
    """Adam learning rate of the discriminator."""
    disc_steps: int = 5
    """Full-batch Adam steps on Eq. 2.26 per iteration (Algorithm 2.1, line 4). The thesis took 1; then D
    lags a policy that moves a full trust region per iteration, and GAIL's return oscillated on CartPole at
    reduced budgets (README), so 5 is the default; with the log(1 - D) reward 1 scored better on MountainCar
    (``benchmark.default_disc_steps``, which the CLI and benchmark use)."""
    disc_entropy_coef: float = 0.001
    """Bonus on the entropy of D's predictions, pulling D toward 1/2 where it has little evidence (0.001 is the
    default of the thesis' code; 0 turns it off)."""
    reward_form: str = "neg_log_d"
    """'neg_log_d' (r = -log D, the thesis' cost; favours long episodes) or 'log_one_minus_d' (r = log(1 - D);
    favours ending episodes, for tasks whose expert ends episodes by succeeding: MountainCar, Acrobot)."""


class GAIL(TRPO):
    """GAIL policy, value network and discriminator.

    :param env_id: gymnasium environment id
    :param demos: expert demonstrations (``None`` for a model that is only loaded to act)
    :param config: a :class:`GAILConfig`
    """

    config_cls = GAILConfig

    def __init__(self, env_id: str, demos: Demonstrations | None = None, config: GAILConfig | None = None) -> None:
        super().__init__(env_id, config)
        imitation_reward(torch.zeros(1), self.config.reward_form)  # validates reward_form early
        if self.config.disc_steps < 1:
            raise ValueError(f"disc_steps: expected at least 1 discriminator step per iteration, got "
                             f"{self.config.disc_steps}; use 5 (default) or 1 (the thesis' setting)")
        discrete = isinstance(self.action_space, gym.spaces.Discrete)
        self._n_discrete = int(self.action_space.n) if discrete else None
        in_dim = self.observation_space.shape[0] + (self._n_discrete or self.action_space.shape[0])
        self.discriminator = Discriminator(in_dim, self.config.trpo.hidden)
        self.disc_optim = torch.optim.Adam(self.discriminator.parameters(), lr=self.config.disc_lr)
        self.demos = demos
        self._expert_inputs: torch.Tensor | None = None
        if demos is not None:
            demos.check_spaces(self.observation_space, self.action_space)
            self._expert_inputs = state_action_features(demos.observations, demos.actions, self._n_discrete)
            self.discriminator.fit_standardizer(self._expert_inputs)

    @property
    def trpo_config(self) -> TRPOConfig:
        return self.config.trpo

    def _rewards(self, batch: Batch) -> tuple[np.ndarray, dict[str, float]]:
        """Discriminator step(s) on Eq. 2.26, then rewards from the updated D (Algorithm 2.1, lines 4-5)."""
        if self._expert_inputs is None:
            raise ValueError("demos: this GAIL model was built without demonstrations; pass demos= to train it")
        start = time.perf_counter()
        policy_inputs = state_action_features(batch.flat("obs"), batch.flat("env_actions"), self._n_discrete)
        stats: dict[str, float] = {}
        for _ in range(self.config.disc_steps):
            loss, stats = discriminator_loss(self.discriminator(policy_inputs),
                                             self.discriminator(self._expert_inputs), self.config.disc_entropy_coef)
            self.disc_optim.zero_grad()
            loss.backward()
            self.disc_optim.step()
        with torch.no_grad():
            rewards = imitation_reward(self.discriminator(policy_inputs), self.config.reward_form)
        stats["time/disc_s"] = time.perf_counter() - start
        return rewards.double().numpy().reshape(batch.rewards.shape), stats

    def _state(self) -> dict[str, dict]:
        return {**super()._state(), "discriminator": self.discriminator.state_dict(),
                "disc_optim": self.disc_optim.state_dict()}

    def _load_state(self, state: dict[str, dict]) -> None:
        super()._load_state(state)
        self.discriminator.load_state_dict(state["discriminator"])
        self.disc_optim.load_state_dict(state["disc_optim"])
