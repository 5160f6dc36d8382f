"""Pure-PyTorch references for the native kernels: readable, slow, and the yardstick for tests and benchmarks."""

from __future__ import annotations

import torch


def mixlogistic_logit_cdf(x: torch.Tensor, logits: torch.Tensor, means: torch.Tensor,
                          log_scales: torch.Tensor) -> torch.Tensor:
    """sigma^-1(MixLogCDF(x)) = log CDF - log(1 - CDF) (thesis eq. 3.14-3.15).

    Both CDF and 1 - CDF are sums of positive terms (sigmoid(z) and sigmoid(-z)), so neither tail loses precision.
    """
    weights = torch.softmax(logits, dim=-1)
    z = (x[..., None] - means) * torch.exp(-log_scales)
    cdf = (weights * torch.sigmoid(z)).sum(dim=-1)
    survival = (weights * torch.sigmoid(-z)).sum(dim=-1)
    return torch.log(cdf) - torch.log(survival)


def mixlogistic_inverse_bisection(y: torch.Tensor, logits: torch.Tensor, means: torch.Tensor,
                                  log_scales: torch.Tensor, tol: float = 2.0**-40) -> torch.Tensor:
    """Solves sigma^-1(MixLogCDF(x)) = y by bisection, every element in lockstep.

    The bracket [min_k(mu_k + y e^{s_k}), max_k(mu_k + y e^{s_k})] contains the root; an element stops once its
    bracket is narrower than ``tol * min_k e^{s_k}`` or cannot be halved any more (one ulp wide): the same stopping
    rule as the native kernels.
    """
    scales = torch.exp(log_scales)
    ends = means + y[..., None] * scales
    lo, hi = ends.amin(dim=-1), ends.amax(dim=-1)
    pad = 4.440892098500626e-16 * (lo.abs() + hi.abs())
    lo, hi = lo - pad, hi + pad
    tolx = tol * scales.amin(dim=-1)
    while True:
        mid = lo + 0.5 * (hi - lo)
        done = (hi - lo <= tolx) | (mid <= lo) | (mid >= hi)
        if bool(done.all()):
            return mid
        below = mixlogistic_logit_cdf(mid, logits, means, log_scales) < y
        lo = torch.where(done | ~below, lo, mid)
        hi = torch.where(done | below, hi, mid)
