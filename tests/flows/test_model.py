"""Flow++ model: invertibility, the variational bound against the true likelihood, sampling, save/load, configs."""

from __future__ import annotations

import math

import pytest
import torch

from dgmlab.flows import FlowConfig, FlowPlusPlus, load_model, named_config


def _model(**overrides) -> FlowPlusPlus:
    torch.manual_seed(0)
    model = FlowPlusPlus(named_config("tiny", **overrides))
    model.initialize(torch.randint(0, 256, (16, 3, 8, 8), generator=torch.Generator().manual_seed(1)).float())
    return model.eval()


def test_model_inverts_dequantized_images() -> None:
    model = _model().double()
    x = torch.randint(0, 256, (4, 3, 8, 8)).double() + torch.rand(4, 3, 8, 8, dtype=torch.float64)
    z, _ = model(x)
    assert torch.allclose(model.inverse(z), x, atol=1e-7)


def test_variational_dequantizer_inverts_and_scores_its_samples() -> None:
    model = _model().double()
    x = torch.randint(0, 256, (3, 3, 8, 8)).double()
    u, log_q = model.dequantizer(x)
    assert torch.all((u > 0) & (u < 1))
    assert torch.allclose(model.dequantizer.log_prob(u, x), log_q, atol=1e-6)


def test_variational_bound_is_below_the_true_likelihood() -> None:
    """On a 4-dimensional model, log P(x) = log E_uniform[p(x + u)] by brute-force Monte Carlo (2^16 samples)
    upper-bounds the variational bound E_q[log p(x+u) - log q(u|x)] and the importance-weighted estimate lies in
    between (Burda et al.)."""
    torch.manual_seed(0)
    cfg = FlowConfig(
        image_size=2,
        channels=1,
        architecture=("checkerboard:2",),
        filters=4,
        blocks=1,
        components=3,
        dequant_couplings=2,
        dequant_filters=4,
        dequant_blocks=1,
        actnorm="channel",
    )
    model = FlowPlusPlus(cfg).double()
    x = torch.tensor([[[[10.0, 200.0], [37.0, 128.0]]]], dtype=torch.float64)
    model.initialize(x.repeat(8, 1, 1, 1) + torch.randint(-5, 6, (8, 1, 2, 2)))
    with torch.no_grad():
        for p in model.dequantizer.parameters():
            p.add_(0.2 * torch.randn_like(p))
        n = 2**16
        log_px = torch.logsumexp(
            model.log_prob(x + torch.rand(n, 1, 2, 2, dtype=torch.float64)), 0
        ) - math.log(n)
        elbos = torch.cat([model.elbo(x.expand(4096, -1, -1, -1)) for _ in range(4)])
        elbo = elbos.mean()
        iw = (torch.logsumexp(elbos.view(-1, 64), dim=1) - math.log(64)).mean()
    assert float(elbo) < float(log_px) + 1e-3, (float(elbo), float(log_px))
    assert float(elbo) < float(iw) < float(log_px) + 0.02


def test_uniform_dequantization_gives_zero_log_q() -> None:
    model = _model(dequantization="uniform")
    u, log_q = model.dequantizer(torch.zeros(2, 3, 8, 8))
    assert torch.all((u >= 0) & (u < 1)) and torch.equal(log_q, torch.zeros(2))


def test_sample_shapes_and_range() -> None:
    samples = _model().sample(3, size=16, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 3, 16, 16) and samples.dtype == torch.uint8
    with pytest.raises(ValueError, match="divisible by 4"):
        _model().sample(1, size=6)


def test_save_and_load_roundtrip(tmp_path) -> None:
    model = _model(coupling="affine")
    model.save(tmp_path / "m.pt", {"note": "x"})
    loaded, meta = load_model(tmp_path / "m.pt")
    assert meta["note"] == "x" and loaded.config == model.config
    x = torch.randint(0, 256, (2, 3, 8, 8)).float() + 0.5
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))
    with pytest.raises(FileNotFoundError, match="needs both"):
        load_model(tmp_path / "missing.pt")


def test_cifar10_config_matches_the_thesis_scale() -> None:
    cfg = named_config("cifar10")
    assert cfg.architecture == ("checkerboard:4", "squeeze", "channel:2", "checkerboard:3")
    assert (cfg.filters, cfg.blocks, cfg.components, cfg.heads) == (96, 10, 32, 4)
    params = sum(p.numel() for p in FlowPlusPlus(cfg).parameters())
    assert 28e6 < params < 36e6  # Table 3.2: 31.4M


def test_bad_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match="coupling"):
        named_config("tiny", coupling="spline")
    with pytest.raises(ValueError, match="architecture"):
        FlowConfig(architecture=("checker:2",))
    with pytest.raises(ValueError, match="unknown config"):
        named_config("huge")
    with pytest.raises(ValueError, match="unknown FlowConfig fields"):
        FlowConfig.from_json({"filterz": 3})
