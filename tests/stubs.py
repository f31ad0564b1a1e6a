"""Stub programs for fault injection and for tools a test must see as absent: real scripts."""

from __future__ import annotations

import signal
import stat
import textwrap
from pathlib import Path


def write_executable(path: Path, text: str) -> Path:
    """Write ``text`` (dedented, leading blank lines dropped) as an executable file at ``path``."""
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def sigint_default() -> None:
    """preexec_fn for a child that must take Ctrl-C: a shell started in the background hands its
    children SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
