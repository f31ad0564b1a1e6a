"""Which tests `go test` runs in a package, found by a small Go program that applies cmd/go's own
rules (lister/main.go, shipped with this package), not by reading text with patterns.

The program is built once per Go version by the user's `go` into the build cache, and is given
every package of one listing at once (one process per module and architecture). What it says is
turned here into the tests of each package, with the item names pytest shows: a test of the
external test package (``package m_test``) whose name is also a test of package ``m`` is named
``m_test.TestName``; Go runs both under one name, the package's own first. A
:class:`GoPackage` is one package with what its test binary runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_multiarch import arch as archmod
from pytest_multiarch import proc
from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache, key
from pytest_multiarch.errors import MultiarchError

SOURCE_DIR = Path(__file__).parent / "lister"
SOURCE_FILES = ("go.mod", "main.go")
BUILD_TIMEOUT = 300.0
RUN_TIMEOUT = 120.0
EXECUTABLE = "golister"


class ListerError(MultiarchError):
    """The lister could not be built or run; the message says why and what to do."""


@dataclass(frozen=True)
class Found:
    """One top-level function the test binary runs (or, for ``elsewhere``, would run)."""

    name: str  # the item's test name: the Go name, or <xtest package>.<Go name> (see module doc)
    go_name: str  # the name Go runs and reports it under (what -test.run matches)
    file: Path
    line: int  # 0-based, as pytest's reportinfo wants
    kind: str = "test"  # "test", "fuzz" (its seed corpus) or "example"


@dataclass(frozen=True)
class Listed:
    """What go test would run of one package, in the order its test binary runs them."""

    tests: tuple[Found, ...] = ()
    elsewhere: tuple[Found, ...] = ()  # in _test.go files build constraints leave out here
    error: str | None = None  # why go test cannot build the package's test binary


@functools.cache
def source_digest() -> str:
    """The hash of the lister's source: a changed program is built again."""
    h = hashlib.sha256()
    for name in SOURCE_FILES:
        h.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    return h.hexdigest()


def build_env() -> dict[str, str]:
    """A clean environment for building the lister for this machine, whatever the user set for
    the code under test (GOARCH, GOFLAGS=-mod=vendor, a go.work, cgo...), in the environment or
    with ``go env -w`` (GOENV=off: go reads an empty GOFLAGS from that file; the lister needs the
    standard library only)."""
    env = proc.base_env()
    for name in ("GOARM", "GOAMD64", "GOARM64", "GO386", "GOEXPERIMENT", "CC", "CGO_CFLAGS", "CGO_LDFLAGS"):
        env.pop(name, None)
    host = archmod.host()
    env.update(GOOS=host.goos, GOARCH=host.goarch, CGO_ENABLED="0", GOFLAGS="", GOWORK="off",
               GOTOOLCHAIN="local", GOENV="off")  # fmt: skip
    return env


def _go_version(go: str, cache: BuildCache) -> str:
    """``go version``'s answer, remembered per go binary (path, size, mtime): a listing with
    the lister already built starts no ``go`` process."""
    real = os.path.realpath(go)
    k = key("go-version", real, fingerprint.file_stamp(real), go)
    found = cache.read_record(k)
    if isinstance(found, str) and found:
        return found
    res = proc.run([go, "version"], env=build_env(), cwd="/", timeout=60)
    said = res.stdout.decode(errors="replace").strip()
    if not res.ok or not said:
        stderr = res.stderr.decode(errors="replace").strip()
        raise ListerError(f"`{go} version` {res.describe_exit()}: {stderr or said}")
    cache.write_record(k, said)
    return said


def lister(go: str, cache: BuildCache) -> Path:
    """The lister built by ``go``: from the cache, else built now (once, under a lock)."""
    k = key("go-lister", _go_version(go, cache), source_digest())
    entry = cache.entry(k)
    if entry is not None:
        return entry / EXECUTABLE
    with cache.lock(k):  # xdist workers and parallel sessions build it once
        entry = cache.entry(k)
        if entry is not None:
            return entry / EXECUTABLE
        return cache.store(k, lambda d: _build(go, d)) / EXECUTABLE


