"""A message written here decodes in a separate Python process (nothing shared but the bytes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from dgmlab.coding import DiscretizedGaussian, DiscretizedMixtureLogistic, Message


def test_decode_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(11)
    mean, std = rng.normal(size=5000), np.exp(rng.uniform(-14, 0, 5000))
    g = DiscretizedGaussian(mean, std, 2.0**-32, (-(2**41), 2**41))
    xs = g.quantize(rng.normal(mean, std))
    logits, means, log_scales = rng.normal(size=(3, 800, 4))
    means = means * 50 + 128
    m = DiscretizedMixtureLogistic(logits, means, log_scales, 1.0, (0, 255))
    ys = rng.integers(0, 256, 800)
    msg = Message(num_streams=5, seed=3)
    g.push(msg, xs)
    m.push(msg, ys)
    np.savez(tmp_path / "params.npz", mean=mean, std=std, logits=logits, means=means, log_scales=log_scales)
    (tmp_path / "message.bin").write_bytes(msg.to_bytes())
    script = textwrap.dedent(
        f"""
        import numpy as np
        from dgmlab.coding import DiscretizedGaussian, DiscretizedMixtureLogistic, Message
        p = np.load({str(tmp_path / "params.npz")!r})
        msg = Message.from_bytes(open({str(tmp_path / "message.bin")!r}, "rb").read())
        drawn = msg.initial_bits_used()
        ys = DiscretizedMixtureLogistic(p["logits"], p["means"], p["log_scales"], 1.0, (0, 255)).pop(msg)
        xs = DiscretizedGaussian(p["mean"], p["std"], 2.0**-32, (-(2**41), 2**41)).pop(msg)
        assert msg.initial_bits_used() == drawn  # nothing drawn while decoding
        assert abs(msg.num_bits() - drawn) < 1e-6  # back to the five random heads
        np.save({str(tmp_path / "xs.npy")!r}, xs)
        np.save({str(tmp_path / "ys.npy")!r}, ys)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "xs.npy"), xs)
    np.testing.assert_array_equal(np.load(tmp_path / "ys.npy"), ys)
