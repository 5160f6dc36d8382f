"""Every Flow++ layer: exact inverse and log-determinant against autograd Jacobians (float64, tiny inputs), plus
the pieces local bits-back coding uses (elementwise derivatives, 1x1 matrix, coupling split)."""

from __future__ import annotations

import pytest
import torch

from dgmlab.flows.couplings import Coupling
from dgmlab.flows.layers import ActNorm, ChannelSplit, CheckerboardSplit, InvConv1x1, Logit, Sigmoid, Squeeze
from dgmlab.flows.mixlogistic import mixlogistic_inverse, mixlogistic_inverse_reference, mixlogistic_logit_cdf
from dgmlab.flows.nets import WNConv2d

SHAPE = (2, 2, 4, 4)


@pytest.fixture(autouse=True)
def _float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _initialised(layer: torch.nn.Module, *inputs: torch.Tensor) -> torch.nn.Module:
    """Data-dependent init on ``inputs``, then perturb all parameters so nothing is trivially the identity."""
    layer(*inputs)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return layer


def _layers() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    small = {"filters": 8, "blocks": 1, "components": 3, "heads": 4}
    return {
        "actnorm-channel": ActNorm(2),
        "actnorm-element": ActNorm(2, 4, per_element=True),
        "inv1x1": InvConv1x1(2),
        "squeeze": Squeeze(),
        "sigmoid": Sigmoid(),
        "checker-mixture": Coupling(2, "checkerboard", 0, "mixture", **small),
        "checker-mixture-odd": Coupling(2, "checkerboard", 1, "mixture", attention=False, **small),
        "channel-mixture": Coupling(2, "channel", 1, "mixture", **small),
        "checker-affine": Coupling(2, "checkerboard", 1, "affine", **small),
        "channel-affine": Coupling(2, "channel", 0, "affine", **small),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_inverse_and_logdet_match_autograd(name: str) -> None:
    layer = _layers()[name]
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    layer = _initialised(layer, x)
    y, logdet = layer(x)
    assert torch.allclose(layer.inverse(y), x, atol=1e-9), name
    jac = torch.autograd.functional.jacobian(lambda v: layer(v)[0].flatten(), x[:1], vectorize=True)
    expected = torch.linalg.slogdet(jac.reshape(x[0].numel(), -1))[1]
    assert torch.allclose(logdet[0], expected, atol=1e-8), (name, float(logdet[0]), float(expected))


def test_logit_preprocessing_inverse_and_derivative() -> None:
    layer = Logit()
    x = torch.rand(SHAPE) * 256
    y, logdet = layer(x)
    assert torch.allclose(layer.inverse(y), x, atol=1e-9)
    eps = 1e-6
    numeric = (layer(x + eps)[0] - layer(x - eps)[0]) / (2 * eps)
    assert torch.allclose(layer.log_derivative(x), torch.log(numeric), atol=1e-5)
    assert torch.allclose(logdet, layer.log_derivative(x).flatten(1).sum(1))


@pytest.mark.parametrize("make", [lambda: ActNorm(2), Sigmoid])
def test_elementwise_log_derivative_is_the_jacobian_diagonal(make) -> None:
    layer, x = make(), torch.randn(1, *SHAPE[1:])
    layer(x)
    jac = torch.autograd.functional.jacobian(lambda v: layer(v)[0], x).reshape(x.numel(), x.numel())
    assert torch.allclose(jac, torch.diag(torch.diagonal(jac)))
    assert torch.allclose(layer.log_derivative(x).flatten(), torch.log(torch.diagonal(jac).abs()))


def test_inv1x1_matrix_is_the_per_pixel_jacobian_block() -> None:
    layer = InvConv1x1(4)
    x = torch.randn(1, 4, 2, 2)
    jac = torch.autograd.functional.jacobian(lambda v: layer(v)[0], x).reshape(4, 4, 4, 4)  # (c, hw, c', hw')
    for p in range(4):
        assert torch.allclose(jac[:, p, :, p], layer.matrix())


@pytest.mark.parametrize("split", ["checkerboard", "channel"])
def test_coupling_split_elementwise_protocol(split: str) -> None:
    layer = _initialised(
        Coupling(2, split, 0, "mixture", filters=8, blocks=1, components=3), torch.randn(SHAPE)
    )
    x = torch.randn(SHAPE)
    x1, x2 = layer.split(x)
    assert torch.equal(layer.merge(x1, x2), x)
    y2, log_d = layer.elementwise(x2, x1)
    y = layer(x)[0]
    y1_again, y2_again = layer.split(y)
    assert torch.equal(y1_again, x1) and torch.allclose(y2_again, y2)
    jac = torch.autograd.functional.jacobian(lambda v: layer.elementwise(v, x1)[0], x2)
    diag = torch.diagonal(jac.reshape(x2.numel(), x2.numel()))
    assert torch.allclose(log_d.flatten(), torch.log(diag))
    assert torch.allclose(layer.elementwise_inverse(y2, x1), x2, atol=1e-9)


def test_coupling_with_context_is_invertible() -> None:
    layer = Coupling(2, "checkerboard", 1, "mixture", filters=8, blocks=1, components=3, context_channels=5)
    x, ctx = torch.randn(SHAPE), torch.randn(2, 5, 4, 4)
    layer = _initialised(layer, x, ctx)
    y, _ = layer(x, ctx)
    assert torch.allclose(layer.inverse(y, ctx), x, atol=1e-9)


def test_checkerboard_split_pattern() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    a, b = CheckerboardSplit(0).split(x)
    assert a.flatten().tolist() == [0, 2, 5, 7, 8, 10, 13, 15]
    assert b.flatten().tolist() == [1, 3, 4, 6, 9, 11, 12, 14]
    assert torch.equal(CheckerboardSplit(1).split(x)[0], b)
    c = torch.arange(4.0).view(1, 4, 1, 1)
    first, second = ChannelSplit(1).split(c)
    assert first.flatten().tolist() == [2, 3] and torch.equal(ChannelSplit(1).merge(first, second), c)


@pytest.mark.parametrize("inverse", [mixlogistic_inverse, mixlogistic_inverse_reference])
def test_mixlogistic_inverse_reaches_the_tolerance(inverse) -> None:
    gen = torch.Generator().manual_seed(3)
    n, k = 2000, 5
    logits, means = torch.randn(n, k, generator=gen) * 3, torch.randn(n, k, generator=gen) * 5
    log_scales = torch.rand(n, k, generator=gen) * 6 - 5
    # x drawn from the mixture itself (component 0 at random), as in sampling and decoding
    x = means[:, 0] + torch.exp(log_scales[:, 0]) * torch.randn(n, generator=gen) * 2
    y, log_d = mixlogistic_logit_cdf(x, logits, means, log_scales)
    x_back = inverse(y, logits, means, log_scales)
    scale = torch.exp(log_scales.min(dim=-1).values)
    # Within 2^-32 of the scale, except where the logit-CDF is so flat (a gap between components) that float64
    # cannot tell the points apart: there the error maps back to a y-error at float64 resolution.
    y_resolution = 1e-13 * (1 + y.abs())
    err = (x_back - x).abs()
    assert torch.all(err <= 2.0**-32 * scale + y_resolution / torch.exp(log_d)), float(err.max())
    assert (err <= 2.0**-32 * scale).float().mean() > 0.99
    y_back, _ = mixlogistic_logit_cdf(x_back, logits, means, log_scales)
    assert torch.allclose(y_back, y, rtol=0, atol=1e-9)
    assert x_back.dtype == y.dtype


@pytest.mark.parametrize("inverse", [mixlogistic_inverse, mixlogistic_inverse_reference])
def test_mixlogistic_inverse_rejects_mismatched_shapes(inverse) -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        inverse(torch.zeros(3), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 3))


