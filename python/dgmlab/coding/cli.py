"""``dgmlab coder ...`` commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    coder = sub.add_parser("coder", help="the native rANS coder")
    coder_sub = coder.add_subparsers(dest="coder_command", metavar="COMMAND")
    demo = coder_sub.add_parser("demo", help="compress a bundled photo losslessly with a simple model")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from dgmlab.coding.demo import run_demo

    return run_demo()
