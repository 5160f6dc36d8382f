"""Native numerical kernels: batched Cholesky -> autoregressive Gaussian, and the logistic-mixture CDF map.

A round trip through the Flow++ elementwise map (thesis eq. 3.14 before its affine part):

>>> import numpy as np
>>> from dgmlab import kernels
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal(1000)
>>> logits, means, log_scales = (rng.standard_normal((1000, 4)) for _ in range(3))
>>> y, log_dydx = kernels.mixlogistic_forward(x, logits, means, log_scales)
>>> x2 = kernels.mixlogistic_inverse(y, logits, means, log_scales)
>>> bool(np.all(np.abs(x2 - x) < 1e-9))
True

and the conversion of N(0, sigma^2 J J^T) to a linear autoregressive model (Section 3.5.4.1):

>>> J = rng.standard_normal((16, 12, 12))
>>> ar = kernels.cholesky_to_ar(J, sigma=0.01)    # y_i | y_<i ~ N(ar.coeffs[b, i, :i] @ y[:i], ar.std[b, i]^2)
>>> bool(np.allclose(ar.L @ ar.L.transpose(0, 2, 1), 0.01**2 * J @ J.transpose(0, 2, 1), rtol=0, atol=1e-15))
True

numpy arrays in give numpy arrays out, torch tensors give torch tensors (on the same device). CPU inputs run the
OpenMP kernels; CUDA tensors run the CUDA kernel on the current stream (mixture functions only). Inputs must be
C-contiguous and of one float dtype; bad input raises ``ValueError`` naming the argument. The mixture kernels compute
in double precision with the project's deterministic exp/log, so CPU and CUDA results are the same bits.

This is the one module of the kernels subsystem that imports ``dgmlab._native``.
"""

from __future__ import annotations

import sys
from typing import Any, Literal, NamedTuple

import numpy as np

from dgmlab import _native

__all__ = ["AutoregressiveGaussian", "cholesky_to_ar", "mixlogistic_forward", "mixlogistic_inverse"]

Target = Literal["logit", "cdf"]
Method = Literal["newton", "bisection"]

DEFAULT_TOL = 2.0**-40
"""Default stopping tolerance of the mixture inverse, relative to the smallest component scale."""


class AutoregressiveGaussian(NamedTuple):
    """N(0, sigma^2 J J^T) as a linear autoregressive model, per batch entry b.

    ``y_i | y_<i ~ N(sum_{j<i} coeffs[b, i, j] y_j, std[b, i]^2)``.
    """

    L: Any
    """(B, d, d) lower-triangular Cholesky factor of sigma^2 J J^T."""
    coeffs: Any
    """(B, d, d) strictly lower-triangular AR coefficients, ``-L_ii (L^-1)_ij`` for j < i."""
    std: Any
    """(B, d) conditional standard deviations ``L_ii``."""
    cond: Any
    """(B,) Frobenius condition number ``||J||_F ||J^-1||_F`` of each J."""


def _torch() -> Any:
    return sys.modules.get("torch")


def _is_tensor(a: object) -> bool:
    torch = _torch()
    return torch is not None and isinstance(a, torch.Tensor)


def _as_numpy(a: Any, name: str) -> np.ndarray:
    """A CPU array or tensor as a numpy view (no copy), after checking its kind and layout."""
    if _is_tensor(a):
        if a.device.type != "cpu":
            raise ValueError(f"{name} must be on the CPU here, got a tensor on {a.device}")
        if not a.is_contiguous():
            raise ValueError(f"{name} must be contiguous (call .contiguous())")
        return a.detach().numpy()
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array or a torch tensor, got {type(a).__name__}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    return a


def _check_same_kind(named: dict[str, Any]) -> None:
    """All arguments numpy, or all torch tensors with one dtype on one device."""
    first_name, first = next(iter(named.items()))
    for name, a in named.items():
        if not (_is_tensor(a) or isinstance(a, np.ndarray)):
            raise ValueError(f"{name} must be a numpy array or a torch tensor, got {type(a).__name__}")
        if _is_tensor(a) != _is_tensor(first):
            raise ValueError(f"{name} must be of the same kind as {first_name} (all numpy or all torch)")
        if a.dtype != first.dtype:
            raise ValueError(f"{name} must have the dtype of {first_name} ({first.dtype}), got {a.dtype}")
        if _is_tensor(a) and a.device != first.device:
            raise ValueError(f"{name} must be on {first.device} like {first_name}, got {a.device}")


def _wrap(out: np.ndarray, like: Any) -> Any:
    return _torch().from_numpy(out) if _is_tensor(like) else out


def _check_target(target: str) -> bool:
    if target not in ("logit", "cdf"):
        raise ValueError(f"target must be 'logit' or 'cdf', got {target!r}")
    return target == "logit"


def cholesky_to_ar(J: Any, sigma: float = 1.0, *, max_cond: float = 1e7) -> AutoregressiveGaussian:
    """Converts N(0, sigma^2 J J^T) for each of a batch of d x d matrices into a linear AR model.

    :param J: (B, d, d) float64 numpy array or CPU tensor, each full rank (a Jacobian block of a flow).
    :param sigma: noise level sigma > 0 of local bits-back coding.
    :param max_cond: largest accepted Frobenius condition number of J (kappa(J J^T) <= max_cond^2).
    :raises ValueError: naming the first batch index whose J is non-finite, singular or ill-conditioned.
    """
    Jn = _as_numpy(J, "J")
    if Jn.dtype != np.float64:
        raise ValueError(f"J must have dtype float64, got {Jn.dtype}")
    L, A, std, cond = _native.cholesky_to_ar(Jn, float(sigma), float(max_cond))
    return AutoregressiveGaussian(_wrap(L, J), _wrap(A, J), _wrap(std, J), _wrap(cond, J))


