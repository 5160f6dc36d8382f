"""The installed package: build information, the extension's stub, the C++ package, the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dgmlab
from dgmlab import _native

CPP_DIR = Path(__file__).parent / "cpp"


def test_build_info():
    info = dgmlab.build_info()
    assert info["version"] == dgmlab.__version__ == _native.__version__
    assert {"openmp", "omp_max_threads", "cuda", "cuda_architectures", "compiler"} <= info.keys()
    assert isinstance(info["openmp"], bool) and info["omp_max_threads"] >= 1


def test_stub_lists_what_the_extension_exports():
    stub = Path(dgmlab.__file__).parent / "_native.pyi"
    declared = {line.split("(")[0].split(":")[0].split()[1] for line in stub.read_text().splitlines()
                if line.startswith(("def ", "class "))}
    exported = {name for name in dir(_native) if not name.startswith("_")}
    assert declared == exported


def test_headers_and_cmake_package_are_installed():
    assert (Path(dgmlab.include_dir()) / "dgmlab" / "rans.hpp").is_file()
    assert (Path(dgmlab.cmake_dir()) / "dgmlabConfig.cmake").is_file()


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("c++") is None, reason="needs cmake and a C++ compiler")
def test_cpp_program_builds_against_the_installed_package(tmp_path):
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(CPP_DIR), "-B", str(build), f"-Ddgmlab_DIR={dgmlab.cmake_dir()}",
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True, timeout=300)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, timeout=300)
    out = subprocess.run([str(build / "roundtrip")], check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("ok ")


def test_cli_info_and_coder_demo():
    info = subprocess.run([sys.executable, "-m", "dgmlab", "info"], check=True, capture_output=True, text=True)
    assert "openmp:" in info.stdout and "cmake_dir:" in info.stdout
    demo = subprocess.run([sys.executable, "-m", "dgmlab", "coder", "demo"], check=True, capture_output=True,
                          text=True, timeout=300)
    assert "bit-identical" in demo.stdout and "bits/subpixel" in demo.stdout


def test_import_dgmlab_stays_light():
    code = "import sys, dgmlab, dgmlab.coding; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_cli_loads_without_the_rl_extra(tmp_path):
    """`pip install .` has no gymnasium: every command module must load without it (handlers import it lazily)."""
    blocker = tmp_path / "gymnasium.py"
    blocker.write_text("raise ModuleNotFoundError(\"No module named 'gymnasium'\")\n")
    code = "from dgmlab.cli import build_parser; build_parser()"
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env, timeout=120)
