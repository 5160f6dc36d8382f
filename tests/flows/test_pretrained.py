"""The bundled models load without running code, in eval mode, with their description and measured figures."""

from __future__ import annotations

import pytest
import torch

from dgmlab.flows import pretrained
from dgmlab.flows.pretrained import BUNDLED, ROOT, model_path


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_model_loads_and_scores(name: str) -> None:
    if not (ROOT / f"{BUNDLED[name]}.pt").is_file():
        pytest.fail(f"bundled model {name} is missing from {ROOT}")
    model = pretrained(name)
    assert not model.training
    meta = model.meta
    assert {"config", "train", "command", "hardware", "heldout_sources", "heldout"} <= set(meta)
    assert meta["heldout"]["model_bpd"]["bpd_elbo"] > 0 and meta["heldout"]["codecs_bpd"]
    assert (ROOT / f"{BUNDLED[name]}.pt").stat().st_size < 8e6
    x = torch.randint(0, 256, (1, 3, 16, 16), generator=torch.Generator().manual_seed(0)).float()
    with torch.no_grad():
        bpd = model.bits_per_dim(x, torch.Generator().manual_seed(0))
    assert torch.isfinite(bpd).all()


def test_unknown_bundled_name() -> None:
    with pytest.raises(ValueError, match="unknown bundled model"):
        pretrained("cifar")


def test_model_spec_that_is_neither_bundled_nor_a_checkpoint(tmp_path) -> None:
    lone = tmp_path / "model.pt"
    lone.write_bytes(b"")  # no model.json beside it
    for spec in (str(tmp_path / "missing.pt"), str(lone)):
        with pytest.raises(ValueError, match=r"expected a bundled name \(car-racing, natural\) or a checkpoint"):
            model_path(spec)
    assert model_path("natural") == ROOT / "natural.pt"
