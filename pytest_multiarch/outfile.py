"""Writing a file whole or not at all, and knowing beforehand whether it can be written."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees half a file (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide a report from other users
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def why_unwritable(path: Path) -> str | None:
    """Why ``write_atomic(path, ...)`` would fail, or None: ``path`` is a directory, or its
    nearest existing ancestor is not a directory or takes no new file (tried for real: root
    passes every permission check but not a read-only file system)."""
    path = Path(os.path.abspath(path))
    if path.is_dir():
        return "it is a directory"
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".multiarch-probe-")
    except OSError as exc:
        return f"no file can be created in {existing} ({exc.strerror})"
    os.close(fd)
    os.unlink(probe)
    return None


def remove_older_than(directory: Path, seconds: float) -> None:
    """Remove the files directly in ``directory`` last modified more than ``seconds`` ago."""
    limit = time.time() - seconds
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
