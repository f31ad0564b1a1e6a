"""Rust: the toolchain, test binary and test records, the errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch.errors import MultiarchError

INSTALL_FIX = (
    "python -m pytest_multiarch setup (installs Debian's Rust with cross standard libraries, found "
    "without any setting), or install Rust with rustup (https://rustup.rs), or point the ini option "
    "multiarch_cargo or $CARGO at a cargo"
)
NOT_FOUND = f"cargo not found ($CARGO, multiarch_cargo, PATH, setup's prefixes). Fix: {INSTALL_FIX}"
QUERY_TIMEOUT = 60.0
LIST_TIMEOUT = 120.0  # a listing is one emulated start (~0.1 s); generous for loaded CI machines
BUILD_TIMEOUT = 1800.0  # cold builds compile every dependency for the target

# libtest's JSON output and listing are unstable options; RUSTC_BOOTSTRAP=1 in the test binary's
# environment makes a stable libtest accept them (it reads the variable at run time).
RUN_ENV: Mapping[str, str] = {"RUSTC_BOOTSTRAP": "1"}

DOCTEST_NOTE = (
    "Rust doc tests are not run cross-architecture (rustdoc would have to compile and run each one "
    "under the emulator); run `cargo test --doc` natively for them"
)

# What to do when a target's std cannot come from Debian: a rustup target, or rustup's library
# source to build std from (tier 3). targets.py says which applies to each architecture.
RUSTUP_FIX = "use a rustup toolchain (multiarch_cargo / $CARGO) and run: rustup target add {triple}"
BUILD_STD_FIX = (
    "{triple} has no prebuilt std to use (the MIPS targets are tier 3 since Rust 1.72), so its std is "
    "built from source: "
    "use a rustup toolchain (multiarch_cargo / $CARGO) and run: rustup component add rust-src; or "
    "leave {arch} out"
)


class RustError(MultiarchError):
    """A cargo, rustc or test-binary step failed; the message says what, why and what to do."""


class RustToolchainError(RustError):
    """No usable cargo/rustc."""

    becomes = "skip"  # a missing toolchain (see errors.py)


class RustBuildError(RustError):
    """`cargo test --no-run` failed; the message holds rustc's rendered errors."""

    def __init__(self, message: str, diagnostics: Sequence[str], argv: Sequence[str]) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)
        self.argv = list(argv)


@dataclass(frozen=True)
class RustToolchain:
    cargo: Path
    rustc: Path
    sysroot: Path
    version: str  # rustc's release, e.g. "1.85.0"; a target's std must match it exactly
    host: str  # rustc's host triple

    @property
    def rustup_toolchain(self) -> str | None:
        """The rustup toolchain name when rustup manages this sysroot, else None."""
        if (self.sysroot / "lib/rustlib/multirust-channel-manifest.toml").is_file():
            return self.sysroot.name
        return None


@dataclass(frozen=True)
class Missing:
    """Why Rust tests cannot be built for an architecture, and the command that fixes it."""

    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.reason}. Fix: {self.fix}"


@dataclass(frozen=True)
class Linker:
    program: str
    source: str  # "env CARGO_TARGET_..._LINKER", "<config path>", or "PATH"


@dataclass(frozen=True)
class TestBinary:
    """One test executable cargo built (a lib's, a bin's, an integration test's unit tests...)."""

    kind: str  # "lib", "bin", "test", "bench", "example" or "proc-macro"
    target_name: str
    package_name: str
    package_version: str
    executable: Path
    src_path: Path
    manifest_path: Path
    triple: str  # what it was built for: the host's for proc-macro crates, whatever --target says
    harness: bool = True  # False: `harness = false`, a plain program that is not libtest
    doctest: bool = False  # the lib target has doc tests enabled (they are not run cross)
    __test__ = False  # not a pytest test class, despite the name

    @property
    def package_dir(self) -> Path:
        """Where cargo runs this binary (its package root): use it as the run's cwd."""
        return self.manifest_path.parent

    @property
    def binary_id(self) -> str:
        """A stable id within a workspace, as cargo-nextest spells it: `pkg`, `pkg::bin/x`."""
        if self.kind in ("lib", "proc-macro"):
            return self.package_name
        if self.kind == "test":
            return f"{self.package_name}::{self.target_name}"
        return f"{self.package_name}::{self.kind}/{self.target_name}"


@dataclass(frozen=True)
class ListedTest:
    name: str
    ignored: bool
    ignore_reason: str = ""
    source_path: str = ""  # relative to the workspace root, as rustc saw it; "" when unknown
    line: int = 0
