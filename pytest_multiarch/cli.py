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
    args = parser.parse_args(argv)

    try:
        arches = archmod.parse_list(args.arch) if args.arch else list(archmod.ARCHES)
    except archmod.ArchError as exc:
        parser.error(str(exc))
    results = {a: doctor.diagnose(a, args.arch_executor) for a in arches}
    print(doctor.render(results))
    cannot = [a.name for a, checks in results.items() if not all(c.ok for c in checks)]
    if cannot:
        print(f"\nnot ready: {', '.join(cannot)}", file=sys.stderr)
        return 1
    return 0
