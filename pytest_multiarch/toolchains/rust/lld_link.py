"""Linking Rust for an architecture that Debian 12 has no cross gcc for: clang drives lld against
a cross C library unpacked from Debian 13's ``Architecture: all`` packages.

loong64 (``loongarch64-unknown-linux-gnu``) is such an architecture. Debian 12 has no
``gcc-loongarch64-linux-gnu`` and no loong64 libc, but Debian 13 ships the cross C library as
arch-independent packages. ``setup`` unpacks them (``dpkg -x``, never installed) into
``<home>/sysroots/<gnu triple>`` and writes :data:`MARKER` last. clang only drives the link: with
``--target`` and ``--sysroot`` it finds glibc's and libgcc's crt objects and libraries there. The
link is static (``+crt-static``), so the test binary runs under qemu-user with no sysroot, like
Go's binaries.

lld 19 (Debian 12's main) links a static LoongArch glibc program that crashes in its first IFUNC
resolver (a GOT entry left zero); lld 22 (Debian 12's security suite) links it right. So the
linker is lld 22, named to the clang 19 driver with ``--ld-path``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import env as envvars
from pytest_multiarch.arch import Arch

SYSROOTS = "sysroots"  # under the provisioning home
MARKER = ".complete"  # written last; holds the names (with versions) of the .deb files unpacked
DRIVER = "clang-19"  # Debian 12 main
LLD = "ld.lld-22"  # Debian 12 security: lld 19 mislinks static LoongArch glibc programs
APT_PACKAGES = {DRIVER: "clang-19", LLD: "lld-22"}  # program -> the Debian 12 package that has it
SUITE = "trixie"  # the release whose arch-independent cross packages we unpack
SETUP_FIX = "python -m pytest_multiarch setup --arch={arch}"


@dataclass(frozen=True)
class Route:
    """How one architecture is linked: clang's target and the cross packages of its sysroot."""

    arch: str  # canonical name, e.g. "loong64"
    clang_target: str  # e.g. "loongarch64-linux-gnu"
    packages: tuple[str, ...]  # Debian 13's cross packages unpacked into the sysroot
    needed: tuple[str, ...]  # files under the sysroot a static link needs (checked after unpacking)


ROUTES: dict[str, Route] = {
    "loong64": Route(
        "loong64",
        "loongarch64-linux-gnu",
        (
            "libc6-loong64-cross",
            "libc6-dev-loong64-cross",
            "linux-libc-dev-loong64-cross",
            "libgcc-s1-loong64-cross",
            "libgcc-14-dev-loong64-cross",
        ),
        (
            "usr/loongarch64-linux-gnu/lib/crt1.o",
            "usr/loongarch64-linux-gnu/lib/libc.a",
            "usr/lib/gcc-cross/loongarch64-linux-gnu/14/crtbeginT.o",
            "usr/lib/gcc-cross/loongarch64-linux-gnu/14/libgcc_eh.a",
        ),
    ),
}


def route(arch: Arch) -> Route | None:
    """The clang+lld route of ``arch``, or None when it links with a cross gcc (or not at all)."""
    return ROUTES.get(arch.name)


def sysroot(arch: Arch, home: Path | None = None) -> Path:
    """``<home>/sysroots/loongarch64-linux-gnu``: where setup unpacks ``arch``'s C library."""
    return (home or envvars.home()) / SYSROOTS / arch.gnu_triple


def sysroot_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


@dataclass(frozen=True)
class LinkEnv:
    """What makes cargo link the target this way: set ``variables`` in cargo's environment.

    They also give the ``cc`` crate its compiler (``CC_<triple>``, ``CFLAGS_<triple>``), so a
    crate whose build script compiles C builds too.

    ``rustflags`` are the words of the ``..._RUSTFLAGS`` variable, for a caller that merges them
    into its own flags: cargo ignores ``CARGO_TARGET_<TRIPLE>_RUSTFLAGS`` when ``RUSTFLAGS`` or
    ``CARGO_ENCODED_RUSTFLAGS`` is set.
    """

    variables: Mapping[str, str]
    rustflags: tuple[str, ...]
    sysroot: Path
    identity: str  # for build cache keys: the driver, the linker and the sysroot's packages


@dataclass(frozen=True)
class LinkMissing:
    """What the route lacks here, and the command that provides it."""

    what: str
    fix: str


def cargo_target_key(triple: str) -> str:
    """``LOONGARCH64_UNKNOWN_LINUX_GNU``: the triple as cargo spells it in variable names."""
    return triple.upper().replace("-", "_").replace(".", "_")


def cargo_link_env(
    arch: Arch, home: Path | None = None, which: Callable[[str], str | None] = shutil.which
) -> LinkEnv | LinkMissing:
    """Cargo's environment to link ``arch`` with clang+lld against its unpacked sysroot.

    ``home`` is the provisioning root (default ``$MULTIARCH_HOME`` or /opt/pytest-multiarch).
    Raises ValueError for an architecture without such a route (see :func:`route`).
    """
    r = route(arch)
    if r is None or arch.rust_triple is None:
        raise ValueError(f"{arch.name} is not linked with clang and lld")
    fix = SETUP_FIX.format(arch=arch.name)
    tools = {name: which(name) for name in (DRIVER, LLD)}
    absent = [f"{name} (Debian package {APT_PACKAGES[name]})" for name, path in tools.items() if path is None]
    if absent:
        return LinkMissing(f"no {' or '.join(absent)} to link Rust for {arch.name}", fix)
    root = sysroot(arch, home)
    if not sysroot_complete(root):
        return LinkMissing(f"no {arch.name} C library in {root} to link Rust for {arch.name} against", fix)
    if any(c.isspace() for c in str(root)):  # cargo and cc split the flags at whitespace
        return LinkMissing(
            f"the {arch.name} sysroot's path {root} has a space, which cargo's RUSTFLAGS cannot carry",
            f"MULTIARCH_HOME=<a path without spaces> {fix}",
        )
    driver, lld = tools[DRIVER], tools[LLD]
    assert driver is not None and lld is not None
    flags = (
        "-C", "target-feature=+crt-static",
        "-C", f"link-arg=--target={r.clang_target}",
        "-C", f"link-arg=--sysroot={root}",
        "-C", f"link-arg=--ld-path={lld}",
    )  # fmt: skip
    key = cargo_target_key(arch.rust_triple)
    cc_key = arch.rust_triple.replace("-", "_")  # the cc crate's spelling: C code in build scripts
    variables = {
        f"CARGO_TARGET_{key}_LINKER": driver,
        f"CARGO_TARGET_{key}_RUSTFLAGS": " ".join(flags),
        f"CC_{cc_key}": driver,
        f"CFLAGS_{cc_key}": f"--target={r.clang_target} --sysroot={root}",
    }
    debs = sorted((root / MARKER).read_text(encoding="utf-8").split())
    return LinkEnv(variables, flags, root, " ".join([driver, lld, "static", *debs]))
