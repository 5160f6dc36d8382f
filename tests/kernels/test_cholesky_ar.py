"""Batched Cholesky -> autoregressive Gaussian: exact reconstruction, sampling statistics, the torch path, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgmlab import kernels


def well_conditioned(rng: np.random.Generator, B: int, d: int, cond: float = 50.0) -> np.ndarray:
    """J = U diag(s) V^T with singular values spread over [1, cond] (random orthogonal U, V)."""
    U = np.linalg.qr(rng.standard_normal((B, d, d)))[0]
    V = np.linalg.qr(rng.standard_normal((B, d, d)))[0]
    s = np.exp(rng.uniform(0.0, np.log(cond), (B, d)))
    return np.ascontiguousarray(U * s[:, None, :] @ np.swapaxes(V, 1, 2))


def ar_covariance(coeffs: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Covariance of y = A y + D eps, i.e. (I - A)^-1 D^2 (I - A)^-T, per batch entry."""
    d = coeffs.shape[-1]
    T = np.linalg.inv(np.eye(d) - coeffs) * std[:, None, :]
    return T @ np.swapaxes(T, 1, 2)


@pytest.mark.parametrize("d", [1, 2, 3, 12, 64])
def test_reconstructs_sigma2_JJT_exactly(d: int) -> None:
    rng = np.random.default_rng(d)
    J = well_conditioned(rng, 8, d)
    sigma = 0.03
    ar = kernels.cholesky_to_ar(J, sigma)
    target = sigma**2 * J @ np.swapaxes(J, 1, 2)
    scale = np.abs(target).max()
    np.testing.assert_allclose(ar.L @ np.swapaxes(ar.L, 1, 2), target, rtol=0, atol=1e-13 * d * scale)
    np.testing.assert_allclose(ar_covariance(ar.coeffs, ar.std), target, rtol=0, atol=1e-11 * d * scale)
    assert np.all(np.triu(ar.L, 1) == 0) and np.all(np.triu(ar.coeffs) == 0)
    np.testing.assert_array_equal(ar.std, np.diagonal(ar.L, axis1=1, axis2=2))
    M = np.linalg.inv(ar.L)  # the thesis' form: A_ij = -L_ii (L^-1)_ij
    np.testing.assert_allclose(ar.coeffs, np.tril(-ar.std[:, :, None] * M, -1), atol=1e-10, rtol=0)
    np.testing.assert_allclose(ar.cond, np.linalg.norm(J, axis=(1, 2)) * np.linalg.norm(np.linalg.inv(J), axis=(1, 2)),
                               rtol=1e-9)


def test_sampling_through_the_ar_model_matches_the_covariance() -> None:
    rng = np.random.default_rng(0)
    J = well_conditioned(rng, 1, 3, cond=5.0)
    sigma = 2.0
    ar = kernels.cholesky_to_ar(J, sigma)
    n = 200_000
    eps = rng.standard_normal((n, 3))
    y = np.zeros((n, 3))
    for i in range(3):  # one coordinate at a time, as a coder would
        y[:, i] = y[:, :i] @ ar.coeffs[0, i, :i] + ar.std[0, i] * eps[:, i]
    target = sigma**2 * J[0] @ J[0].T
    empirical = y.T @ y / n
    # standard error of a sample covariance entry: sqrt((S_ii S_jj + S_ij^2) / n)
    se = np.sqrt((np.outer(np.diag(target), np.diag(target)) + target**2) / n)
    assert np.all(np.abs(empirical - target) < 5 * se)


def test_batch_entries_are_independent_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    J = well_conditioned(rng, 33, 12)
    ar = kernels.cholesky_to_ar(J, 0.5)
    again = kernels.cholesky_to_ar(J, 0.5)
    single = kernels.cholesky_to_ar(J[17:18].copy(), 0.5)
    for a, b, c in zip(ar, again, single):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a[17:18], c)


@pytest.mark.parametrize("offset", [0, 1, 2, 8])
def test_result_does_not_depend_on_the_inputs_alignment(offset: int) -> None:
    """Large blocks run in place when J starts on a 64-byte boundary and through aligned copies otherwise."""
    rng = np.random.default_rng(6)
    J = well_conditioned(rng, 3, 40)
    base = np.empty(J.size + 16)
    start = (-base.ctypes.data % 64) // 8 + offset
    shifted = base[start:start + J.size].reshape(J.shape)
    shifted[...] = J
    reference = kernels.cholesky_to_ar(torch.from_numpy(J).clone(), 0.3)  # torch storage: 64-byte aligned
    for a, b in zip(kernels.cholesky_to_ar(shifted, 0.3), reference):
        np.testing.assert_array_equal(a, b.numpy())


def test_torch_in_torch_out_matches_torch_linalg() -> None:
    rng = np.random.default_rng(2)
    J = torch.from_numpy(well_conditioned(rng, 16, 12))
    ar = kernels.cholesky_to_ar(J, 1.0)
    assert all(isinstance(t, torch.Tensor) for t in ar)
    L = torch.linalg.cholesky(J @ J.mT)
    M = torch.linalg.solve_triangular(L, torch.eye(12, dtype=J.dtype).expand_as(L), upper=False)
    torch.testing.assert_close(ar.L, L, rtol=0, atol=1e-12)
    torch.testing.assert_close(ar.coeffs, torch.tril(-torch.diagonal(L, dim1=1, dim2=2)[..., None] * M, -1),
                               rtol=0, atol=1e-10)


def test_singular_input_names_the_batch_index() -> None:
    rng = np.random.default_rng(3)
    J = well_conditioned(rng, 6, 4)
    J[4, 3] = J[4, 0] + J[4, 1]  # rank 3
    with pytest.raises(ValueError, match=r"J\[4\] is (singular|ill-conditioned)"):
        kernels.cholesky_to_ar(J)
    J[4] = 0.0
    with pytest.raises(ValueError, match=r"J\[4\] is singular: J J\^T is not positive definite at column 0"):
        kernels.cholesky_to_ar(J)


def test_ill_conditioned_input_raises() -> None:
    rng = np.random.default_rng(4)
    J = well_conditioned(rng, 3, 5, cond=1e5)
    with pytest.raises(ValueError, match=r"J\[0\] is ill-conditioned: kappa_F\(J\)"):
        kernels.cholesky_to_ar(J, max_cond=1e3)
    kernels.cholesky_to_ar(J, max_cond=1e7)


def test_bad_input_raises() -> None:
    J = np.eye(3)[None].repeat(2, axis=0)
    J[1, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"J\[1\] has a non-finite entry"):
        kernels.cholesky_to_ar(J)
    with pytest.raises(ValueError, match="J must have dtype float64"):
        kernels.cholesky_to_ar(np.eye(3, dtype=np.float32)[None])
    with pytest.raises(ValueError, match=r"J must have shape \(B, d, d\)"):
        kernels.cholesky_to_ar(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="J must be C-contiguous"):
        kernels.cholesky_to_ar(np.zeros((2, 3, 3)).transpose(0, 2, 1))
    with pytest.raises(ValueError, match="sigma must be"):
        kernels.cholesky_to_ar(np.eye(3)[None], sigma=-1.0)
    with pytest.raises(ValueError, match="max_cond must be"):
        kernels.cholesky_to_ar(np.eye(3)[None], max_cond=float("nan"))
