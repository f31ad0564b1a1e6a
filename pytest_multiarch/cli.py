"""Command line: ``python -m pytest_multiarch doctor [--arch LIST] [--arch-executor NAME]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import arch as archmod
from . import doctor
from .executors import EXECUTOR_CHOICES


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_multiarch")
    sub = parser.add_subparsers(dest="command", required=True)
    doc = sub.add_parser("doctor", help="what each architecture needs and has, and the fix for each gap")
    doc.add_argument(
        "--arch",
        action="append",
        default=[],
        help="architectures to check (comma list, repeatable; default: all known)",
    )
    doc.add_argument("--arch-executor", default="auto", choices=EXECUTOR_CHOICES)
    doc.add_argument("--cargo", default=None, help="the cargo to check (default: $CARGO, then PATH)")
    args = parser.parse_args(argv)

    try:
        arches = archmod.parse_list(args.arch) if args.arch else list(archmod.ARCHES)
    except archmod.ArchError as exc:
        parser.error(str(exc))
    results = {a: doctor.diagnose(a, args.arch_executor, args.cargo) for a in arches}
    print(doctor.render(results))
    # Non-zero when a requested architecture cannot run at all; a missing language toolchain
    # for one arch is reported above (with its fix) but only skips that language's tests.
    cannot = [a.name for a, checks in results.items() if not checks[0].ok]
    if cannot:
        print(f"\ncannot run: {', '.join(cannot)}", file=sys.stderr)
        return 1
    return 0