def _build(go: str, out_dir: Path) -> None:
    argv = [go, "build", "-trimpath", "-buildvcs=false", "-o", str(out_dir / EXECUTABLE), "."]
    res = proc.run(argv, env=build_env(), cwd=SOURCE_DIR, timeout=BUILD_TIMEOUT)
    if not res.ok or not (out_dir / EXECUTABLE).is_file():
        text = (res.stderr + res.stdout).decode(errors="replace").strip()
        raise ListerError(
            f"building pytest-multiarch's Go test lister with {go} failed ({res.describe_exit()}):\n{text}\n"
            f"Fix: run `cd {SOURCE_DIR} && GOENV=off GOFLAGS= GOWORK=off CGO_ENABLED=0 {go} build "
            "-o /dev/null .` to see the same error; the lister needs Go 1.21 or newer and only the "
            "standard library"
        )


@dataclass(frozen=True)
class PackageFiles:
    """A package's test files for one architecture, as `go list` reports them."""

    dir: Path
    test_go_files: Sequence[str]
    xtest_go_files: Sequence[str]
    ignored_test_files: Sequence[str]  # _test.go files among IgnoredGoFiles

    def request(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "test_go_files": list(self.test_go_files),
                "xtest_go_files": list(self.xtest_go_files),
                "ignored_test_files": list(self.ignored_test_files)}  # fmt: skip


def list_tests(go: str, cache: BuildCache, packages: Sequence[PackageFiles]) -> list[Listed]:
    """What go test runs in each of ``packages`` (one lister process for all of them)."""
    if not packages:
        return []
    exe = lister(go, cache)
    payload = json.dumps([p.request() for p in packages]).encode()
    res = proc.run([exe], env=proc.base_env(), cwd="/", timeout=RUN_TIMEOUT, input=payload)
    if not res.ok:
        raise ListerError(
            f"pytest-multiarch's Go test lister {exe} {res.describe_exit()}:\n"
            f"{res.stderr.decode(errors='replace').strip()}\n"
            "Fix: run pytest with --arch-cache-clear to build it again"
        )
    answer = json.loads(res.stdout)
    if not isinstance(answer, list) or len(answer) != len(packages):
        raise ListerError(f"pytest-multiarch's Go test lister {exe} answered {res.stdout[:200]!r}")
    return [read_answer(a) for a in answer]


def read_answer(a: Mapping[str, Any]) -> Listed:
    """One package's answer from the lister, with item names (see the module doc)."""
    tests: list[Mapping[str, Any]] = list(a.get("tests") or [])
    elsewhere: list[Mapping[str, Any]] = list(a.get("elsewhere") or [])
    xpkg = str(a.get("xtest_package") or "")
    own = {str(t["name"]) for t in (*tests, *elsewhere) if not t.get("external")}

    def found(t: Mapping[str, Any]) -> Found:
        go_name = str(t["name"])
        name = f"{xpkg or 'xtest'}.{go_name}" if t.get("external") and go_name in own else go_name
        line = max(int(t["line"]) - 1, 0)
        return Found(name, go_name, Path(str(t["file"])), line, str(t.get("kind", "test")))

    error = a.get("error") or None
    return Listed(tuple(found(t) for t in tests), tuple(found(t) for t in elsewhere),
                  str(error) if error else None)  # fmt: skip


def run_order(tests: Sequence[Found]) -> dict[str, list[str]]:
    """For each Go name that is not its own item's name: the item of each top-level run of that
    name, in the order the binary runs them (``TestDup`` → ``["TestDup", "m_test.TestDup"]``)."""
    by_go: dict[str, list[str]] = {}
    for t in tests:
        by_go.setdefault(t.go_name, []).append(t.name)
    return {g: names for g, names in by_go.items() if names != [g]}


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    dir: Path
    test_files: tuple[Path, ...]  # _test.go files this GOARCH compiles (build constraints applied)
    error: str | None = None
    found: tuple[Found, ...] = ()  # what its test binary runs, in order (see this module)
    key: str = ""  # content key of its test binary (see list.py)
    deps: tuple[str, ...] = ()  # packages of the same module its test binary is built from
    elsewhere: tuple[str, ...] = ()  # tests in _test.go files build constraints leave out here

    @functools.cached_property  # looked up per test and arch at collection: built once
    def where(self) -> dict[str, tuple[Path, int]]:
        """Item test name → (file, 0-based line) of each test, in the order they run."""
        return {t.name: (t.file, t.line) for t in self.found}

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(self.where)

    def go_names(self) -> dict[str, str]:
        """Item test name → the name Go runs it under, for the tests where the two differ."""
        return {t.name: t.go_name for t in self.found if t.name != t.go_name}

    def run_order(self) -> dict[str, list[str]]:
        """See run_order: which item each top-level run of a shared Go name is."""
        return run_order(self.found)
