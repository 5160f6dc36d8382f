"""PICO's bitstream: reported bits are the bytes written, decoding reproduces x_hat exactly (in a fresh process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from math import comb, log2

import numpy as np
import pytest

from dgmlab.pico.bitstream import LatentCode, decode, encode, read_header, subset_rank, subset_unrank
from dgmlab.pico.digits import (
    DigitsConfig,
    digits_domain,
    load_digits_split,
    reconstruct,
    train_digits_models,
)
from dgmlab.pico.evaluate import evaluate_masks
from dgmlab.pico.masking import budget_to_k, random_mask


def test_enumerative_mask_code_is_a_bijection():
    for k in range(6):
        ranks = set()
        for rank in range(comb(5, k)):
            row = subset_unrank(rank, k, 5)
            assert row.sum() == k and subset_rank(row) == rank
            ranks.add(rank)
        assert len(ranks) == comb(5, k)


def test_mask_costs_log2_binomial_bits():
    rng = np.random.default_rng(0)
    n, blocks = 4000, 8
    mask = random_mask(n, blocks, np.full(n, 3), rng)
    with_values = encode(np.zeros((n, 8)), mask, LatentCode(1, 1e9, 3 / 8))  # huge step: values cost ~0 bits
    per_obs = 8 * len(with_values) / n
    assert log2(comb(8, 3)) <= per_obs <= log2(comb(8, 3)) + 0.2  # k itself is free: rho K = 3 exactly


def test_bits_equal_bytes_written_and_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(200, 32))
    k = budget_to_k(0.3, 8, rng, 200)
    mask = random_mask(200, 8, k, rng)
    code = LatentCode(4, 0.1, 0.3)
    data = encode(z, mask, code)
    (tmp_path / "z.pico").write_bytes(data)
    assert (tmp_path / "z.pico").stat().st_size * 8 == 8 * len(data)
    out = decode((tmp_path / "z.pico").read_bytes())
    assert np.array_equal(out.mask, mask)
    keep = np.repeat(mask, 4, axis=1)
    assert np.all(np.isnan(out.values[~keep]))
    assert np.abs(out.values[keep] - z[keep]).max() <= 0.05 + 1e-12
    assert read_header(data)[0] == code


def test_mismatched_sizes_and_foreign_bytes_are_clear_errors():
    with pytest.raises(ValueError, match="block_size"):
        encode(np.zeros((3, 10)), np.zeros((3, 4), bool), LatentCode(4))
    with pytest.raises(ValueError, match="same N"):
        encode(np.zeros((3, 8)), np.zeros((2, 2), bool), LatentCode(4))
    with pytest.raises(ValueError, match="boolean mask"):
        encode(np.zeros((3, 8)), np.zeros((3, 2)), LatentCode(4))
    with pytest.raises(ValueError, match="step"):
        LatentCode(4, step=0.0)
    with pytest.raises(ValueError, match="not a PICO bitstream"):
        decode(b"JPEG" + bytes(40))


def test_digits_decode_in_a_fresh_process_reproduces_x_hat_exactly(tmp_path):
    cfg = DigitsConfig(vae_epochs=2, classifier_epochs=2)
    vae, clf = train_digits_models(tmp_path / "models", cfg)
    x = load_digits_split()[2][:50]
    domain = digits_domain(x, vae, clf)
    rng = np.random.default_rng(0)
    mask = random_mask(50, domain.num_blocks, budget_to_k(0.4, domain.num_blocks, rng, 50), rng)
    _, z = evaluate_masks(domain, mask, LatentCode(1, 0.2, 0.4))
    (tmp_path / "x.pico").write_bytes(encode(domain.latents, mask, LatentCode(1, 0.2, 0.4)))
    np.save(tmp_path / "xhat.npy", reconstruct(vae, z))
    script = textwrap.dedent(f"""
        import numpy as np
        from dgmlab.pico.bitstream import decode
        from dgmlab.pico.digits import load_digits_models, reconstruct, FILL_SEED
        from dgmlab.pico.domain import prior_fill
        vae, _ = load_digits_models({str(tmp_path / "models")!r})
        out = decode(open({str(tmp_path / "x.pico")!r}, "rb").read())
        np.save({str(tmp_path / "decoded.npy")!r}, reconstruct(vae, prior_fill(FILL_SEED)(out.values)))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "decoded.npy"), np.load(tmp_path / "xhat.npy"))
