"""Rust for the musl columns (``amd64-musl``, ``arm64-musl``, ``386-musl``): static programs
linked by the toolchain's own ``rust-lld``, with no C toolchain at all.

rustup's std for a ``*-unknown-linux-musl`` target carries musl itself (``libc.a`` and the crt
objects, under ``lib/self-contained``). Naming ``rust-lld`` as the linker is all it takes: rustc
infers an lld linker flavor from that name, and for a musl target with ``crt-static`` (its
default) it links the self-contained crt objects and libc, so no ``-C link-self-contained=yes``
is needed (and none is passed: a flag in RUSTFLAGS would replace the user's own).

What such a build cannot do is compile C: a crate whose build script compiles C through the
``cc`` crate needs a musl C compiler for the target. When there is none, cc says so, naming the
compiler it looked for, and the build becomes a skip that says which compiler to install.
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.rust.model import RustBuildError, RustToolchain

SOURCE = "the toolchain's rust-lld"  # Linker.source of the linker find_linker picks for musl

# cc-rs's words for a C compiler it could not run: 1.1 and later
# `error occurred in cc-rs: failed to find tool "aarch64-linux-musl-gcc": No such file ...`,
# 1.0 `error occurred: Failed to find tool. Is `musl-gcc` installed?`.
_CC_MISSING = re.compile(r"failed to find tool(?:\. Is)? [`\"]([^`\"]+)[`\"]", re.IGNORECASE)


class NoMuslCCompiler(RustBuildError):
    """The crate compiles C (the ``cc`` crate) for a musl target, and there is no musl C
    compiler for it here: a skip that says so, not a build failure."""

    becomes = "skip"


def rust_lld(toolchain: RustToolchain) -> Path | None:
    """The ``rust-lld`` that ships with ``toolchain`` (in its host's rustlib bin), if any."""
    lld = toolchain.sysroot / "lib" / "rustlib" / toolchain.host / "bin" / "rust-lld"
    return lld if lld.is_file() else None


def missing_c_compiler(stderr: str) -> str | None:
    """The C compiler the cc crate looked for and did not find, from cargo's stderr; else None."""
    m = _CC_MISSING.search(stderr)
    return m.group(1) if m else None


def c_compiler_fix(arch: Arch) -> str:
    """How to get a musl C compiler for ``arch`` (what the cc crate looks for first)."""
    triple = arch.rust_triple or ""
    suffix = triple.replace("-", "_")
    if arch.goarch == "amd64":
        return f"apt-get install musl-tools (x86_64-linux-musl-gcc), or leave {arch.name} out for this crate"
    return (
        f"Debian has no musl C cross compiler for {arch.goarch}: set CC_{suffix} (and AR_{suffix}) to "
        f"a musl C compiler for {triple} (e.g. a musl-cross-make toolchain), or leave {arch.name} "
        "out for this crate"
    )


def no_c_compiler(arch: Arch, compiler: str, argv: list[str]) -> NoMuslCCompiler:
    """The skip for a crate whose build script found no musl C compiler ``compiler``."""
    message = (
        f"the crate compiles C (the cc crate) for {arch.rust_triple}, and there is no musl C "
        f"compiler for it here (cc looked for {compiler}). Fix: {c_compiler_fix(arch)}"
    )
    return NoMuslCCompiler(message, [], argv)
