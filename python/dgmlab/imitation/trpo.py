"""Trust region policy optimisation step (Schulman et al., 2015) as used by GAIL, FEM and GTAL (Section 2.4.3).

One step maximises the surrogate ``L(theta) = E[pi_theta(a|s) / pi_old(a|s) * A(s, a)] + lambda * H(pi_theta)``
(the causal-entropy term of Eq. 2.27) subject to ``mean_s KL(pi_old(.|s) || pi_theta(.|s)) <= max_kl``:

1. g = grad L at theta_old;
2. s = F^-1 g by conjugate gradient, F the Fisher matrix (Hessian of the mean KL) + damping * I, used only
   through Fisher-vector products;
3. full step = sqrt(2 max_kl / s^T F s) * s, then a backtracking line search that accepts the first fraction whose
   KL is within ``max_kl`` *and* whose surrogate improved; if none does, the policy is left unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.distributions import kl_divergence
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from dgmlab.imitation.policies import Policy


@dataclass
class TRPOStepConfig:
    """Hyper-parameters of one TRPO policy step (defaults from the thesis' code)."""

    max_kl: float = 0.01
    """Trust region radius: bound on the mean KL(pi_old || pi_new) over the batch's states."""
    damping: float = 0.1
    """Added to the Fisher-vector product (F + damping * I) for a well-conditioned CG solve."""
    cg_iters: int = 10
    """Conjugate-gradient iterations for s = F^-1 g."""
    backtrack_steps: int = 10
    """Line-search trials; trial k uses 0.5^k of the full step."""
    entropy_coef: float = 0.0
    """Causal entropy regularisation lambda (Eq. 2.27); the thesis used 0 except in the Reacher sweep."""


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int,
                       tol: float = 1e-10) -> torch.Tensor:
    """Approximate solution x of A x = b for symmetric positive definite A given only ``matvec(v) = A v``."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r.dot(r)
    for _ in range(iters):
        if rr < tol:
            break
        ap = matvec(p)
        alpha = rr / p.dot(ap)
        x += alpha * p
        r -= alpha * ap
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def _surrogate(policy: Policy, obs: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor,
               old_logp: torch.Tensor, entropy_coef: float) -> torch.Tensor:
    dist = policy.distribution(obs)
    ratio = torch.exp(dist.log_prob(actions) - old_logp)
    return (ratio * advantages).mean() + entropy_coef * dist.entropy().mean()


def mean_kl(policy: Policy, obs: torch.Tensor, old_dist: torch.distributions.Distribution) -> torch.Tensor:
    """Mean over states of KL(old || current policy)."""
    return kl_divergence(old_dist, policy.distribution(obs)).mean()


def trpo_step(policy: Policy, obs: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor,
              config: TRPOStepConfig) -> dict[str, float]:
    """Update ``policy`` in place by one TRPO step; returns namespaced statistics."""
    params = [p for p in policy.parameters() if p.requires_grad]
    with torch.no_grad():
        old_dist = policy.distribution(obs)
        old_logp = old_dist.log_prob(actions)
    old_theta = parameters_to_vector(params).detach().clone()
    surr = _surrogate(policy, obs, actions, advantages, old_logp, config.entropy_coef)
    grad = parameters_to_vector(torch.autograd.grad(surr, params)).detach()

    def fisher_vector(v: torch.Tensor) -> torch.Tensor:
        kl_grad = parameters_to_vector(torch.autograd.grad(mean_kl(policy, obs, old_dist), params, create_graph=True))
        hvp = parameters_to_vector(torch.autograd.grad(kl_grad.dot(v), params))
        return hvp.detach() + config.damping * v

    step_dir = conjugate_gradient(fisher_vector, grad, config.cg_iters)
    shs = step_dir.dot(fisher_vector(step_dir)).clamp_min(1e-12)
    full_step = torch.sqrt(2.0 * config.max_kl / shs) * step_dir
    stats = {"losses/surrogate_improve": 0.0, "losses/approx_kl": 0.0, "losses/step_fraction": 0.0}
    with torch.no_grad():
        for k in range(config.backtrack_steps):
            fraction = 0.5**k
            vector_to_parameters(old_theta + fraction * full_step, params)
            improve = _surrogate(policy, obs, actions, advantages, old_logp, config.entropy_coef) - surr
            kl = mean_kl(policy, obs, old_dist)
            if torch.isfinite(kl) and kl <= config.max_kl and improve > 0:
                stats.update({"losses/surrogate_improve": float(improve), "losses/approx_kl": float(kl),
                              "losses/step_fraction": fraction})
                break
        else:
            vector_to_parameters(old_theta, params)
        stats["losses/entropy"] = float(policy.distribution(obs).entropy().mean())
    return stats
