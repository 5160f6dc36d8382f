"""Logistic-mixture CDF in logit space (Eq. 3.14-3.15) and its inverse.

``f(x) = logit(MixLogCDF(x; pi, mu, s))`` is strictly increasing; the mixture coupling applies ``f`` then an affine
map. Everything works on the last axis ``K`` of ``logits`` / ``means`` / ``log_scales`` broadcast against ``x``.
The inverse (sampling, a coupling's ``inverse``, the black-box coder's means) runs the native float64
Newton-bisection kernel (:func:`dgmlab.kernels.mixlogistic_inverse`: OpenMP on the CPU, CUDA on GPU tensors);
:func:`mixlogistic_inverse_reference` is the readable torch bisection it replaced, kept as the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgmlab import kernels


def mixlogistic_logit_cdf(
    x: torch.Tensor, logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(logit(MixLogCDF(x)), log d/dx logit(MixLogCDF(x)))``, both computed in log space for stability.

    With ``t_i = (x - mu_i) e^{-s_i}``: ``log F = LSE(log pi_i - softplus(-t_i))``, ``log(1 - F) = LSE(log pi_i -
    softplus(t_i))``, ``log F' = LSE(log pi_i + t_i - s_i - 2 softplus(t_i))`` and ``(logit F)' = F' / (F (1 - F))``.
    """
    log_pi = torch.log_softmax(logits, dim=-1)
    t = (x.unsqueeze(-1) - means) * torch.exp(-log_scales)
    log_cdf = torch.logsumexp(log_pi - F.softplus(-t), dim=-1)
    log_sf = torch.logsumexp(log_pi - F.softplus(t), dim=-1)
    log_pdf = torch.logsumexp(log_pi + t - log_scales - 2.0 * F.softplus(t), dim=-1)
    return log_cdf - log_sf, log_pdf - log_cdf - log_sf


def _check_shapes(logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> None:
    if not (logits.shape == means.shape == log_scales.shape):
        raise ValueError(
            f"logits, means, log_scales shapes differ: {logits.shape}, {means.shape}, {log_scales.shape}"
        )


def mixlogistic_inverse(
    y: torch.Tensor, logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor, rel_tol: float = 2.0**-40
) -> torch.Tensor:
    """Solve ``logit(MixLogCDF(x)) = y`` for ``x`` with the native kernel (float64, result in ``y``'s dtype).

    Same bracket and stopping rule as :func:`mixlogistic_inverse_reference` (Newton steps inside it), on the
    device of ``y``; ``y`` broadcasts against the parameters' leading shape. Not differentiable (sampling only).
    """
    _check_shapes(logits, means, log_scales)
    lg, mu, ls = (v.detach().double().contiguous() for v in (logits, means, log_scales))
    y64 = y.detach().double().expand(lg.shape[:-1]).contiguous()
    return kernels.mixlogistic_inverse(y64, lg, mu, ls, tol=rel_tol).to(y.dtype)


def mixlogistic_inverse_reference(
    y: torch.Tensor,
    logits: torch.Tensor,
    means: torch.Tensor,
    log_scales: torch.Tensor,
    rel_tol: float = 2.0**-40,
    max_iter: int = 200,
) -> torch.Tensor:
    """Solve ``logit(MixLogCDF(x)) = y`` for ``x`` by safeguarded bisection (in float64, result in ``y``'s dtype).

    The bracket is exact: each component's quantile ``mu_i + e^{s_i} y`` has component CDF equal to ``sigmoid(y)``,
    so the mixture CDF is ``<= sigmoid(y)`` at the smallest and ``>=`` at the largest of them. Bisection stops when
    every bracket is narrower than ``rel_tol * min_i e^{s_i}`` (far below 2^-32 of the scale) or stops shrinking.
    The readable reference of :func:`mixlogistic_inverse`.
    """
    _check_shapes(logits, means, log_scales)
    dtype = y.dtype
    y64, lg, mu, ls = (v.detach().double() for v in (y, logits, means, log_scales))
    quantiles = mu + torch.exp(ls) * y64.unsqueeze(-1)
    lo, hi = quantiles.min(dim=-1).values, quantiles.max(dim=-1).values
    tol = rel_tol * torch.exp(ls.min(dim=-1).values)
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        done = (hi - lo <= tol) | (mid <= lo) | (mid >= hi)
        if bool(done.all()):
            break
        below = mixlogistic_logit_cdf(mid, lg, mu, ls)[0] < y64
        lo = torch.where(below & ~done, mid, lo)
        hi = torch.where(~below & ~done, mid, hi)
    return (0.5 * (lo + hi)).to(dtype)
