"""The go command: where it is ($MULTIARCH_GO, PATH, /usr/local/go, Debian's /usr/lib/go-1.N),
which release it is, and why none was found (with the fix)."""

from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import Path

from pytest_multiarch import env as envvars
from pytest_multiarch import proc
from pytest_multiarch.errors import MultiarchError

INSTALL_FIX = (
    "python -m pytest_multiarch setup (installs Go from the distribution, from backports on Debian 12), "
    "or install Go 1.21 or newer (https://go.dev/doc/install)"
)


class GoError(MultiarchError):
    """A go command failed; the message holds its output."""


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
