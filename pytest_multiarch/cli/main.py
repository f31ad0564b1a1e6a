"""Command line: ``python -m pytest_multiarch doctor|setup|binfmt|merge|exec|shims|remote``, one module
per command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_multiarch.cli import binfmt as binfmt_cli
from pytest_multiarch.cli import doctor
from pytest_multiarch.cli import exec as exec_cli
from pytest_multiarch.cli import merge as merge_cli
from pytest_multiarch.cli import remote as remote_cli
from pytest_multiarch.cli import setup as setup_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=_prog())
    sub = parser.add_subparsers(dest="command", required=True)
    doctor.add_parser(sub)
    setup_cli.add_parser(sub)
    binfmt_cli.add_parser(sub)
    merge_cli.add_parser(sub)
    exec_cli.add_parser(sub)
    remote_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "exec":
        return exec_cli.run(args)
    if args.command == "shims":
        return exec_cli.write_shims(args)
    if args.command == "binfmt":
        return binfmt_cli.run(args, parser)
    if args.command == "merge":
        return merge_cli.run(args)
    if args.command == "remote":
        return remote_cli.run(args, parser)
    if args.command == "setup":
        return setup_cli.run(args, parser)
    return doctor.run(args, parser)


def _prog() -> str:
    """The name usage lines give: the console script's when run as it, else ``python -m``'s."""
    console_script = Path(sys.argv[0]).name == "pytest-multiarch"
    return "pytest-multiarch" if console_script else "python -m pytest_multiarch"
