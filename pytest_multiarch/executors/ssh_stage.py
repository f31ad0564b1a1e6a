"""Putting a test binary and its working directory on a remote, by content.

Layout of a remote's cache (``${XDG_CACHE_HOME:-~/.cache}/pytest-multiarch``):

- ``blobs/<sha256>``: every file sent, named by the SHA-256 of its content (the test binary
  among them, executable). A blob that is there is never sent again.
- ``trees/<key>/``: a working directory put together from blobs (copies, so that a test writing
  into its directory cannot change a blob), ``<key>`` the hash of its list of (path, mode,
  content). A tree that is there is used as it is.
- ``tmp/``: where blobs and trees are written before one ``mv`` (a rename) puts them in place,
  so that an interrupted transfer never leaves a half file under a final name.

Which files a working directory needs, as the toolchains run tests: a Go package's directory as
``go test`` uses it (its own files, and ``testdata/`` whole: Go ignores ``testdata`` as a
package, tests read it); a Rust crate's directory (``CARGO_MANIFEST_DIR``), without ``target/``
and hidden directories; any other directory is not copied (the test runs in an empty one).
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import stat
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch.executors.ssh_remote import COMMAND_SECONDS, Connection, RemoteError

MAX_TREE_FILES = 5000  # a working directory with more is refused (a mistake, not a package)
_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


@dataclass(frozen=True)
class File:
    path: str  # relative to the tree, with '/'
    digest: str
    executable: bool
    source: Path


@dataclass
class Sent:
    """What was sent to one host: counted, for the summary and for tests."""

    files: int = 0
    bytes: int = 0
    reused: int = 0  # blobs found there already


def digest(path: Path) -> str:
    """SHA-256 of a file's content, remembered by (path, size, mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        found = _digests.get(key)
    if found is not None:
        return found
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    with _digest_lock:
        _digests[key] = h.hexdigest()
    return h.hexdigest()


def _file(root: Path, path: Path) -> File:
    executable = bool(path.stat().st_mode & stat.S_IXUSR)
    return File(path.relative_to(root).as_posix(), digest(path), executable, path)


def _walk(root: Path, top: Path, skip_dirs: frozenset[str]) -> list[File]:
    found: list[File] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath, name)
            if p.is_file():
                found.append(_file(root, p))
    return found


def tree_files(cwd: Path) -> list[File]:
    """The files a test run with working directory ``cwd`` needs (see the module's text)."""
    if (cwd / "Cargo.toml").is_file():
        files = _walk(cwd, cwd, frozenset({"target"}))
    elif any(p.suffix == ".go" for p in cwd.iterdir() if p.is_file()):
        files = [_file(cwd, p) for p in sorted(cwd.iterdir()) if p.is_file()]
        if (cwd / "testdata").is_dir():
            files += _walk(cwd, cwd / "testdata", frozenset())
    else:
        return []
    return files[: MAX_TREE_FILES + 1]  # one more than the limit: Stager.stage refuses it


def tree_key(files: list[File]) -> str:
    lines = "".join(f"{f.path}\0{int(f.executable)}\0{f.digest}\n" for f in files)
    return hashlib.sha256(lines.encode()).hexdigest()[:32]


