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


@pytest.mark.parametrize("B, d", [(33, 12), (600, 12), (9, 40)])
def test_batch_entries_are_independent_and_deterministic(B: int, d: int) -> None:
    """Small batches run on the calling thread, larger ones (B d^3 >= 4e5) on all threads: the same bits."""
    rng = np.random.default_rng(1)
    J = well_conditioned(rng, B, d)
    ar = kernels.cholesky_to_ar(J, 0.5)
    again = kernels.cholesky_to_ar(J, 0.5)
    i = B // 2
    single = kernels.cholesky_to_ar(J[i:i + 1].copy(), 0.5)
    for a, b, c in zip(ar, again, single):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a[i:i + 1], c)


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


def torch_reference(J: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The conversion with torch.linalg (bench/kernels_vs_torch.py's baseline): L and A = -diag(L) L^-1 below the diagonal."""
    Jt = torch.from_numpy(J)
    L = torch.linalg.cholesky(sigma**2 * (Jt @ Jt.mT))
    M = torch.linalg.solve_triangular(L, torch.eye(J.shape[-1], dtype=Jt.dtype).expand_as(L), upper=False)
    return L.numpy(), torch.tril(-torch.diagonal(L, dim1=1, dim2=2)[..., None] * M, -1).numpy()


@pytest.mark.parametrize("d", [17, 23, 31, 40, 64, 100, 129])
def test_blocked_large_d_path_gives_the_reference_bits(d: int) -> None:
    """d > 16 runs panels of eight columns and register strips on AVX-512 CPUs; reference=True runs the plain loops.

    Sizes cover every d mod 8 the panels and strips leave over. On CPUs without AVX-512 both run the plain loops.
    """
    from dgmlab import _native

    rng = np.random.default_rng(d)
    J = well_conditioned(rng, 3, d)
    fast = _native.cholesky_to_ar(J, 0.7, 1e7)
    plain = _native.cholesky_to_ar(J, 0.7, 1e7, reference=True)
    for a, b in zip(fast, plain):
        np.testing.assert_array_equal(a, b)


def test_blocked_path_256_matches_torch() -> None:
    rng = np.random.default_rng(256)
    J = well_conditioned(rng, 2, 256, cond=20.0)
    ar = kernels.cholesky_to_ar(J, 0.5)
    L_ref, A_ref = torch_reference(J, 0.5)
    np.testing.assert_allclose(ar.L, L_ref, rtol=0, atol=1e-12 * np.abs(L_ref).max())
    np.testing.assert_allclose(ar.coeffs, A_ref, rtol=0, atol=1e-9 * max(1.0, np.abs(A_ref).max()))


@pytest.mark.parametrize("d", list(range(1, 17)))
def test_small_d_matches_torch_and_single_matrices(d: int) -> None:
    """d <= 16 runs eight matrices per SIMD group; 13 is one full group and one of five (identity lanes past the end)."""
    rng = np.random.default_rng(100 + d)
    J = well_conditioned(rng, 13, d, cond=20.0)
    ar = kernels.cholesky_to_ar(J, 0.25)
    L_ref, A_ref = torch_reference(J, 0.25)
    np.testing.assert_allclose(ar.L, L_ref, rtol=0, atol=1e-13 * np.abs(L_ref).max())
    np.testing.assert_allclose(ar.coeffs, A_ref, rtol=0, atol=1e-10 * max(1.0, np.abs(A_ref).max()))
    assert np.all(np.triu(ar.L, 1) == 0) and np.all(np.triu(ar.coeffs) == 0)
    for b in (0, 7, 8, 12):
        alone = kernels.cholesky_to_ar(J[b:b + 1].copy(), 0.25)
        for x, y in zip(ar, alone):
            np.testing.assert_array_equal(x[b:b + 1], y)


def test_outputs_of_repeated_calls_are_independent() -> None:
    """L and A come from a pool of recycled blocks: results kept alive must never share memory with later ones."""
    rng = np.random.default_rng(7)
    J1 = well_conditioned(rng, 64, 40)
    J2 = well_conditioned(rng, 64, 40)
    first = kernels.cholesky_to_ar(J1)
    expected = [a.copy() for a in first]
    del first
    again = kernels.cholesky_to_ar(J1)  # may reuse the freed blocks
    other = kernels.cholesky_to_ar(J2)
    assert not np.shares_memory(again.L, other.L) and not np.shares_memory(again.coeffs, other.coeffs)
    assert not np.shares_memory(again.L, again.coeffs)
    for a, b in zip(again, expected):
        np.testing.assert_array_equal(a, b)
    again.L[0, 0, 0] = 123.0  # writable, and private to this result
    assert other.L[0, 0, 0] != 123.0
    t = kernels.cholesky_to_ar(torch.from_numpy(J2))
    np.testing.assert_array_equal(t.coeffs.numpy(), other.coeffs)


@pytest.mark.parametrize(("B", "d", "bad"), [(13, 12, 11), (3, 40, 2), (2, 20, 1)])
def test_singular_block_names_its_index_on_every_path(B: int, d: int, bad: int) -> None:
    """A zero row c of J makes J J^T's pivot at column c exactly 0, inside a panel of the blocked path too."""
    rng = np.random.default_rng(B * d)
    J = well_conditioned(rng, B, d)
    c = d // 2 + 1
    J[bad, c] = 0.0
    message = rf"J\[{bad}\] is singular: J J\^T is not positive definite at column {c} "
    with pytest.raises(ValueError, match=message):
        kernels.cholesky_to_ar(J)
    from dgmlab import _native

    with pytest.raises(ValueError, match=message):
        _native.cholesky_to_ar(J, 1.0, 1e7, reference=True)


def test_ill_conditioned_large_block_names_its_index() -> None:
    rng = np.random.default_rng(5)
    J = well_conditioned(rng, 4, 48)
    J[3] = well_conditioned(rng, 1, 48, cond=1e6)[0]
    with pytest.raises(ValueError, match=r"J\[3\] is ill-conditioned: kappa_F\(J\)"):
        kernels.cholesky_to_ar(J, max_cond=1e4)
