"""``dgmlab --help`` must not import torch: ``dgmlab.flows`` exports its model names lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_cli_parser_and_flows_package_do_not_import_torch() -> None:
    code = (
        "import sys; from dgmlab.cli import build_parser; build_parser(); import dgmlab.flows; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_lazy_exports_resolve_and_unknown_names_fail() -> None:
    from dgmlab import flows
    from dgmlab.flows.model import FlowPlusPlus

    assert flows.FlowPlusPlus is FlowPlusPlus
    assert set(flows.__all__) == {*flows._EXPORTS, "pretrained"}
    assert all(getattr(flows, name) is not None for name in flows.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Glow'"):
        flows.Glow  # noqa: B018