def test_native_mixlogistic_inverse_matches_the_reference_and_broadcasts() -> None:
    gen = torch.Generator().manual_seed(5)
    logits, means, log_scales = (torch.randn(4, 6, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    y = torch.randn(4, 6, generator=gen, dtype=torch.float64) * 4
    fast = mixlogistic_inverse(y, logits, means, log_scales)
    ref = mixlogistic_inverse_reference(y, logits, means, log_scales)
    assert fast.shape == y.shape and fast.dtype == torch.float64
    assert torch.allclose(fast, ref, rtol=0, atol=1e-10)
    shared = mixlogistic_inverse(torch.tensor(0.5, dtype=torch.float64), logits, means, log_scales)
    assert torch.equal(shared, mixlogistic_inverse(torch.full((4, 6), 0.5, dtype=torch.float64), logits, means,
                                                   log_scales))


def test_data_dependent_init_normalises_the_first_batch() -> None:
    x = torch.randn(64, 3, 5, 5) * 4 + 2
    y, _ = ActNorm(3)(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-9)
    assert torch.allclose(y.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-6)
    conv = WNConv2d(3, 6, 3, init_scale=0.5)
    out = conv(x)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(6), atol=1e-9)
    assert torch.allclose(out.std(dim=(0, 2, 3)), torch.full((6,), 0.5), atol=1e-6)
    again = conv(x * 3)  # initialisation happens once
    assert not torch.allclose(again.std(dim=(0, 2, 3)), torch.full((6,), 0.5), atol=1e-2)


def _train_steps(coupling: Coupling, steps: int = 5) -> None:
    x = torch.randn(8, 2, 4, 4, generator=torch.Generator().manual_seed(2)) * torch.tensor([0.5, 2.0]).view(1, 2, 1, 1)
    opt = torch.optim.Adam(coupling.parameters(), lr=1e-2)
    for _ in range(steps):
        y, logdet = coupling(x)
        loss = (0.5 * y.pow(2).flatten(1).sum(1) - logdet).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_mixture_components_start_distinct_and_separate_under_training() -> None:
    """Equal components get equal gradients forever: a zero-initialised output left the mixture one logistic."""
    torch.manual_seed(0)
    coupling = Coupling(2, "checkerboard", 0, components=4, filters=8, blocks=1, attention=False)
    assert not coupling.components_identical()
    with torch.no_grad():  # the state of weights trained before the fix
        coupling.net.out.bias.zero_()
    assert coupling.components_identical()
    _train_steps(coupling)
    assert coupling.components_identical(), "symmetric components must stay symmetric (the failure mode)"
    coupling.spread_means()
    _train_steps(coupling)
    weight, _ = coupling._mixture_rows()
    k = coupling.components
    for i in range(3):  # logits, means and log-scales now depend on the input differently per component
        block = weight[:, 2 + i * k : 2 + (i + 1) * k]
        assert not torch.equal(block, block[:, :1].expand_as(block))