def _mixture_cpu_args(first: Any, first_name: str, logits: Any, means: Any, log_scales: Any) -> list[np.ndarray]:
    named = {first_name: first, "logits": logits, "means": means, "log_scales": log_scales}
    _check_same_kind(named)
    return [_as_numpy(a, name) for name, a in named.items()]


def _is_cuda(a: Any) -> bool:
    return _is_tensor(a) and a.device.type == "cuda"


def _cuda_prepare(first: Any, first_name: str, logits: Any, means: Any, log_scales: Any) -> tuple[int, int, Any]:
    """Checks CUDA tensors; returns (n, K, status buffer) with the status initialised to 'no failure'."""
    if not _native.build_info()["cuda"]:
        raise ValueError(f"{first_name} is a CUDA tensor but this dgmlab build has no CUDA kernels")
    torch = _torch()
    named = {first_name: first, "logits": logits, "means": means, "log_scales": log_scales}
    _check_same_kind(named)
    if first.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{first_name} must be float32 or float64, got {first.dtype}")
    K = logits.shape[-1] if logits.dim() >= 1 else 0
    for name, a in named.items():
        if not a.is_contiguous():
            raise ValueError(f"{name} must be contiguous (call .contiguous())")
        if name != first_name and (tuple(a.shape) != (*first.shape, K) or K < 1):
            raise ValueError(f"{name} must have shape {tuple(first.shape)} + (K,) with K >= 1, got {tuple(a.shape)}")
    if K > _native.cuda_max_components():
        raise ValueError(f"logits must have K <= {_native.cuda_max_components()} on CUDA, got K = {K}")
    status = torch.full((1,), -1, dtype=torch.int64, device=first.device)
    return first.numel(), K, status


def _cuda_finish(status: Any, first_name: str) -> None:
    _native.check_mixlogistic_status(int(status.item()) & 0xFFFFFFFFFFFFFFFF, first_name)


def mixlogistic_forward(x: Any, logits: Any, means: Any, log_scales: Any, *,
                        target: Target = "logit") -> tuple[Any, Any]:
    """The mixture map and the log of its derivative, elementwise.

    ``target="logit"``: ``(sigma^-1(MixLogCDF(x)), log d/dx of it)`` (Flow++ eq. 3.14 before exp(a), b);
    ``target="cdf"``: ``(MixLogCDF(x), log pdf(x))``. ``MixLogCDF(x) = sum_k softmax(logits)_k
    sigmoid((x - means_k) exp(-log_scales_k))``.

    :param x: values, any shape S, float32 or float64.
    :param logits, means, log_scales: mixture parameters of shape S + (K,), same dtype.
    """
    logit_form = _check_target(target)
    if _is_cuda(x):
        n, K, status = _cuda_prepare(x, "x", logits, means, log_scales)
        value, log_derivative = _torch().empty_like(x), _torch().empty_like(x)
        if n:
            _native.mixlogistic_forward_cuda(
                x.device.index, _torch().cuda.current_stream(x.device).cuda_stream, x.dtype == _torch().float64,
                x.data_ptr(), logits.data_ptr(), means.data_ptr(), log_scales.data_ptr(), value.data_ptr(),
                log_derivative.data_ptr(), status.data_ptr(), n, K, logit_form)
            _cuda_finish(status, "x")
        return value, log_derivative
    args = _mixture_cpu_args(x, "x", logits, means, log_scales)
    value, log_derivative = _native.mixlogistic_forward(*args, logit_form)
    return _wrap(value, x), _wrap(log_derivative, x)


def mixlogistic_inverse(y: Any, logits: Any, means: Any, log_scales: Any, *, target: Target = "logit",
                        tol: float = DEFAULT_TOL, method: Method = "newton") -> Any:
    """Solves ``sigma^-1(MixLogCDF(x)) = y`` (``target="logit"``) or ``MixLogCDF(x) = y`` (``"cdf"``) for x.

    The root is bracketed by ``[min_k(mu_k + y' e^{s_k}), max_k(mu_k + y' e^{s_k})]`` (y' the target in logit
    form) and found by safeguarded Newton-bisection (``method="newton"``) or plain bisection (``"bisection"``, the
    reference path), stopping once the bracket or the last Newton step is below ``tol * min_k e^{s_k}``.

    :param y: targets, any shape S, float32 or float64; finite, and in (0, 1) for ``target="cdf"``.
    :param logits, means, log_scales: mixture parameters of shape S + (K,), same dtype and device as y.
    :param tol: tolerance relative to the smallest component scale (default 2^-40).
    :returns: x of the type, shape, dtype and device of y.
    """
    logit_form = _check_target(target)
    if method not in ("newton", "bisection"):
        raise ValueError(f"method must be 'newton' or 'bisection', got {method!r}")
    if not (tol > 0.0 and np.isfinite(tol)):
        raise ValueError(f"tol must be a finite number > 0, got {tol}")
    newton = method == "newton"
    if _is_cuda(y):
        n, K, status = _cuda_prepare(y, "y", logits, means, log_scales)
        x = _torch().empty_like(y)
        if n:
            _native.mixlogistic_inverse_cuda(
                y.device.index, _torch().cuda.current_stream(y.device).cuda_stream, y.dtype == _torch().float64,
                y.data_ptr(), logits.data_ptr(), means.data_ptr(), log_scales.data_ptr(), x.data_ptr(),
                status.data_ptr(), n, K, float(tol), newton, logit_form)
            _cuda_finish(status, "y")
        return x
    args = _mixture_cpu_args(y, "y", logits, means, log_scales)
    return _wrap(_native.mixlogistic_inverse(*args, float(tol), newton, logit_form), y)
