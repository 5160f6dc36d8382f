"""Imitation learning (Chapter 2): GAIL with TRPO, behavioural cloning, FEM / GTAL apprenticeship learning.

Needs the ``[rl]`` extra (gymnasium). Train an expert, sample demonstrations, imitate::

    from dgmlab.imitation import TRPO, TRPOConfig, GAIL, GAILConfig, sample_demonstrations
    expert = TRPO("CartPole-v1", TRPOConfig(steps_per_iter=5000)).learn(100_000)
    demos = sample_demonstrations(expert.predict, "CartPole-v1", num_trajectories=4)
    gail = GAIL("CartPole-v1", demos, GAILConfig(trpo=TRPOConfig(steps_per_iter=5000))).learn(100_000)
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names -> defining module, imported on first use so that `dgmlab --help` (which loads this package's CLI)
# works without the [rl] extra.
_EXPORTS = {
    "Demonstrations": "dgmlab.imitation.demos",
    "sample_demonstrations": "dgmlab.imitation.demos",
    "GAIL": "dgmlab.imitation.gail",
    "GAILConfig": "dgmlab.imitation.gail",
    "TRPO": "dgmlab.imitation.onpolicy",
    "TRPOConfig": "dgmlab.imitation.onpolicy",
    "TRPOStepConfig": "dgmlab.imitation.trpo",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dgmlab.imitation' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
