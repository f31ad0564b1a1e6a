"""Cheap and exact fingerprints of source trees and files, for the build cache's keys.

Two levels, like git's index: ``tree_stamp`` reads only file metadata (path, size, mtime in
nanoseconds) and decides whether anything *may* have changed since a test list was recorded;
``file_digest`` hashes contents and names what a binary was actually built from.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

# Directories that never hold sources of the module or crate being tested: VCS data, caches and
# build output (pytest's cache, where our own binaries live, included).
_SKIP_DIRS = frozenset({"node_modules", "__pycache__"})

_digests: dict[tuple[str, int, int, int, int], str] = {}
_digests_lock = threading.Lock()


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's contents ("-" for a missing file), memoised on its metadata (the change
    time too, which no rewrite can set back)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "-"
    memo = (os.fspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    with _digests_lock:
        found = _digests.get(memo)
    if found is not None:
        return found
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _digests_lock:
        _digests[memo] = digest
    return digest


def files_digest(paths: Iterable[str | os.PathLike[str]]) -> str:
    """One digest over several files' names and contents (order-independent)."""
    h = hashlib.sha256()
    for p in sorted(os.fspath(p) for p in paths):
        h.update(f"{p}\0{file_digest(p)}\n".encode())
    return h.hexdigest()


def tree_stamp(
    root: Path, *, nested_marker: str | None = None, skip: Iterable[Path] = (), ignore: Iterable[str] = ()
) -> str:
    """A digest of every file's relative path, size and mtime under ``root``.

    Skipped: names starting with ``.`` (VCS data, pytest's cache), ``_``-prefixed directories
    (Go ignores them as packages and embeds), ``target`` next to a ``Cargo.toml`` (Rust build
    output), ``node_modules``, directories holding ``nested_marker`` (another Go module inside
    this one), the paths in ``skip`` and files named in ``ignore``.
    """
    skipped = {os.fspath(p) for p in skip}
    ignored = set(ignore)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if d.startswith((".", "_")) or d in _SKIP_DIRS or full in skipped:
                continue
            if d == "target" and "Cargo.toml" in filenames:
                continue
            if nested_marker and os.path.exists(os.path.join(full, nested_marker)):
                continue
            keep.append(d)
        dirnames[:] = keep
        rel = os.path.relpath(dirpath, root)
        h.update(f"D {rel}\n".encode())
        for name in sorted(filenames):
            if name.startswith(".") or name in ignored:
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            h.update(f"F {name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def file_stamp(path: str | os.PathLike[str]) -> str:
    """Size and mtime of one file ("-" when missing): enough to notice it was replaced."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"
