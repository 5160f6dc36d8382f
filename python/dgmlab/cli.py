"""The ``dgmlab`` command.

Each subsystem owns a small ``cli`` module with ``register(subparsers)`` that adds its commands and sets
``func`` on each parser; heavy imports (torch, gymnasium) happen inside the handlers, so ``dgmlab --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute commands, in the order they appear in ``dgmlab --help``.
_COMMAND_MODULES: tuple[str, ...] = (
    "dgmlab.coding.cli",
    "dgmlab.flows.cli",
    "dgmlab.flows.compress_cli",
    "dgmlab.imitation.cli",
    "dgmlab.world_models.cli",
    "dgmlab.pico.cli",
)


def build_parser() -> argparse.ArgumentParser:
    from dgmlab import __version__

    parser = argparse.ArgumentParser(prog="dgmlab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dgmlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="show how the native core was built")
    info.set_defaults(func=_info)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _info(args: argparse.Namespace) -> int:
    import dgmlab

    for key, value in dgmlab.build_info().items():
        print(f"{key}: {value}")
    print(f"include_dir: {dgmlab.include_dir()}")
    print(f"cmake_dir: {dgmlab.cmake_dir()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
