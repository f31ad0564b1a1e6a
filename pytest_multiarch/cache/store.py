"""A content-addressed store for built binaries and the test lists read from them.

An entry is named by the hash of everything that went into it (see ``key``). It becomes visible
only by an atomic rename of a finished temporary file or directory, so a reader never sees a
half-written entry, even after the writer was killed with SIGKILL; writers of one key are
serialised with a file lock, so concurrent pytest processes and xdist workers build once.
Entries are touched when used; ``prune`` removes the least recently used ones beyond a size.

Layout under the root (``.pytest_cache/d/multiarch`` by default)::

    entries/<2 hex>/<key>/          a finished entry (a directory of files)
    records/<2 hex>/<key>.json      a finished record (small JSON: test lists, results)
    tmp/                            entries being written (stale ones are removed by prune)
    locks/<key>.lock                one lock per key being produced
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from pytest_multiarch.cache import fingerprint

# Entries used this recently are never pruned: another process may be about to run them.
IN_USE_SECONDS = 3600.0
STALE_TMP_SECONDS = 3600.0
DEFAULT_MAX_BYTES = 2 * 1024**3


def key(*parts: object) -> str:
    """A hex digest of ``parts`` (JSON-encodable values; paths and other objects as ``str``)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    removed: int = 0


class BuildCache:
    """The on-disk store; every method is safe under concurrent processes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # --- paths ---------------------------------------------------------------------------
    def _entry_path(self, k: str) -> Path:
        return self.root / "entries" / k[:2] / k

    def _record_path(self, k: str) -> Path:
        return self.root / "records" / k[:2] / f"{k}.json"

    @contextlib.contextmanager
    def lock(self, k: str) -> Iterator[None]:
        """Hold the lock of key ``k`` (any string naming the work being produced)."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(locks / f"{k}.lock"):
            yield

    def tmp_dir(self) -> Path:
        """Where entries are written before they are published (same file system)."""
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    # --- entries (directories of files) --------------------------------------------------
    def entry(self, k: str) -> Path | None:
        """The finished entry ``k``, touched as used; None when there is none."""
        path = self._entry_path(k)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def store(self, k: str, fill: Callable[[Path], object]) -> Path:
        """Make entry ``k`` from ``fill(directory)`` unless it exists; its path.

        ``fill`` writes into a fresh temporary directory that becomes the entry by one rename.
        """
        found = self.entry(k)
        if found is not None:
            return found
        work = Path(tempfile.mkdtemp(prefix=f"{k[:16]}-", dir=self.tmp_dir()))
        try:
            fill(work)
            return self._publish(work, self._entry_path(k))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def store_file(self, k: str, source: Path, name: str) -> Path:
        """Move ``source`` (a finished file on the same file system) into entry ``k``."""

        def fill(directory: Path) -> None:
            os.replace(source, directory / name)

        return self.store(k, fill) / name

    def _publish(self, work: Path, final: Path) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(work, final)  # atomic; fails if another process published first
        except OSError:
            if not final.is_dir():
                raise
        return final

    # --- records (small JSON values) -----------------------------------------------------
    def read_record(self, k: str) -> Any:
        """The JSON value stored under ``k``, or None (absent or unreadable)."""
        path = self._record_path(k)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            os.utime(path)
        except (OSError, ValueError):
            return None
        return data

    def write_record(self, k: str, value: Any) -> None:
        path = self._record_path(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{k[:16]}-", suffix=".json", dir=self.tmp_dir())
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value, f, separators=(",", ":"))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def file_digest(self, path: str | os.PathLike[str]) -> str:
        """``fingerprint.file_digest`` of a file (a test binary), remembered across runs as a
        record keyed by the file's identity (path, size, modification and change times, inode):
        reading that record costs far less than hashing a binary of a few MB in every run."""
        try:
            before = os.stat(path)
        except OSError:
            return fingerprint.file_digest(path)
        identity = (before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino)
        k = key("file-digest", os.fspath(path), *identity)
        found = self.read_record(k)
        if isinstance(found, str):
            return found
        digest = fingerprint.file_digest(path)
        with contextlib.suppress(OSError):
            after = os.stat(path)
            if (after.st_size, after.st_mtime_ns, after.st_ctime_ns, after.st_ino) == identity:
                self.write_record(k, digest)  # only what was hashed is remembered
        return digest

    # --- housekeeping --------------------------------------------------------------------
    def _items(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of every entry and record."""
        found = []
        for kind in ("entries", "records"):
            base = self.root / kind
            if not base.is_dir():
                continue
            for shard in base.iterdir():
                for item in shard.iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        found.append((item.stat().st_mtime, _size(item), item))
        return found

    def stats(self) -> CacheStats:
        items = self._items()
        return CacheStats(entries=len(items), bytes=sum(size for _, size, _ in items))

    def prune(self, max_bytes: int, *, now: float | None = None) -> CacheStats:
        """Remove least recently used entries until the store holds at most ``max_bytes``.

        Entries used within IN_USE_SECONDS stay (a concurrent run may be about to use them), as
        do temporary directories younger than STALE_TMP_SECONDS (a writer may be filling them).
        """
        now = time.time() if now is None else now
        with self.lock("prune"):
            tmp = self.root / "tmp"
            if tmp.is_dir():
                for leftover in tmp.iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        if now - leftover.stat().st_mtime > STALE_TMP_SECONDS:
                            _remove(leftover)
            items = sorted(self._items())
            total = sum(size for _, size, _ in items)
            removed = 0
            for used, size, path in items:
                if total <= max_bytes:
                    break
                if now - used < IN_USE_SECONDS:
                    continue
                _remove(path)
                total -= size
                removed += 1
            return CacheStats(entries=len(items) - removed, bytes=total, removed=removed)

    def clear(self) -> None:
        """Remove every entry and record (what ``--arch-cache-clear`` does)."""
        with self.lock("prune"):
            for kind in ("entries", "records", "tmp"):
                path = self.root / kind
                if path.exists():
                    _remove(path)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _remove(path: Path) -> None:
    """Remove a file or tree; a tree is first renamed aside so no reader sees it half gone."""
    if path.is_dir():
        aside = path.with_name(f".{path.name}.removing-{os.getpid()}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return
        shutil.rmtree(aside, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
