"""What the commands share: the --arch argument, parsed with the architecture registry."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pytest_multiarch import arch as archmod


def arch_args(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        help=f"architectures (comma list, repeatable; default: {default})",
    )


def parse_arches(parser: argparse.ArgumentParser, values: Sequence[str]) -> list[archmod.Arch]:
    try:
        return archmod.parse_list(values)
    except archmod.ArchError as exc:
        parser.error(str(exc))
