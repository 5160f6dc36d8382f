"""Logistic-mixture forward map and inverse: round trips, the PyTorch reference, float32, types, bad input, CUDA."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from dgmlab import kernels

EPS = np.finfo(np.float64).eps
TOL = kernels.DEFAULT_TOL


def random_mixture(rng: np.random.Generator, shape: tuple[int, ...], K: int,
                   log_scale_range: tuple[float, float] = (np.log(1e-3), np.log(1e3))) -> tuple[np.ndarray, ...]:
    """Logits, means and log-scales with scales spread over [1e-3, 1e3] and means on the scale of the scales."""
    logits = rng.normal(0.0, 2.0, (*shape, K))
    log_scales = rng.uniform(*log_scale_range, (*shape, K))
    means = rng.normal(0.0, 1.0, (*shape, K)) * np.exp(log_scales) * 3.0
    return logits, means, log_scales


def assert_solves(x: np.ndarray, y: np.ndarray, logits: np.ndarray, means: np.ndarray, log_scales: np.ndarray,
                  tol: float = TOL) -> None:
    """x solves y(x) = y to the solver's tolerance, measured in y: |y(x) - y| <= y'(x) * 4 tol s_min + rounding."""
    y_at_x, log_dydx = kernels.mixlogistic_forward(x, logits, means, log_scales)
    slack = np.exp(log_dydx) * 4.0 * tol * np.exp(log_scales).min(axis=-1) + 64 * EPS * (1.0 + np.abs(y))
    bad = np.abs(y_at_x - y) > slack
    assert not bad.any(), (np.abs(y_at_x - y)[bad][:5], slack[bad][:5])


@pytest.mark.parametrize("K", range(1, 11))
def test_inverse_then_forward_roundtrip(K: int) -> None:
    rng = np.random.default_rng(K)
    logits, means, log_scales = random_mixture(rng, (300,), K)
    y = rng.uniform(-30.0, 30.0, 300)
    for method in ("newton", "bisection"):
        x = kernels.mixlogistic_inverse(y, logits, means, log_scales, method=method)
        assert_solves(x, y, logits, means, log_scales)


@pytest.mark.parametrize("K", [1, 2, 5, 10])
def test_forward_then_inverse_recovers_x(K: int) -> None:
    rng = np.random.default_rng(100 + K)
    logits, means, log_scales = random_mixture(rng, (20, 15), K)
    x = means[..., 0] + rng.normal(0.0, 2.0, (20, 15)) * np.exp(log_scales[..., 0])
    y, log_dydx = kernels.mixlogistic_forward(x, logits, means, log_scales)
    x2 = kernels.mixlogistic_inverse(y, logits, means, log_scales)
    # An error of rounding size in y moves the root by that over y'(x); the solver adds at most 4 tol s_min.
    bound = 4 * TOL * np.exp(log_scales).min(axis=-1) + 64 * EPS * (1.0 + np.abs(y)) / np.exp(log_dydx)
    assert np.all(np.abs(x2 - x) <= bound)


@pytest.mark.parametrize("u", [1e-15, 1e-9, 1e-4, 0.5, 1 - 1e-4, 1 - 1e-9, 1 - 2**-50])
def test_cdf_targets_near_0_and_1(u: float) -> None:
    rng = np.random.default_rng(7)
    logits, means, log_scales = random_mixture(rng, (200,), 6)
    target = np.full(200, u)
    x = kernels.mixlogistic_inverse(target, logits, means, log_scales, target="cdf")
    y = np.full(200, np.log(u) - np.log1p(-u))
    assert_solves(x, y, logits, means, log_scales)
    cdf, _ = kernels.mixlogistic_forward(x, logits, means, log_scales, target="cdf")
    np.testing.assert_allclose(cdf, u, rtol=1e-9)


def test_forward_matches_reference_and_derivative(reference) -> None:
    rng = np.random.default_rng(3)
    logits, means, log_scales = random_mixture(rng, (500,), 5, (np.log(0.1), np.log(10.0)))
    x = rng.normal(0.0, 10.0, 500)
    y, log_dydx = kernels.mixlogistic_forward(x, logits, means, log_scales)
    t = [torch.from_numpy(a) for a in (x, logits, means, log_scales)]
    np.testing.assert_allclose(y, reference.mixlogistic_logit_cdf(*t).numpy(), rtol=1e-13, atol=1e-13)
    xt = t[0].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(reference.mixlogistic_logit_cdf(xt, *t[1:]).sum(), xt)
    np.testing.assert_allclose(log_dydx, torch.log(grad).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("K", [1, 3, 10])
@pytest.mark.parametrize("method", ["newton", "bisection"])
def test_inverse_agrees_with_torch_reference_bisection(reference, K: int, method: str) -> None:
    rng = np.random.default_rng(20 + K)
    logits, means, log_scales = random_mixture(rng, (1000,), K)
    y = rng.normal(0.0, 5.0, 1000)
    x = kernels.mixlogistic_inverse(y, logits, means, log_scales, method=method)
    x_ref = reference.mixlogistic_inverse_bisection(*(torch.from_numpy(a) for a in (y, logits, means, log_scales)))
    _, log_dydx = kernels.mixlogistic_forward(x, logits, means, log_scales)
    bound = 4 * TOL * np.exp(log_scales).min(axis=-1) + 64 * EPS * (1.0 + np.abs(y)) / np.exp(log_dydx)
    assert np.all(np.abs(x - x_ref.numpy()) <= bound)


def test_float32_is_the_rounded_float64_solution() -> None:
    rng = np.random.default_rng(5)
    logits, means, log_scales = (a.astype(np.float32) for a in random_mixture(rng, (400,), 4))
    y = rng.normal(0.0, 4.0, 400).astype(np.float32)
    x32 = kernels.mixlogistic_inverse(y, logits, means, log_scales)
    x64 = kernels.mixlogistic_inverse(*(a.astype(np.float64) for a in (y, logits, means, log_scales)))
    assert x32.dtype == np.float32
    np.testing.assert_array_equal(x32, x64.astype(np.float32))
    v32, d32 = kernels.mixlogistic_forward(x32, logits, means, log_scales)
    assert v32.dtype == d32.dtype == np.float32


def test_torch_in_torch_out_and_deterministic() -> None:
    rng = np.random.default_rng(11)
    arrays = random_mixture(rng, (4, 8, 8), 3)
    y = rng.normal(0.0, 3.0, (4, 8, 8))
    x_np = kernels.mixlogistic_inverse(y, *arrays)
    x_t = kernels.mixlogistic_inverse(torch.from_numpy(y), *(torch.from_numpy(a) for a in arrays))
    assert isinstance(x_np, np.ndarray) and isinstance(x_t, torch.Tensor) and x_t.shape == (4, 8, 8)
    np.testing.assert_array_equal(x_t.numpy(), x_np)
    np.testing.assert_array_equal(kernels.mixlogistic_inverse(y, *arrays), x_np)
    value, log_derivative = kernels.mixlogistic_forward(x_t, *(torch.from_numpy(a) for a in arrays))
    assert isinstance(value, torch.Tensor) and isinstance(log_derivative, torch.Tensor)


def test_empty_input() -> None:
    x = kernels.mixlogistic_inverse(np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))
    assert x.shape == (0,)


@pytest.mark.parametrize("which", ["y", "logits", "means", "log_scales"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_names_the_argument(which: str, bad: float) -> None:
    rng = np.random.default_rng(0)
    args = dict(zip(["logits", "means", "log_scales"], random_mixture(rng, (10,), 3)))
    args["y"] = rng.normal(size=10)
    args[which][7] = bad
    with pytest.raises(ValueError, match=rf"{which}\[7"):
        kernels.mixlogistic_inverse(args.pop("y"), **args)


def test_first_bad_element_of_a_long_input_is_reported() -> None:
    """Several blocks of work on several threads: the smallest bad index wins, the other elements are still solved."""
    rng = np.random.default_rng(2)
    logits, means, log_scales = random_mixture(rng, (9000,), 4)
    y = rng.normal(0.0, 3.0, 9000)
    x = kernels.mixlogistic_inverse(y, logits, means, log_scales)
    log_scales[6001, 3] = np.nan
    means[2049, 0] = np.inf
    with pytest.raises(ValueError, match=r"means\[2049"):
        kernels.mixlogistic_inverse(y, logits, means, log_scales)
    means[2049, 0] = 0.0
    y[7000] = np.nan
    with pytest.raises(ValueError, match=r"log_scales\[6001"):
        kernels.mixlogistic_inverse(y, logits, means, log_scales)
    log_scales[6001, 3] = 0.0
    with pytest.raises(ValueError, match=r"y\[7000"):
        kernels.mixlogistic_inverse(y, logits, means, log_scales)
    y[7000] = 0.0
    keep = np.ones(9000, dtype=bool)
    keep[[2049, 6001, 7000]] = False
    np.testing.assert_array_equal(kernels.mixlogistic_inverse(y, logits, means, log_scales)[keep], x[keep])


def test_bad_input_raises() -> None:
    rng = np.random.default_rng(0)
    logits, means, log_scales = random_mixture(rng, (10,), 3)
    y = rng.normal(size=10)
    with pytest.raises(ValueError, match=r"y\[0\] is outside \(0, 1\)"):
        kernels.mixlogistic_inverse(np.full(10, 1.0), logits, means, log_scales, target="cdf")
    with pytest.raises(ValueError, match="means must have shape"):
        kernels.mixlogistic_inverse(y, logits, means[:5], log_scales)
    with pytest.raises(ValueError, match="log_scales must have the same K"):
        kernels.mixlogistic_inverse(y, logits, means, log_scales[:, :2].copy())
    with pytest.raises(ValueError, match="logits must have the dtype of y"):
        kernels.mixlogistic_inverse(y, logits.astype(np.float32), means, log_scales)
    with pytest.raises(ValueError, match="y must be float32 or float64"):
        kernels.mixlogistic_inverse(*(a.astype(np.int64) for a in (y, logits, means, log_scales)))
    with pytest.raises(ValueError, match="means must be C-contiguous"):
        kernels.mixlogistic_inverse(y, logits, np.asfortranarray(means), log_scales)
    with pytest.raises(ValueError, match="logits must be of the same kind as y"):
        kernels.mixlogistic_inverse(y, torch.from_numpy(logits), means, log_scales)
    with pytest.raises(ValueError, match="x must be a numpy array or a torch tensor"):
        kernels.mixlogistic_forward([0.0], logits[:1], means[:1], log_scales[:1])
    with pytest.raises(ValueError, match="tol must be"):
        kernels.mixlogistic_inverse(y, logits, means, log_scales, tol=0.0)
    with pytest.raises(ValueError, match="target must be"):
        kernels.mixlogistic_inverse(y, logits, means, log_scales, target="probit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method must be"):
        kernels.mixlogistic_inverse(y, logits, means, log_scales, method="brent")  # type: ignore[arg-type]


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("target", ["logit", "cdf"])
def test_cuda_matches_cpu_bit_for_bit(dtype: torch.dtype, target: str) -> None:
    rng = np.random.default_rng(9)
    cpu = [torch.from_numpy(a).to(dtype) for a in random_mixture(rng, (64, 33), 7)]
    y = torch.from_numpy(rng.uniform(0.001, 0.999, (64, 33)) if target == "cdf" else rng.normal(0, 5, (64, 33)))
    y = y.to(dtype)
    gpu = [a.cuda() for a in cpu]
    for method in ("newton", "bisection"):
        x_cpu = kernels.mixlogistic_inverse(y, *cpu, target=target, method=method)  # type: ignore[arg-type]
        x_gpu = kernels.mixlogistic_inverse(y.cuda(), *gpu, target=target, method=method)  # type: ignore[arg-type]
        assert x_gpu.device.type == "cuda" and x_gpu.dtype == dtype
        torch.testing.assert_close(x_gpu.cpu(), x_cpu, rtol=0, atol=0)
    v_cpu, d_cpu = kernels.mixlogistic_forward(x_cpu, *cpu, target=target)  # type: ignore[arg-type]
    v_gpu, d_gpu = kernels.mixlogistic_forward(x_cpu.cuda(), *gpu, target=target)  # type: ignore[arg-type]
    torch.testing.assert_close(v_gpu.cpu(), v_cpu, rtol=0, atol=0)
    torch.testing.assert_close(d_gpu.cpu(), d_cpu, rtol=0, atol=0)


@pytest.mark.gpu
@needs_cuda
def test_cuda_runs_on_the_current_stream_and_reports_bad_input() -> None:
    rng = np.random.default_rng(1)
    params = [torch.from_numpy(a).cuda() for a in random_mixture(rng, (1000,), 4)]
    y = torch.from_numpy(rng.normal(size=1000)).cuda()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        x = kernels.mixlogistic_inverse(y, *params)
    stream.synchronize()
    torch.testing.assert_close(x.cpu(), kernels.mixlogistic_inverse(y.cpu(), *(p.cpu() for p in params)),
                               rtol=0, atol=0)
    params[1][17, 2] = float("nan")
    with pytest.raises(ValueError, match=r"means\[17, :\]"):
        kernels.mixlogistic_inverse(y, *params)
    with pytest.raises(ValueError, match="must be on"):
        kernels.mixlogistic_inverse(y, params[0].cpu(), *params[1:])


def _pinned_inputs(n: int, K: int) -> tuple[np.ndarray, ...]:
    """Targets and mixture parameters from integer hashing and exact affine maps only (no RNG stream, no libm), so
    the inputs are the same bits on every machine and numpy version."""

    def uniform(shape: tuple[int, ...], salt: int) -> np.ndarray:
        i = np.arange(int(np.prod(shape)), dtype=np.int64) + salt * 1_000_003
        return (((i * 2654435761) % 2**32).astype(np.float64) / 2.0**32).reshape(shape)

    logits = uniform((n, K), 1) * 8.0 - 4.0
    log_scales = uniform((n, K), 2) * 14.0 - 7.0
    means = uniform((n, K), 3) * 200.0 - 100.0
    y = uniform((n,), 4) * 80.0 - 40.0
    y[::97] = uniform((y[::97].size,), 5) * 1300.0 - 650.0
    u = uniform((n,), 6)
    u[0], u[1], u[2], u[3] = 2.0**-1000, 2.0**-60, 1.0 - 2.0**-53, 0.5
    return y, u, logits, means, log_scales


# sha256 of the outputs below, recorded with the scalar solver (mixlogistic::solve / forward, one element at a time,
# as the CUDA kernel runs it). Local bits-back decodes through this inverse, so its bits must not move: a faster
# kernel has to reproduce them on every path (SIMD lanes, scalar fallback, any thread count).
PINNED_SHA256 = {
    1: "4253687e4858b04773a86ee379f64f50005c8498a84390134be7fbfe9683d8cf",
    4: "836275e1d8c888f034c4d025438c87c834b01d689e1814f9e365d60b70663a6b",
    7: "121438cd51da7ad58c01598a427503c7e3f8e813a0533a8a556c35021dcf8119",
    32: "629ad1dcd6ad6832ad5c6bdd91fa14af7bd20250a57fe5f22fa896c68463e5e5",
}


@pytest.mark.parametrize("K", [1, 4, 7, 32])
def test_bits_are_pinned(K: int) -> None:
    y, u, logits, means, log_scales = _pinned_inputs(2053, K)  # two blocks of work, not a multiple of 8 lanes
    outputs = []
    for method in ("newton", "bisection"):
        outputs.append(kernels.mixlogistic_inverse(y, logits, means, log_scales, method=method))
        outputs.append(kernels.mixlogistic_inverse(u, logits, means, log_scales, target="cdf", method=method))
        f32 = [a.astype(np.float32) for a in (y, logits, means, log_scales)]
        outputs.append(kernels.mixlogistic_inverse(*f32, method=method, tol=2.0**-20))
    for target in ("logit", "cdf"):
        outputs.extend(kernels.mixlogistic_forward(outputs[0], logits, means, log_scales, target=target))
    digest = hashlib.sha256(b"".join(o.tobytes() for o in outputs)).hexdigest()
    assert digest == PINNED_SHA256[K]
