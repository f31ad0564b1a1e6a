"""``--binfmt-install``: handlers for one session, taken back at its end."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from . import binfmt
from .arch import Arch
from .executors.native import runs_natively


def install(arches: Sequence[Arch]) -> binfmt.Registered:
    """Register what the foreign ``arches`` lack; a usage error (with the reason) when we cannot."""
    foreign = [a for a in arches if not runs_natively(a)]
    try:
        registered, changes = binfmt.install_for_session(foreign)
    except binfmt.BinfmtError as exc:
        raise pytest.UsageError(f"--binfmt-install: {exc}") from None
    del changes  # an arch another tool's handler serves (a conflict) uses that handler as it is
    return registered


def restore(registered: binfmt.Registered) -> None:
    binfmt.restore(registered)
