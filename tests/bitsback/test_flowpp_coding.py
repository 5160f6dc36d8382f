"""Flow++ through local bits-back: Algorithm 3.4 over the compositional codec on a tiny model, against the model's
own variational bound (Eq. 3.44); the black-box Algorithm 3.1 on the same flow; decode in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from dgmlab.coding import Message
from dgmlab.coding.local_bitsback import net_bits
from dgmlab.flows.local_coding import FlowPlusPlusCoder
from dgmlab.flows.model import FlowPlusPlus, named_config


def _model(size: int = 8, **overrides) -> FlowPlusPlus:
    torch.manual_seed(0)
    model = FlowPlusPlus(named_config("tiny", image_size=size, **overrides))
    model.initialize(torch.randint(0, 256, (8, 3, size, size)).float())
    # give the couplings' zero-initialised output convolutions some weight so every layer does something
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("out.weight"):
                p.normal_(0.0, 0.02)
    return model.eval()


def _images(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, (shape[0], shape[1], 1, 1))
    return np.clip(base + rng.integers(-20, 21, shape), 0, 255)


@pytest.mark.parametrize("dequantization", ["variational", "uniform"])
def test_dequantized_roundtrip_matches_bound(dequantization):
    model = _model(dequantization=dequantization)
    x = _images((4, 3, 8, 8))  # 768 dims: enough for 0.01 bits/dim to dominate single-sample noise
    coder = FlowPlusPlusCoder(model, x.shape)
    codec = coder.codec()
    msg = Message(num_streams=4, seed=3)
    # the noise ū the encoder will draw: the dequantizer's pop from the same message state
    u = coder.dequantizer(x.astype(np.float64)).pop(msg.copy())
    codec.push(msg, x)
    bound = coder.theoretical_bits(x, u).sum()
    assert abs(net_bits(msg) - bound) / x.size < 0.01, (net_bits(msg) / x.size, bound / x.size)
    decoded = Message.from_bytes(msg.to_bytes())
    assert np.array_equal(codec.pop(decoded), x)
    assert abs(net_bits(decoded)) < 1e-6


def test_blackbox_and_compositional_agree():
    model = _model(size=4)
    coder = FlowPlusPlusCoder(model, (1, 3, 4, 4))
    xbar = coder.flow.quantize(_images((1, 3, 4, 4), 1) + np.random.default_rng(2).uniform(0, 1, (1, 3, 4, 4)))
    bits = []
    for codec in (coder.flow, coder.blackbox_codec()):
        msg = Message(num_streams=2, seed=1)
        codec.push(msg, xbar)
        bits.append(net_bits(msg))
        assert np.array_equal(codec.pop(Message.from_bytes(msg.to_bytes())), xbar)
    assert abs(bits[0] - bits[1]) < 3.0


def test_decode_in_a_fresh_process(tmp_path):
    model = _model()
    model.save(tmp_path / "model.pt")
    x = _images((2, 3, 8, 8), 5)
    msg = Message(num_streams=2, seed=7)
    FlowPlusPlusCoder(model, x.shape).codec().push(msg, x)
    (tmp_path / "msg.bin").write_bytes(msg.to_bytes())
    script = textwrap.dedent(f"""
        import numpy as np, torch
        from dgmlab.coding import Message
        from dgmlab.flows.local_coding import FlowPlusPlusCoder
        from dgmlab.flows.model import load_model
        model, _ = load_model({str(tmp_path / "model.pt")!r})
        msg = Message.from_bytes(open({str(tmp_path / "msg.bin")!r}, "rb").read())
        np.save({str(tmp_path / "x.npy")!r}, FlowPlusPlusCoder(model, (2, 3, 8, 8)).codec().pop(msg))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "x.npy"), x)


@pytest.mark.parametrize(("device", "message"), [("tpu", "expected 'cpu'"), ("nonsense!", "expected 'cpu'"),
                                                 ("meta", "expected 'cpu'")])
def test_rejects_bad_devices(device, message):
    with pytest.raises(ValueError, match=message):
        FlowPlusPlusCoder(_model(), (1, 3, 8, 8), device=device)


def test_cuda_device_needs_a_visible_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device"):
        FlowPlusPlusCoder(_model(), (1, 3, 8, 8), device="cuda")


def test_rejects_out_of_range_pixels():
    coder = FlowPlusPlusCoder(_model(), (1, 3, 8, 8))
    with pytest.raises(ValueError, match="values in"):
        coder.codec().push(Message(), np.full((1, 3, 8, 8), 256))


def test_fused_pixel_blocks_match_autograd_and_roundtrip():
    """Runs of actnorm + 1x1 conv coded as one block layer: per-pixel blocks equal autograd's, both codes lossless."""
    from dgmlab.flows.local_coding import _PixelChain

    model = _model()
    x = _images((2, 3, 8, 8), 3)
    fused = FlowPlusPlusCoder(model, x.shape, fuse=True)
    chains = [layer for layer in fused.flow.layers if isinstance(layer, _PixelChain)]
    assert chains and len(fused.flow.layers) < len(FlowPlusPlusCoder(model, x.shape, fuse=False).flow.layers)
    h = np.random.default_rng(0).normal(size=(1, 3, 8, 8))

    def f(t: torch.Tensor) -> torch.Tensor:
        for layer in chains[0].layers:  # the model's own torch layers (actnorm, 1x1 conv), in float64
            t = layer.layer(t)[0]
        return t

    J = torch.autograd.functional.jacobian(f, torch.from_numpy(h))
    J = J.reshape(3, 8, 8, 3, 8, 8)
    blocks = chains[0].jacobian_blocks(h)[0]
    for i, j in [(0, 0), (3, 5), (7, 7)]:
        np.testing.assert_allclose(blocks[i, j], J[:, i, j, :, i, j].numpy(), rtol=1e-10, atol=1e-12)
    bits = []
    for fuse in (True, False):
        coder = FlowPlusPlusCoder(model, x.shape, fuse=fuse)
        msg = Message(num_streams=2, seed=4)
        coder.codec().push(msg, x)
        bits.append(net_bits(msg))
        assert np.array_equal(coder.codec().pop(Message.from_bytes(msg.to_bytes())), x)
    assert abs(bits[0] - bits[1]) / x.size < 0.01
