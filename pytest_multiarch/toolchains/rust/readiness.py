"""Rust: whether a toolchain can build for an architecture (the target's std or the source to
build it, the linker), and what to run when it cannot."""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.rust import debian as debian_rust
from pytest_multiarch.toolchains.rust import lld_link, musl
from pytest_multiarch.toolchains.rust.model import (
    INSTALL_FIX,
    QUERY_TIMEOUT,
    Linker,
    Missing,
    RustToolchain,
    RustToolchainError,
)
from pytest_multiarch.toolchains.rust.targets import SRC_DIR, RustTarget, rust_target


def query(rustc: str, args: list[str], env: Mapping[str, str], cwd: str) -> str:
    try:
        res = proc.run([rustc, *args], env=env, cwd=cwd, timeout=QUERY_TIMEOUT)
    except OSError as exc:
        raise RustToolchainError(f"cannot run {rustc}: {exc}. Fix: {INSTALL_FIX}") from exc
    if not res.ok:
        raise RustToolchainError(
            f"`{shlex.join([rustc, *args])}` {res.describe_exit()}:\n{res.stderr.decode(errors='replace')}"
        )
    return res.stdout.decode(errors="replace")


def installed_targets(toolchain: RustToolchain) -> list[str]:
    """Target triples whose standard library is installed in the toolchain's sysroot."""
    rustlib = toolchain.sysroot / "lib" / "rustlib"
    if not rustlib.is_dir():
        return []
    return sorted(d.name for d in rustlib.iterdir() if d.is_dir() and any((d / "lib").glob("libstd-*.rlib")))


@functools.cache
def known_targets(toolchain: RustToolchain) -> frozenset[str]:
    """Every triple this rustc can compile for (std installed or not)."""
    out = query(str(toolchain.rustc), ["--print", "target-list"], proc.base_env(), "/")
    return frozenset(out.split())


def linker_env_var(triple: str) -> str:
    return "CARGO_TARGET_" + re.sub(r"[^A-Za-z0-9]", "_", triple).upper() + "_LINKER"


def find_linker(
    toolchain: RustToolchain,
    arch: Arch,
    project_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
) -> Linker | None:
    """The linker cargo will use for ``arch``, as cargo looks for it; None when none is needed
    (the host triple) or none is found.

    Order: $CARGO_TARGET_<TRIPLE>_LINKER, ``[target.<triple>] linker`` in .cargo/config(.toml)
    from ``project_dir`` upwards then $CARGO_HOME, then ``<gnu-triple>-gcc`` on PATH.
    """
    env = os.environ if env is None else env
    triple = arch.rust_triple
    if triple is None:
        return None
    var = linker_env_var(triple)
    if env.get(var):
        return Linker(env[var], f"env {var}")
    for config in _cargo_configs(Path(project_dir), env):
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue  # cargo reports a broken config itself, better than we could
        target = data.get("target", {}).get(triple, {})
        if isinstance(target, dict) and isinstance(target.get("linker"), str):
            return Linker(target["linker"], str(config))
    if triple == toolchain.host or arch.binary_format == "wasm":  # wasm: rustc links with its rust-lld
        return None
    if arch.libc == "musl":  # static, linked by the toolchain's rust-lld: no C toolchain
        lld = musl.rust_lld(toolchain)
        return Linker(str(lld), musl.SOURCE) if lld is not None else None
    gcc = shutil.which(f"{arch.gnu_triple}-gcc", path=env.get("PATH"))
    return Linker(gcc, "PATH") if gcc else None


def _cargo_configs(start: Path, env: Mapping[str, str]) -> list[Path]:
    """Cargo config files in cargo's precedence order (nearest first)."""
    dirs = [start.resolve(), *start.resolve().parents]
    cargo_home = Path(env.get("CARGO_HOME") or Path.home() / ".cargo")
    found: list[Path] = []
    for d in [*(p / ".cargo" for p in dirs), cargo_home]:
        # Both present: cargo reads the one without extension (and warns).
        for name in ("config", "config.toml"):
            if (d / name).is_file():
                if (d / name).resolve() not in [f.resolve() for f in found]:
                    found.append(d / name)
                break
    return found


def readiness(
    toolchain: RustToolchain,
    arch: Arch,
    project_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
) -> Missing | None:
    """None when Rust tests can be built for ``arch`` here, else what is missing and the fix."""
    target = rust_target(arch, toolchain)
    if target is None or target.triple not in known_targets(toolchain):
        what = "no Rust target"
        if target is not None:
            what = f"rustc {toolchain.version} does not know the target {target.triple}"
        return Missing(
            f"{what} for {arch.name}",
            f"leave {arch.name} out of --arch for Rust tests, or use a Rust toolchain that supports it",
        )
    triple = target.triple
    problems: list[Missing] = []
    if builds_std(toolchain, target):
        if library_source(toolchain) is None:
            problems.append(_source_missing(toolchain, target))
    elif triple not in installed_targets(toolchain):
        problems.append(_std_missing(toolchain, target))
    user_linker = find_linker(toolchain, arch, project_dir, env)
    if arch.libc == "musl":  # its linker comes with the toolchain that has its std: say it once
        if not problems and user_linker is None:
            problems.append(_no_rust_lld(toolchain, triple))
    elif arch.binary_format == "wasm":
        pass  # rustc links wasm itself (rust-lld), with no C toolchain
    elif triple != toolchain.host and user_linker is None and lld_link.route(arch) is not None:
        link = lld_link.cargo_link_env(arch)  # no cross gcc exists: clang and lld link it
        if isinstance(link, lld_link.LinkMissing):
            problems.append(Missing(link.what, link.fix))
    elif triple != toolchain.host and user_linker is None:
        problems.append(
            Missing(
                f"no linker for {triple} ({arch.gnu_triple}-gcc is not on PATH; neither "
                f"{linker_env_var(triple)} nor [target.{triple}] linker in .cargo/config.toml is set)",
                f"apt-get install gcc-{arch.gnu_triple} libc6-dev-{arch.debian_arch}-cross",
            )
        )
    if not problems:
        return None
    return Missing("; ".join(p.reason for p in problems), "; ".join(p.fix for p in problems))