class Stager:
    """Stages blobs and trees on one host, each at most once per session."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sent = Sent()
        self._lock = threading.Lock()  # one staging at a time per host: no duplicate sends
        self._known: set[str] = set()  # blobs and trees known to be there

    def stage(self, binary: Path, cwd: Path) -> tuple[str, str]:
        """(remote binary, remote working directory), both absolute, present on the host."""
        info = self.conn.open()
        bin_digest = digest(binary)
        files = tree_files(cwd)
        if len(files) > MAX_TREE_FILES:
            host = self.conn.remote.host
            why = f"the working directory {cwd} has more than {MAX_TREE_FILES} files to copy to {host}"
            fix = "run the test from its package or crate directory (run_on_arch(..., cwd=...))"
            raise RemoteError(self.conn.remote.arch, why, fix, named=True)
        key = tree_key(files)
        root = info.cache
        with self._lock:
            if bin_digest not in self._known or ("tree:" + key) not in self._known:
                self._stage(binary, bin_digest, files, key)
        return f"{root}/blobs/{bin_digest}", f"{root}/trees/{key}"

    def _stage(self, binary: Path, bin_digest: str, files: list[File], key: str) -> None:
        blobs = {bin_digest: binary, **{f.digest: f.source for f in files}}
        missing, tree_there = self._missing(list(blobs), key)
        self.sent.reused += len(blobs) - len(missing)
        if missing:
            self._send({d: blobs[d] for d in missing})
        if not tree_there:
            self._assemble(files, key)
        self._known.update(blobs)
        self._known.add("tree:" + key)

    def _cache(self) -> str:
        assert self.conn.info is not None
        return shlex.quote(self.conn.info.cache)

    def _fail(self, what: str, said: bytes) -> RemoteError:
        text = said.decode("utf-8", "replace").strip()[-400:]
        host, info = self.conn.remote.host, self.conn.info
        where = info.cache if info else "its cache"
        if "No space left" in text or "Disk quota" in text:
            why = f"ssh {host}: {what} failed: no space left in {where}"
            fix = (f"free space on {host}, or `python -m pytest_multiarch remote prune "
                   f"{shlex.quote(self.conn.remote.destination)}` to empty the cache")  # fmt: skip
        else:
            why, fix = f"ssh {host}: {what} failed: {text}", f"check {where} on {host} is writable"
        return RemoteError(self.conn.remote.arch, why, fix, named=True)

    def _missing(self, digests: list[str], key: str) -> tuple[list[str], bool]:
        script = (
            f"cd {self._cache()} || exit 3\n"
            + "".join(f"[ -e blobs/{d} ] || echo {d}\n" for d in digests)
            + f"[ -d trees/{key} ] && echo tree-there\nexit 0\n"
        )
        res = self.conn.run("sh -s", input=script.encode())
        if res.returncode != 0:
            raise self._fail("looking up the cache", res.stderr)
        words = res.stdout.decode().split()
        return [d for d in digests if d in words], "tree-there" in words

    def _send(self, blobs: dict[str, Path]) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name, path in blobs.items():
                info = tar.gettarinfo(str(path), arcname=name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "", ""
                with open(path, "rb") as f:
                    tar.addfile(info, f)
        data = buf.getvalue()
        c = self._cache()
        command = (f'cd {c} && mkdir -p blobs tmp && t=$(mktemp -d tmp/in.XXXXXX) || exit 1; ok=1; '
                   'tar -xf - -C "$t" || ok=0; if [ $ok = 1 ]; then for f in "$t"/*; do '
                   'mv -f "$f" blobs/ || ok=0; done; fi; rm -rf "$t"; [ $ok = 1 ]')  # fmt: skip
        # A slow link is not a hung one: the limit grows with the size (at least 100 kB/s).
        res = self.conn.run(command, input=data, timeout=COMMAND_SECONDS + len(data) / 100_000)
        if res.returncode != 0:
            raise self._fail(f"sending {len(blobs)} file(s)", res.stderr)
        self.sent.files += len(blobs)
        self.sent.bytes += len(data)

    def _assemble(self, files: list[File], key: str) -> None:
        lines = [f"cd {self._cache()} && mkdir -p trees tmp || exit 1",
                 "t=$(mktemp -d tmp/tree.XXXXXX) || exit 1",
                 'fail() { rm -rf "$t"; exit 1; }']  # fmt: skip
        dirs = sorted({str(Path(f.path).parent) for f in files} - {"."})
        lines += [f'mkdir -p "$t"/{shlex.quote(d)} || fail' for d in dirs]
        for f in files:
            dest = '"$t"/' + shlex.quote(f.path)
            lines.append(
                f"cp blobs/{f.digest} {dest} && chmod {'755' if f.executable else '644'} {dest} || fail"
            )
        lines += [
            'chmod 755 "$t" || fail',
            f'if [ -d trees/{key} ]; then rm -rf "$t"; else mv "$t" trees/{key} || fail; fi',
        ]
        res = self.conn.run("sh -s", input=("\n".join(lines) + "\n").encode())
        if res.returncode != 0:
            raise self._fail("putting the working directory together", res.stderr)
