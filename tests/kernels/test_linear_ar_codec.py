"""The linear AR codec on the coder's grid Gaussian: bit-exact round trips, codelength, sampling, bad input."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

from dgmlab import kernels
from dgmlab.coding import DiscretizedLinearAR, Message
from dgmlab.coding import linear_ar as linear_ar_module

W = 2.0**-32
SIGMA = 2.0**-12


def make_codec(seed: int, B: int, d: int) -> tuple[DiscretizedLinearAR, np.ndarray, np.ndarray]:
    """A codec for N(mean, SIGMA^2 J J^T) per block, with its mean and covariance."""
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((B, d, d)) + 2.0 * np.eye(d)
    mean = rng.uniform(-3.0, 3.0, (B, d))
    ar = kernels.cholesky_to_ar(J, SIGMA)
    return DiscretizedLinearAR(mean, ar.coeffs, ar.std, bin_width=W), mean, SIGMA**2 * J @ np.swapaxes(J, 1, 2)


def sample_symbols(codec: DiscretizedLinearAR, mean: np.ndarray, cov: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = mean + np.einsum("bij,bj->bi", np.linalg.cholesky(cov), rng.standard_normal(mean.shape))
    return codec.quantize(z)


@pytest.mark.parametrize("num_streams", [1, 3])
def test_push_pop_roundtrip_is_bit_exact(num_streams: int) -> None:
    codec, mean, cov = make_codec(0, 7, 5)
    symbols = sample_symbols(codec, mean, cov, 1)
    msg = Message(num_streams=num_streams, seed=3)
    codec.push(msg, symbols)
    data = msg.to_bytes()
    again = Message(num_streams=num_streams, seed=3)
    codec.push(again, symbols)
    assert again.to_bytes() == data
    decoded = codec.pop(Message.from_bytes(data))
    np.testing.assert_array_equal(decoded, symbols)


def test_bits_back_pop_then_push_restores_the_message() -> None:
    codec, _, _ = make_codec(1, 6, 4)
    msg = Message(num_streams=2, seed=9)
    z = codec.pop(msg)  # decode z ~ N(mean, Sigma) delta_z from initial bits
    codec.push(msg, z)
    assert msg.initial_bits_used() > 0
    assert abs(msg.num_bits() - msg.initial_bits_used()) < 1e-6


def test_decodes_in_a_fresh_process(tmp_path) -> None:
    codec, mean, cov = make_codec(2, 4, 6)
    symbols = sample_symbols(codec, mean, cov, 2)
    msg = Message(num_streams=2, seed=0)
    codec.push(msg, symbols)
    (tmp_path / "msg.bin").write_bytes(msg.to_bytes())
    np.savez(tmp_path / "params.npz", mean=codec._mean, coeffs=codec._coeffs, std=codec._std)
    code = (
        "import sys, numpy as np\n"
        "from dgmlab.coding import DiscretizedLinearAR, Message\n"
        f"p = np.load(r'{tmp_path / 'params.npz'}')\n"
        f"codec = DiscretizedLinearAR(p['mean'], p['coeffs'], p['std'], bin_width={W!r})\n"
        f"out = codec.pop(Message.from_bytes(open(r'{tmp_path / 'msg.bin'}', 'rb').read()))\n"
        f"np.save(r'{tmp_path / 'out.npy'}', out)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), symbols)


def test_codelength_matches_the_joint_gaussian() -> None:
    """Coding through the AR form costs -log2(N(z; mean, Sigma) w^d): the AR model is the joint Gaussian."""
    codec, mean, cov = make_codec(3, 32, 6)
    symbols = sample_symbols(codec, mean, cov, 3)
    msg = Message(num_streams=1, seed=0)
    before = msg.num_bits()
    codec.push(msg, symbols)
    bits = msg.num_bits() - before
    r = symbols * W - mean
    quad = np.einsum("bi,bi->b", r, np.linalg.solve(cov, r[..., None])[..., 0])
    _, logdet = np.linalg.slogdet(2 * np.pi * cov)
    ideal = float(np.sum(0.5 * quad + 0.5 * logdet - 6 * np.log(W)) / np.log(2))
    assert abs(bits - ideal) < 1e-3 * symbols.size + 64  # bucket approximation + the stream's final head


def test_popped_samples_have_the_covariance() -> None:
    rng = np.random.default_rng(4)
    J = rng.standard_normal((1, 3, 3)) + np.eye(3)
    ar = kernels.cholesky_to_ar(J, SIGMA)
    n = 20000
    codec = DiscretizedLinearAR(np.zeros((n, 3)), np.repeat(ar.coeffs, n, 0), np.repeat(ar.std, n, 0), W)
    z = codec.pop(Message(num_streams=4, seed=123)) * W
    target = SIGMA**2 * J[0] @ J[0].T
    # The coder gives every tail bucket a frequency of at least 2^-24, far above the Gaussian's mass out there, so a
    # rare popped symbol lands many standard deviations out; those are counted, then left out of the moments.
    innovations = np.linalg.solve(np.linalg.cholesky(target), z.T).T
    far = np.abs(innovations).max(axis=1) > 8.0
    assert far.sum() <= 1e-3 * n
    z = z[~far]
    se = np.sqrt((np.outer(np.diag(target), np.diag(target)) + target**2) / len(z))
    assert np.all(np.abs(z.T @ z / len(z) - target) < 5 * se)


def test_bad_input_raises() -> None:
    codec, mean, _cov = make_codec(5, 3, 4)
    coeffs, std = codec._coeffs, codec._std
    with pytest.raises(ValueError, match="coeffs: expected shape"):
        DiscretizedLinearAR(mean, coeffs[:, :3], std)
    with pytest.raises(ValueError, match="std: expected shape"):
        DiscretizedLinearAR(mean, coeffs, std[:2])
    with pytest.raises(ValueError, match="mean: expected shape"):
        DiscretizedLinearAR(mean[0], coeffs, std)
    bad_std = std.copy()
    bad_std[1, 2] = 0.0
    with pytest.raises(ValueError, match=r"std\[6\]"):
        DiscretizedLinearAR(mean, coeffs, bad_std).pop(Message())
    bad_coeffs = coeffs.copy()
    bad_coeffs[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match=r"coeffs\[45\]"):
        DiscretizedLinearAR(mean, bad_coeffs, std).push(Message(), np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="symbols"):
        codec.push(Message(), np.full((3, 4), 2**62, dtype=np.int64))
    with pytest.raises(ValueError, match="symbols: expected shape"):
        codec.push(Message(), np.zeros((3, 5), dtype=np.int64))


def test_docstring_examples() -> None:
    assert doctest.testmod(linear_ar_module, raise_on_error=True).attempted > 0
    assert doctest.testmod(kernels, raise_on_error=True).attempted > 0
