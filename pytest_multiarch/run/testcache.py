"""Go's test-result cache, by Go's own rules, for runs that Go itself would not cache.

``go test`` caches a package's successful result and replays it while nothing that decided it
changed. Under ``-exec`` it turns that cache off (golang/go#27207): every emulated run would
rerun every test. We run Go test binaries as cmd/go does without ``-exec``: with
``-test.testlogfile=FILE``, into which the testing package writes every environment variable the
test looked up and every file and directory it opened, stat'ed or changed into. A batch's
passing results are kept under

- the *test key*: the binary's contents, the architecture, the executor and its emulator's
  version (``Executor.describe``), the exact arguments (which tests), the working directory,
  ``GODEBUG`` (the runtime reads it without logging it) and the ``QEMU_*`` variables;

together with the log and a digest of its *inputs* as they were after the run. They replay only
while the inputs' digest, recomputed now, is the same. The inputs follow cmd/go's
``computeTestInputsID`` (src/cmd/go/internal/test/test.go, Go 1.26):

- ``getenv NAME``: the variable's value in the test's environment, or its absence;
- ``chdir DIR``: the directory's metadata; relative names after it are resolved against it;
- ``stat NAME``: the file's metadata (``stat`` and ``lstat``: size, mode, mtime, kind);
- ``open NAME``: a directory's metadata and listing; a file's metadata, and here also its
  contents (cmd/go trusts size and mtime alone; a checkout rewriting a file with new contents
  at the same size and second is caught too);
- files and directories outside the module root are not rechecked (Go's rule: a test's temporary
  files change every run);
- a file read that was modified less than 2 s before is too new to trust, and so is one modified
  while the tests ran (or in the 2 s before they started): the result is not kept;
- a log that is missing, truncated or has an unknown line keeps nothing.

Only batches whose every test passed or skipped are kept; a failure always runs again. A
``GOFLAGS`` with ``-count=`` turns the cache off as it does for ``go test``, as does
``--arch-test-cache=off``.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache, key
from pytest_multiarch.errors import MultiarchError
from pytest_multiarch.executors.base import RunRequest
from pytest_multiarch.outcome import TestOutcome, kept_record, replayed

SCHEMA = 1
MAGIC = "# test log\n"  # the testing package's first line (testing/internal/testdeps)
TOO_NEW_SECONDS = 2.0  # cmd/go's modTimeCutoff
CONTENT_LIMIT = 64 * 1024**2  # bigger files: metadata only, as cmd/go does for every file
OPS = ("getenv", "chdir", "stat", "open")

Entry = tuple[str, str]  # (operation, name)


class NotCacheable(MultiarchError):
    """The inputs cannot be trusted now (a file too new): nothing is kept or replayed. Never
    reaches the user; the batch just runs."""


def parse_log(text: str) -> list[Entry] | None:
    """The entries of a test log, or None when it is not a whole log (a process that died
    mid-write leaves a last line without its newline) or has a line we do not know."""
    if not text.startswith(MAGIC) or not text.endswith("\n"):
        return None
    entries: list[Entry] = []
    for line in text[len(MAGIC) :].split("\n"):
        if not line:
            continue
        op, sep, name = line.partition(" ")
        if not sep or op not in OPS:
            return None
        entries.append((op, name))
    return entries


def _meta(st: os.stat_result) -> str:
    return f"{st.st_size} {st.st_mode:o} {st.st_mtime_ns} {stat.S_ISDIR(st.st_mode)}"


def _stat_hash(path: str) -> str:
    parts = []
    for look in (os.stat, os.lstat):
        try:
            parts.append(_meta(look(path)))
        except OSError as exc:
            parts.append(f"err {exc.errno}")
    return " | ".join(parts)


def _open_hash(path: str, now: float, since: float) -> str:
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"err {exc.errno}"
    out = [_meta(st)]
    if stat.S_ISDIR(st.st_mode):
        try:
            with os.scandir(path) as it:
                for e in sorted(it, key=lambda e: e.name):
                    try:
                        out.append(f"file {e.name} {_meta(e.stat(follow_symlinks=False))}")
                    except OSError as exc:
                        out.append(f"file {e.name} err {exc.errno}")
        except OSError as exc:
            out.append(f"err {exc.errno}")
    elif stat.S_ISREG(st.st_mode):
        if now - st.st_mtime < TOO_NEW_SECONDS:
            raise NotCacheable(f"{path} was modified less than {TOO_NEW_SECONDS:g} s ago")
        if st.st_mtime >= since - TOO_NEW_SECONDS:
            raise NotCacheable(f"{path} was modified while the tests ran")
        if st.st_size <= CONTENT_LIMIT:
            out.append(fingerprint.file_digest(path))
    return " ".join(out)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def inputs_digest(
    entries: Sequence[Entry], *, env: Mapping[str, str], cwd: str, root: str, since: float | None = None
) -> str:
    """The digest of what the logged inputs are now (raises NotCacheable). ``since``: when the
    tests started; a file they read that was modified after (or just before) is not trusted."""
    now = time.time()
    since = now if since is None else since
    h = hashlib.sha256()
    pwd, root = cwd, os.path.realpath(root)
    for op, name in entries:
        if op == "getenv":
            value = env.get(name)
            h.update(f"env {name} {'-' if value is None else '=' + value}\n".encode())
            continue
        if op == "chdir":
            pwd = name if os.path.isabs(name) else os.path.join(pwd, name)
            h.update(f"chdir {pwd} {_stat_hash(pwd)}\n".encode())
            continue
        path = os.path.normpath(name if os.path.isabs(name) else os.path.join(pwd, name))
        if not _inside(path, root) and not _inside(os.path.realpath(path), root):
            continue  # outside the module: a temporary file, /etc, the Go root (cmd/go's rule)
        seen = _stat_hash(path) if op == "stat" else _open_hash(path, now, since)
        h.update(f"{op} {path} {seen}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class GoTestCache:
    """The results of a module's Go test batches, kept and replayed by cmd/go's rules."""

    store: BuildCache
    module_root: Path
    log_dir: Path

    def log_path(self) -> Path:
        """A fresh test log file for one process."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{uuid.uuid4().hex}.testlog"

    def test_key(self, r: RunRequest) -> str:
        """Everything but the logged inputs: the binary, arch, executor, arguments, directory."""
        env = sorted((k, v) for k, v in r.env.items() if k == "GODEBUG" or k.startswith("QEMU_"))
        return key("go-test-result", SCHEMA, self.store.file_digest(r.binary), r.arch.name,
                   r.executor.describe(r.arch), list(r.args), os.fspath(r.cwd), env)  # fmt: skip

    def lookup(self, r: RunRequest, tests: Sequence[str]) -> dict[str, TestOutcome] | None:
        """The kept outcomes of ``tests`` when every input the test read is unchanged."""
        record = self.store.read_record(self.test_key(r))
        if not isinstance(record, dict) or not isinstance(record.get("log"), list):
            return None
        entries = [(str(op), str(name)) for op, name in record["log"]]
        try:
            digest = inputs_digest(entries, env=r.env, cwd=os.fspath(r.cwd), root=os.fspath(self.module_root))
        except NotCacheable:
            return None
        kept = record.get("outcomes")
        if digest != record.get("inputs"):
            return None
        return replayed(kept, tests)

    def remember(self, r: RunRequest, outcomes: Mapping[str, TestOutcome], log: Path, started: float) -> bool:
        """Keep a batch's outcomes with its log, when all passed or skipped, the log is whole,
        and no file it names changed since the tests ``started`` (time.time()); whether kept."""
        if any(o.status not in ("passed", "skipped") or o.flaky for o in outcomes.values()):
            return False
        try:
            entries = parse_log(log.read_text(encoding="utf-8", errors="surrogateescape"))
        except OSError:
            return False
        if entries is None:
            return False
        try:
            digest = inputs_digest(entries, env=r.env, cwd=os.fspath(r.cwd), root=os.fspath(self.module_root),
                                   since=started)  # fmt: skip
        except NotCacheable:
            return False
        self.store.write_record(self.test_key(r), {"log": [list(e) for e in entries], "inputs": digest,
                                                  "outcomes": kept_record(outcomes)})  # fmt: skip
        return True
