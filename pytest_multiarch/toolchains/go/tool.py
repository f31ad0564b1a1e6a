"""Go: finding the toolchain, listing packages and tests per GOARCH, building test binaries,
and turning test2json events into per-test outcomes."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch import env as envvars
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.go.discover import Found, run_order

INSTALL_FIX = (
    "python -m pytest_multiarch setup (installs Go from the distribution, from backports on Debian 12), "
    "or install Go 1.21 or newer (https://go.dev/doc/install)"
)
LIST_TIMEOUT = 120.0
BUILD_TIMEOUT = 900.0  # a cold build compiles the standard library for the target: minutes at worst

class GoError(Exception):
    """A go command failed; the message holds its output."""


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    dir: Path
    test_files: tuple[Path, ...]  # _test.go files this GOARCH compiles (build constraints applied)
    error: str | None = None
    found: tuple[Found, ...] = ()  # what its test binary runs, in order (see godiscover.py)
    key: str = ""  # content key of its test binary (see gomodule.py)
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
        """See godiscover.run_order: which item each top-level run of a shared Go name is."""
        return run_order(self.found)


def find_go() -> str | None:
    """The go command: $MULTIARCH_GO if set (and then only it), else PATH, else /usr/local/go,
    else the newest of Debian's versioned Go packages (/usr/lib/go-1.N, which `setup` installs
    from backports and which are not on PATH)."""
    explicit = envvars.go()
    if explicit:  # when set, the only candidate: a wrong path must not silently fall back
        found = shutil.which(explicit)
        return found if found and os.access(found, os.X_OK) else None
    debian = sorted(Path("/usr/lib").glob("go-1.*/bin/go"), key=_go_dir_version, reverse=True)
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go", *map(str, debian)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.cache
def version(go: str) -> str:
    """What ``go version`` says of itself, e.g. ``go1.26.8 linux/amd64`` ("" if it says nothing)."""
    res = proc.run([go, "version"], env=proc.base_env(), cwd="/", timeout=60)
    return res.stdout.decode(errors="replace").strip().removeprefix("go version ")


def release(go: str) -> tuple[int, ...]:
    """(major, minor) of ``go``'s release; (0,) when it cannot tell."""
    m = re.match(r"go(\d+)\.(\d+)", version(go))
    return (int(m.group(1)), int(m.group(2))) if m else (0,)


def _go_dir_version(go: Path) -> tuple[int, ...]:
    m = re.search(r"go-(\d+)\.(\d+)", str(go))
    return (int(m.group(1)), int(m.group(2))) if m else (0,)


_NAMED_FIX = "point it at a go (e.g. /usr/local/go/bin/go), or unset it to use the go on PATH"


def not_found_reason() -> str:
    """Why find_go() found nothing, and the fix."""
    explicit = envvars.go()
    if explicit:
        return f"{envvars.GO}={explicit} is not an executable go. Fix: {_NAMED_FIX}"
    return (
        "Go toolchain not found (no `go` on PATH, /usr/local/go/bin/go or /usr/lib/go-1.*/bin/go). "
        f"Fix: {INSTALL_FIX}"
    )


def named_problem() -> str | None:
    """Why $MULTIARCH_GO, when set, is not a working go, with the fix; None when it is one, or is
    not set. A go the user named that does not work is an error, never a skip: a skip would hide
    every Go failure behind a green run. Only a named go is asked (`go version`, once)."""
    explicit = envvars.go()
    if not explicit:
        return None
    found = find_go()
    if found is None:
        return not_found_reason()
    try:
        said = version(found)
    except OSError as exc:  # e.g. an executable text file without #!
        return f"{envvars.GO}={explicit} is not a working go: {found} does not run ({exc}). Fix: {_NAMED_FIX}"
    if not re.match(r"go\d", said):
        shown = repr(said) if said else "nothing"
        return (
            f"{envvars.GO}={explicit} is not a working go: `{found} version` printed {shown}, not a Go "
            f"version. Fix: {_NAMED_FIX}"
        )
    return None


def build_env(arch: Arch, *, cgo: bool = False, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = proc.base_env()
    env.update(GOOS="linux", GOARCH=arch.goarch, CGO_ENABLED="1" if cgo else "0")
    env.pop("GOARM", None)
    if arch.goarm:
        env["GOARM"] = arch.goarm
    if cgo and arch != archmod.host():
        # The cross compiler, not a CC meant for the host; MULTIARCH_CC_<ARCH> overrides.
        named = envvars.cc(arch.name)
        env["CC"] = named if named is not None else f"{arch.gnu_triple}-gcc"
    if extra:
        env.update(extra)
    return env


def decode_json_stream(text: str) -> list[dict[str, object]]:
    """`go list -json` prints concatenated JSON objects, not a list."""
    decoder = json.JSONDecoder()
    objs: list[dict[str, object]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return objs
        obj, pos = decoder.raw_decode(text, pos)
        objs.append(obj)


def test_args(selected: Sequence[str], serial: bool = False) -> list[str]:
    """Arguments for one run of a Go test binary over ``selected`` of its tests.

    Always a -test.run filter, even for all of them: nothing runs that no item reports on.
    ``serial`` runs t.Parallel tests one at a time (to find which one took a process down).
    ``-test.paniconexit0`` as ``go test`` passes it: os.Exit(0) inside a test panics ("unexpected
    call to os.Exit(0) during test") instead of ending the process as if all was well.
    """
    run = "-test.run=^(" + "|".join(re.escape(t) for t in selected) + ")$"
    return ["-test.paniconexit0", "-test.v=test2json", "-test.count=1", run,
            *(["-test.parallel=1"] if serial else [])]  # fmt: skip
