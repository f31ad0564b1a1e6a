"""toolchains/rust/targets.py: one Rust target per architecture and toolchain, with where its std
comes from and its linker (fast: no tool is run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains import rust

HOST = "x86_64-unknown-linux-gnu"

# name: (triple, std kind with Debian's Rust, std kind with rustup's, linker, rustup ships a std)
EXPECTED: dict[str, tuple[str, str, str, str, bool]] = {
    "amd64": ("x86_64-unknown-linux-gnu", "debian", "rustup", "x86_64-linux-gnu-gcc", True),
    "386": ("i686-unknown-linux-gnu", "debian", "rustup", "i686-linux-gnu-gcc", True),
    "arm64": ("aarch64-unknown-linux-gnu", "debian", "rustup", "aarch64-linux-gnu-gcc", True),
    "arm": ("armv7-unknown-linux-gnueabihf", "debian", "rustup", "arm-linux-gnueabihf-gcc", True),
    "ppc64le": ("powerpc64le-unknown-linux-gnu", "debian", "rustup", "powerpc64le-linux-gnu-gcc", True),
    "s390x": ("s390x-unknown-linux-gnu", "debian", "rustup", "s390x-linux-gnu-gcc", True),
    "riscv64": ("riscv64gc-unknown-linux-gnu", "build-std", "rustup", "riscv64-linux-gnu-gcc", True),
    "ppc64": ("powerpc64-unknown-linux-gnu", "build-std", "rustup", "powerpc64-linux-gnu-gcc", True),
    "mips64le": ("mips64el-unknown-linux-gnuabi64", "build-std", "build-std", "mips64el-linux-gnuabi64-gcc",
                 False),
    "mips64": ("mips64-unknown-linux-gnuabi64", "build-std", "build-std", "mips64-linux-gnuabi64-gcc", False),
    "mipsle": ("mipsel-unknown-linux-gnu", "build-std", "build-std", "mipsel-linux-gnu-gcc", False),
    "mips": ("mips-unknown-linux-gnu", "build-std", "build-std", "mips-linux-gnu-gcc", False),
    "loong64": ("loongarch64-unknown-linux-gnu", "build-std", "build-std",
                "clang-19 driving ld.lld-22 (static)", False),
    # musl: rustup's std or none (Debian packages none), linked by rust-lld
    "amd64-musl": ("x86_64-unknown-linux-musl", "rustup", "rustup", "rust-lld", True),
    "arm64-musl": ("aarch64-unknown-linux-musl", "rustup", "rustup", "rust-lld", True),
    "386-musl": ("i686-unknown-linux-musl", "rustup", "rustup", "rust-lld", True),
    # WebAssembly: rustup's std (WASI's libc in it), linked by rustc's own rust-lld
    "wasm": ("wasm32-wasip1", "rustup", "rustup", "rust-lld (rustc's own, for wasm)", True),
}  # fmt: skip


def _toolchain(sysroot: Path, host: str = "aarch64-unknown-linux-gnu") -> rust.RustToolchain:
    return rust.RustToolchain(Path("/bin/cargo"), Path("/bin/rustc"), sysroot, "1.85.0", host)


@pytest.fixture
def rustup(tmp_path: Path) -> rust.RustToolchain:
    """A toolchain record whose sysroot looks like rustup's (no tool is run)."""
    sysroot = tmp_path / "toolchains" / "stable-x86_64-unknown-linux-gnu"
    (sysroot / "lib/rustlib").mkdir(parents=True)
    (sysroot / "lib/rustlib/multirust-channel-manifest.toml").write_text("")
    return _toolchain(sysroot, host=HOST)


def test_every_builtin_architecture_is_in_the_table() -> None:
    assert sorted(EXPECTED) == sorted(a.name for a in archmod.ARCHES if a.rust_triple)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_builtin_architecture_gets_its_target(name: str, rustup: rust.RustToolchain) -> None:
    triple, debian_kind, rustup_kind, linker, rustup_std = EXPECTED[name]
    a = archmod.get(name)
    debian = rust.rust_target(a)  # Debian's Rust, as setup unpacks it
    assert debian is not None
    assert (debian.arch, debian.triple, debian.std.kind, debian.linker) == (a, triple, debian_kind, linker)
    assert debian.rustup_std is rustup_std
    assert debian.builds_std is (debian_kind == "build-std")
    with_rustup = rust.rust_target(a, rustup)
    assert with_rustup is not None
    assert (with_rustup.triple, with_rustup.std.kind) == (triple, rustup_kind)
    assert with_rustup.linker == ("cc" if triple == HOST else linker)  # the host links with cc
    assert bool(debian.debian_note) == (debian_kind != "debian")  # why Debian has none, if it has none