def _no_rust_lld(toolchain: RustToolchain, triple: str) -> Missing:
    where = toolchain.sysroot / "lib" / "rustlib" / toolchain.host / "bin"
    return Missing(
        f"no linker for {triple} (it is linked statically by rust-lld, and {where} has none)",
        f"use a rustup toolchain (its rustc ships rust-lld), or set {linker_env_var(triple)}",
    )


def builds_std(toolchain: RustToolchain, target: RustTarget) -> bool:
    """Whether cargo must build ``target``'s std from source with ``toolchain`` (-Zbuild-std):
    the target's route says so and no prebuilt std for it is installed anyway."""
    return target.builds_std and target.triple not in installed_targets(toolchain)


def can_unwind(toolchain: RustToolchain, target: RustTarget) -> bool:
    """Whether ``target``'s tests could be built to unwind instead of abort with ``toolchain``:
    wasm (whose std is panic=abort) with a nightly toolchain, which may rebuild std with
    panic_unwind and wasm exception handling (`-Zbuild-std`)."""
    return target.arch.binary_format == "wasm" and "nightly" in toolchain.version


def unwinds(toolchain: RustToolchain, target: RustTarget) -> bool:
    """Whether ``target``'s tests are built to unwind: it can (see can_unwind) and the
    toolchain's library source is installed (rustup's rust-src). Then a failing test no longer
    takes the whole test process down, and libtest reports every test from one process."""
    return can_unwind(toolchain, target) and library_source(toolchain) is not None


def library_source(toolchain: RustToolchain) -> Path | None:
    """The library source build-std compiles (rustup's rust-src, Debian's rust-web-src), if any."""
    library = toolchain.sysroot / SRC_DIR
    return library if (library / "std" / "Cargo.toml").is_file() else None


def _source_missing(toolchain: RustToolchain, target: RustTarget) -> Missing:
    """Why std cannot be built for ``target`` with ``toolchain`` (no library source), and the fix."""
    reason = (
        f"no prebuilt Rust std exists for {target.triple} here, so it is built from source, and "
        f"{toolchain.sysroot / SRC_DIR} holds none"
    )
    name = toolchain.rustup_toolchain
    if name is not None:
        return Missing(reason, f"rustup component add rust-src --toolchain {name}")
    owner = _dpkg_owner(toolchain)
    if owner is not None:  # a Debian-installed rustc: its source package, at its version
        pkg, version = owner
        source = "rust-web-src" if "-web" in pkg else "rust-src"
        return Missing(reason, f"apt-get install {source}={version}")
    if (toolchain.sysroot.parent / debian_rust.MARKER).is_file():
        return Missing(reason, f"python -m pytest_multiarch setup --arch={target.arch.name}")
    return Missing(
        reason, f"install the library source of Rust {toolchain.version} there, or use a rustup toolchain "
        "(multiarch_cargo / $CARGO) and run: rustup component add rust-src",
    )  # fmt: skip


def _std_missing(toolchain: RustToolchain, target: RustTarget) -> Missing:
    """Why ``target``'s std is not in ``toolchain``, and the fix its std source calls for."""
    arch, triple = target.arch, target.triple
    reason = (
        f"the Rust {toolchain.version} standard library for {triple} is not installed in {toolchain.sysroot}"
    )
    name = toolchain.rustup_toolchain
    if name is not None and target.rustup_std:
        return Missing(reason, f"rustup target add --toolchain {name} {triple}")
    if target.debian_note:
        return Missing(f"{reason}, and Debian has none to add ({target.debian_note})", target.no_debian_fix)
    owner = _dpkg_owner(toolchain)
    if owner is not None:  # a Debian-installed rustc: the same std package, foreign architecture
        pkg, version = owner
        return Missing(
            reason,
            f"dpkg --add-architecture {arch.debian_arch} && apt-get update && "
            f"apt-get install {pkg}:{arch.debian_arch}={version}",
        )
    # A Debian rustc unpacked into a private prefix (what `setup` does): setup unpacks the
    # matching std package into the same prefix.
    return Missing(
        reason + " (the std of a target must be the exact version of rustc)",
        f"python -m pytest_multiarch setup --arch={arch.name}",
    )


def _dpkg_owner(toolchain: RustToolchain) -> tuple[str, str] | None:
    """(package, version) of the Debian package that installed the host's std, if dpkg did."""
    host_std = next((toolchain.sysroot / "lib/rustlib" / toolchain.host / "lib").glob("libstd-*.rlib"), None)
    dpkg_query = shutil.which("dpkg-query")
    if host_std is None or dpkg_query is None:
        return None
    env = proc.base_env()
    res = proc.run([dpkg_query, "-S", str(host_std)], env=env, cwd="/", timeout=QUERY_TIMEOUT)
    if not res.ok:
        return None
    pkg = res.stdout.decode(errors="replace").split(":", 1)[0].strip()
    ver = proc.run([dpkg_query, "-W", "-f=${Version}", pkg], env=env, cwd="/", timeout=QUERY_TIMEOUT)
    return (pkg, ver.stdout.decode(errors="replace").strip()) if ver.ok else None
