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


_PRIO = (True, False, True, True, True, False)  # 4 informative blocks of 6


def test_priority_masks_are_coded_among_the_allowed_subsets_only():
    rng = np.random.default_rng(1)
    n = 4000
    for k, allowed in ((3, comb(4, 3)), (5, comb(2, 1))):  # k fits the informative blocks / all of them + 1 more
        mask = random_mask(n, 6, np.full(n, k), rng, np.array(_PRIO))
        code = LatentCode(1, 1e9, k / 6, _PRIO)
        data = encode(np.zeros((n, 6)), mask, code)
        out = decode(data)
        assert np.array_equal(out.mask, mask) and read_header(data)[0] == code
        per_obs = 8 * len(data) / n
        assert log2(allowed) <= per_obs <= log2(allowed) + 0.2 < log2(comb(6, k))
    free = random_mask(10, 6, np.full(10, 3), rng)
    assert encode(np.zeros((10, 6)), free, LatentCode(1, 0.25, 0.5, (True,) * 6)) == encode(
        np.zeros((10, 6)), free, LatentCode(1, 0.25, 0.5))                 # all informative: the plain code
    bad = np.zeros((1, 6), bool)
    bad[0, [0, 1, 2]] = True                                                # keeps block 1 before block 3
    with pytest.raises(ValueError, match="priority"):
        encode(np.zeros((1, 6)), bad, LatentCode(1, 0.25, 0.5, _PRIO))


@pytest.mark.parametrize("priority", [None, (False, True, True, True, True, True, True, True, True, False)])
def test_digits_decode_in_a_fresh_process_reproduces_x_hat_exactly(tmp_path, priority):
    cfg = DigitsConfig(vae_epochs=2, classifier_epochs=2)
    vae, clf = train_digits_models(tmp_path / "models", cfg)
    x = load_digits_split()[2][:50]
    domain = digits_domain(x, vae, clf)
    rng = np.random.default_rng(0)
    k = budget_to_k(0.85, domain.num_blocks, rng, 50)  # 8 or 9 of 10: above the 8 informative ones too
    mask = random_mask(50, domain.num_blocks, k, rng, None if priority is None else np.array(priority))
    code = LatentCode(1, 0.2, 0.85, priority)
    _, z = evaluate_masks(domain, mask, code)
    (tmp_path / "x.pico").write_bytes(encode(domain.latents, mask, code))
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