def test_std_sources_are_named() -> None:
    s390x = rust.rust_target(archmod.get("s390x"))
    assert s390x is not None and s390x.std == rust.StdSource("debian", "libstd-rust-web-dev:s390x")
    assert str(s390x.std) == "Debian's libstd-rust-web-dev:s390x"
    riscv = rust.rust_target(archmod.get("riscv64"))  # Debian has no riscv64 std: built from its source
    assert riscv is not None and str(riscv.std) == "build-std from Debian's rust-web-src"
    mips = rust.rust_target(archmod.get("mips"))
    assert mips is not None and mips.describe() == (
        "mips-unknown-linux-gnu, std: build-std from Debian's rust-web-src, linker mips-linux-gnu-gcc"
    )


def test_build_std_names_the_source_of_each_kind_of_toolchain(
    rustup: rust.RustToolchain, tmp_path: Path
) -> None:
    mips64 = archmod.get("mips64")
    with_rustup = rust.rust_target(mips64, rustup)
    assert with_rustup is not None
    assert str(with_rustup.std) == "build-std from the rust-src component of stable-x86_64-unknown-linux-gnu"
    riscv = rust.rust_target(archmod.get("riscv64"), rustup)  # rustup has a prebuilt riscv64 std
    assert riscv is not None and str(riscv.std) == "rustup target riscv64gc-unknown-linux-gnu"
    prefix = tmp_path / "rust-1.85"
    (prefix / "usr").mkdir(parents=True)
    (prefix / ".debian-version").write_text("1.85.0+dfsg3-1~deb12u3\n")
    debian = rust.rust_target(mips64, _toolchain(prefix / "usr"))
    assert debian is not None and str(debian.std) == "build-std from Debian's rust-web-src"
    other = rust.rust_target(mips64, _toolchain(tmp_path / "elsewhere"))
    assert other is not None
    assert str(other.std) == f"build-std from the library source in {tmp_path / 'elsewhere' / rust.SRC_DIR}"


def test_the_fix_when_debian_has_no_std() -> None:
    riscv = rust.rust_target(archmod.get("riscv64"))
    assert riscv is not None and riscv.debian_note == "riscv64 is not a Debian 12 architecture"
    assert riscv.no_debian_fix == rust.RUSTUP_FIX.format(triple="riscv64gc-unknown-linux-gnu")
    mips64le = rust.rust_target(archmod.get("mips64le"))
    assert mips64le is not None and mips64le.debian_note == "Debian 12's mips64el std stops at Rust 1.70"
    assert mips64le.no_debian_fix == rust.BUILD_STD_FIX.format(
        triple="mips64el-unknown-linux-gnuabi64", arch="mips64le"
    )


def test_a_debian_toolchain_takes_debians_std(tmp_path: Path) -> None:
    debian = _toolchain(tmp_path / "prefix" / "usr")  # no rustup manifest: not rustup's
    target = rust.rust_target(archmod.get("arm64"), debian)
    assert target is not None and target.std.kind == "debian"
    assert target.linker == "cc"  # arm64 is this toolchain's host


def test_an_architecture_a_hook_adds() -> None:
    without = Arch("sparc64", (), 64, "big", "sparc64", None, None, "sparc64", "sparc64",
                   "sparc64-linux-gnu", "linux/sparc64", "EM_SPARCV9", 64)  # fmt: skip
    assert rust.rust_target(without) is None
    with_triple = dataclasses.replace(without, rust_triple="sparc64-unknown-linux-gnu")
    target = rust.rust_target(with_triple)
    assert target is not None
    assert (target.triple, target.std.kind, target.linker) == (
        "sparc64-unknown-linux-gnu", "debian", "sparc64-linux-gnu-gcc"
    )  # fmt: skip
    assert target.rustup_std and not target.debian_note
