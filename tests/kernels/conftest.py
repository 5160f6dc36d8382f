"""Fixtures for the kernel tests: the pure-PyTorch reference module kept beside them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def load_reference() -> ModuleType:
    """tests/kernels/reference.py as a module (tests run with --import-mode=importlib, so it is not on sys.path)."""
    spec = importlib.util.spec_from_file_location("dgmlab_kernels_reference", Path(__file__).with_name("reference.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    return load_reference()
