"""Debian's Rust in a private prefix: what ``setup`` unpacks when rustup cannot add a target.

Debian ships rustc and cargo (``rustc-web``, ``cargo-web``) and each architecture's standard
library (``libstd-rust-web-dev:<debarch>``), all at one version. Installing foreign-architecture
packages system-wide often fails on skewed mirror indexes, so ``setup`` downloads the ``.deb``
files and unpacks them (``dpkg -x``) into ``<root>/rust-<version>``. That rustc finds its sysroot
relative to itself, so the prefix holds everything a target needs; the host only needs the
shared libraries the packages depend on (installed with apt).

The plugin finds prefixes made here without any setting (:func:`provisioned_cargos`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import env as envvars

# Where setup puts what it provisions; MULTIARCH_HOME moves it (tests, non-root users).
DEFAULT_ROOT = envvars.DEFAULT_HOME

# The packages unpacked into a prefix: the host's compiler, cargo and std, plus the per-arch std.
HOST_PACKAGES = ("rustc-web", "cargo-web", "libstd-rust-web-dev")
STD_PACKAGE = "libstd-rust-web-dev"
# The library source matching rustc-web: std is built from it for targets without a std package.
SRC_PACKAGE = "rust-web-src"
_SHARED_STD = re.compile(r"^libstd-rust-web-\d+\.\d+$")  # libstd-rust-web-1.85: rustc's own library


def root(env: Mapping[str, str] | None = None) -> Path:
    return envvars.home(env)


def prefix_for(version: str, env: Mapping[str, str] | None = None) -> Path:
    """``<root>/rust-1.85`` for Debian version ``1.85.0+dfsg3-1~deb12u3``."""
    return root(env) / f"rust-{upstream(version)}"


def upstream(version: str) -> str:
    """``1.85`` from ``1.85.0+dfsg3-1~deb12u3`` (epoch and Debian revision dropped)."""
    m = re.match(r"(?:\d+:)?(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a Debian Rust version: {version!r}")
    return f"{m.group(1)}.{m.group(2)}"


def release(version: str) -> str:
    """``1.85.0`` from ``1.85.0+dfsg3-1~deb12u3``: the source tree's name is ``rustc-<release>``."""
    m = re.match(r"(?:\d+:)?(\d+\.\d+\.\d+)", version)
    if not m:
        raise ValueError(f"not a Debian Rust version: {version!r}")
    return m.group(1)


def _version_key(path: Path) -> tuple[int, ...]:
    m = re.search(r"rust-(\d+)\.(\d+)$", path.name)
    return (int(m.group(1)), int(m.group(2))) if m else (0,)


# Written last when a prefix is complete; holds the Debian version it was unpacked from.
MARKER = ".debian-version"


def provisioned_cargos(env: Mapping[str, str] | None = None) -> list[Path]:
    """The cargo wrappers of every complete prefix under the root, newest Rust first."""
    base = root(env)
    if not base.is_dir():
        return []
    prefixes = sorted(
        (p for p in base.glob("rust-*") if (p / MARKER).is_file()), key=_version_key, reverse=True
    )
    return [p / "bin" / "cargo" for p in prefixes if os.access(p / "bin" / "cargo", os.X_OK)]


def prefix_version(prefix: Path) -> str | None:
    """The Debian version a complete prefix was unpacked from."""
    try:
        return (prefix / MARKER).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def deb_filename(package: str, version: str, debarch: str) -> str:
    """The file name ``apt-get download`` saves: the version without its epoch, ``:`` escaped."""
    bare = version.split(":", 1)[1] if re.match(r"^\d+:", version) else version
    return f"{package}_{bare}_{debarch}.deb"


def parse_depends(field: str) -> list[str]:
    """Package names of a Depends field, the first of each set of alternatives."""
    names = []
    for clause in field.split(","):
        first = clause.split("|")[0].strip()
        name = re.split(r"[\s(:]", first, maxsplit=1)[0]
        if name:
            names.append(name)
    return names


def parse_show(text: str) -> dict[str, str]:
    """The fields of the first record ``apt-cache show`` printed."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


@dataclass(frozen=True)
class Choice:
    """The Debian Rust version to unpack and which requested architectures it has a std for."""

    version: str
    debarches: tuple[str, ...]


def choose_version(host_versions: Iterable[str], std_versions: Mapping[str, Iterable[str]]) -> Choice | None:
    """The host version whose std exists for the most requested architectures (newest on ties).

    A target's std must be exactly rustc's version, and foreign-architecture indexes lag the
    host's, so the newest rustc is not always the one to take.
    """
    best: Choice | None = None
    for version in host_versions:  # newest first
        have = tuple(a for a, versions in std_versions.items() if version in set(versions))
        if best is None or len(have) > len(best.debarches):
            best = Choice(version, have)
    return best


def external_depends(shows: Mapping[str, str]) -> list[str]:
    """What the unpacked packages need from the host: their Depends outside the prefix's set.

    ``shows`` maps each unpacked package to its ``apt-cache show`` text.
    """
    inside = set(shows)
    needed: list[str] = []
    for text in shows.values():
        for dep in parse_depends(parse_show(text).get("Depends", "")):
            if dep not in inside and not _SHARED_STD.match(dep) and dep not in needed:
                needed.append(dep)
    return needed


def wrapper(prefix: Path, tool: str, multiarch: str) -> str:
    """A script that runs the prefix's ``tool`` with the prefix's shared libraries, which live
    in ``usr/lib/<multiarch>`` (x86_64-linux-gnu on amd64)."""
    libdir = prefix / "usr/lib" / multiarch
    return (
        "#!/bin/sh\n"
        f"# {tool} from Debian packages, unpacked by `python -m pytest_multiarch setup`\n"
        f'LD_LIBRARY_PATH="{libdir}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" '
        f'RUSTC="${{RUSTC:-{prefix}/bin/rustc}}" RUSTDOC="${{RUSTDOC:-{prefix}/bin/rustdoc}}" '
        f'exec "{prefix}/usr/bin/{tool}" "$@"\n'
    )
