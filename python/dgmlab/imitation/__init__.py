"""Imitation learning (Chapter 2): GAIL with TRPO, behavioural cloning, FEM / GTAL apprenticeship learning.

Needs the ``[rl]`` extra (gymnasium). Train an expert, sample demonstrations, imitate::

    from dgmlab.imitation import TRPO, TRPOConfig, GAIL, GAILConfig, sample_demonstrations
    expert = TRPO("CartPole-v1", TRPOConfig(steps_per_iter=5000)).learn(100_000)
    demos = sample_demonstrations(expert.predict, "CartPole-v1", num_trajectories=4)
    gail = GAIL("CartPole-v1", demos, GAILConfig(trpo=TRPOConfig(steps_per_iter=5000))).learn(100_000)
"""

from __future__ import annotations

from dgmlab.imitation.demos import Demonstrations, sample_demonstrations
from dgmlab.imitation.gail import GAIL, GAILConfig
from dgmlab.imitation.onpolicy import TRPO, TRPOConfig
from dgmlab.imitation.trpo import TRPOStepConfig

__all__ = ["GAIL", "GAILConfig", "TRPO", "TRPOConfig", "TRPOStepConfig", "Demonstrations",
           "sample_demonstrations"]
