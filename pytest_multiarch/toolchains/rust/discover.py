"""Rust: finding cargo and rustc, and choosing the toolchain per architecture (the first that is
ready for it: readiness.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.rust import debian as debian_rust
from pytest_multiarch.toolchains.rust.model import (
    INSTALL_FIX,
    NOT_FOUND,
    Missing,
    RustToolchain,
    RustToolchainError,
)
from pytest_multiarch.toolchains.rust.readiness import query, readiness


@dataclass(frozen=True)
class CargoCandidate:
    """A cargo to try, and why it is a candidate (shown by doctor)."""

    cargo: str
    why: str


def cargo_candidates(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> list[CargoCandidate]:
    """The cargos to consider, in order.

    $CARGO, $RUSTC or ``explicit`` (ini ``multiarch_cargo``), when set, is the only choice: a
    user who names a toolchain gets that one. Otherwise the cargo on PATH comes first, then each
    Debian Rust prefix that ``python -m pytest_multiarch setup`` unpacked, newest first.
    """
    env = os.environ if env is None else env
    path = env.get("PATH")
    for value, why in (
        (env.get("CARGO"), "$CARGO"),
        (os.fspath(explicit) if explicit else None, "multiarch_cargo"),
    ):
        if value:
            named = shutil.which(value, path=path)
            return [CargoCandidate(named, why)] if named else []
    on_path = shutil.which("cargo", path=path)
    if env.get("RUSTC"):  # a chosen rustc pairs with the cargo on PATH only
        return [CargoCandidate(on_path, "PATH (with $RUSTC)")] if on_path else []
    found = [CargoCandidate(on_path, "PATH")] if on_path else []
    for cargo in debian_rust.provisioned_cargos(env):
        if all(Path(c.cargo).resolve() != cargo.resolve() for c in found):
            found.append(CargoCandidate(str(cargo), f"provisioned by setup in {cargo.parent.parent}"))
    return found


def find_cargo(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """The first cargo to try (see :func:`cargo_candidates`)."""
    candidates = cargo_candidates(explicit, env)
    return candidates[0].cargo if candidates else None


def find_rustc(cargo: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> str | None:
    """The rustc to use with ``cargo``: $RUSTC, then the one beside cargo, then PATH.

    The one beside cargo comes before PATH: a cargo from a private prefix must not pair with
    another toolchain's rustc, whose std would not match. build_tests passes it as $RUSTC.
    """
    env = os.environ if env is None else env
    if env.get("RUSTC"):  # named: the only candidate, never a silent fallback to another rustc
        return shutil.which(env["RUSTC"], path=env.get("PATH"))
    sibling = Path(cargo).parent / "rustc"
    for candidate in (str(sibling) if os.access(sibling, os.X_OK) else None, "rustc"):
        if candidate:
            found = shutil.which(candidate, path=env.get("PATH"))
            if found:
                return found
    return None


def named_settings(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> list[str]:
    """The settings that name the Rust toolchain, as ``CARGO=...``, ``multiarch_cargo = ...``
    and ``RUSTC=...`` (the ini option only when $CARGO does not override it); [] when none does."""
    env = os.environ if env is None else env
    named = []
    if env.get("CARGO"):
        named.append(f"CARGO={env['CARGO']}")
    elif explicit:
        named.append(f"multiarch_cargo = {os.fspath(explicit)}")
    if env.get("RUSTC"):
        named.append(f"RUSTC={env['RUSTC']}")
    return named


def named_problem(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """Why a cargo or rustc the user named (see :func:`named_settings`) is not an executable,
    with the fix; None when each named one is. Such a setting is an error, never a skip: a skip
    would hide every failure of the Rust tests behind a green run."""
    env = os.environ if env is None else env
    path = env.get("PATH")
    fixes = {
        "CARGO": "point CARGO at a cargo, or unset it",
        "multiarch_cargo": "point the ini option multiarch_cargo at a cargo, or remove it",
        "RUSTC": "point RUSTC at a rustc, or unset it (then the rustc beside cargo is used)",
    }
    for setting in named_settings(explicit, env):
        name, _, value = setting.replace(" = ", "=", 1).partition("=")
        if shutil.which(value, path=path) is None:
            tool = "rustc" if name == "RUSTC" else "cargo"
            return f"{setting} is not an executable {tool}. Fix: {fixes[name]}"
    return None


def find_toolchain(
    explicit_cargo: str | os.PathLike[str] | None = None,
    *,
    project_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> RustToolchain:
    """The first candidate cargo with its rustc, asked for its version, host and sysroot.

    ``project_dir`` matters for rustup: its proxies pick the toolchain from the directory
    (rust-toolchain.toml). Raises RustToolchainError (with the fix) when nothing usable is found.
    """
    env = dict(os.environ if env is None else env)
    cargo = find_cargo(explicit_cargo, env)
    if cargo is None:
        raise RustToolchainError(NOT_FOUND)
    return toolchain_of(cargo, project_dir=project_dir, env=env)


def toolchain_of(
    cargo: str, *, project_dir: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> RustToolchain:
    """``cargo`` and its rustc (:func:`find_rustc`), with rustc's version, host and sysroot."""
    env = dict(os.environ if env is None else env)
    rustc = find_rustc(cargo, env)
    if rustc is None:
        if env.get("RUSTC"):  # named_problem says so, with the fix
            raise RustToolchainError(named_problem(env=env) or f"RUSTC={env['RUSTC']} is not a rustc")
        raise RustToolchainError(f"rustc not found beside {cargo} or on PATH. Fix: {INSTALL_FIX}")
    cwd = os.fspath(project_dir) if project_dir else "/"
    info = query(rustc, ["-vV"], env, cwd)
    fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
    if "release" not in fields or "host" not in fields:
        raise RustToolchainError(f"`{rustc} -vV` did not print its release and host:\n{info}")
    sysroot = query(rustc, ["--print", "sysroot"], env, cwd).strip()
    return RustToolchain(Path(cargo), Path(rustc), Path(sysroot), fields["release"], fields["host"])


@dataclass(frozen=True)
class Chosen:
    """The toolchain picked for one architecture, and why (doctor shows it)."""

    toolchain: RustToolchain
    why: str
    missing: Missing | None  # None: ready to build for the architecture


def choose_toolchain(
    arch: Arch,
    explicit_cargo: str | os.PathLike[str] | None = None,
    *,
    project_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    lookup: Callable[[str], RustToolchain] | None = None,
) -> Chosen:
    """The first candidate (:func:`cargo_candidates`) that can build for ``arch``.

    When none can, the first usable one, with what it lacks. ``lookup`` turns a cargo path into
    its toolchain (callers cache it). Raises RustToolchainError when no candidate works at all.
    """
    env = dict(os.environ if env is None else env)
    candidates = cargo_candidates(explicit_cargo, env)
    if not candidates:
        raise RustToolchainError(NOT_FOUND)
    get = lookup or (lambda cargo: toolchain_of(cargo, project_dir=project_dir, env=env))
    first: Chosen | None = None
    error: RustToolchainError | None = None
    for candidate in candidates:
        try:
            toolchain = get(candidate.cargo)
        except RustToolchainError as exc:
            error = error or exc
            continue
        missing = readiness(toolchain, arch, project_dir, env)
        if missing is None:
            skipped = "" if first is None else f"; {first.toolchain.cargo} lacks it"
            return Chosen(toolchain, candidate.why + skipped, None)
        first = first or Chosen(toolchain, candidate.why, missing)
    if first is None:
        assert error is not None
        raise error
    return first


