"""Rust: the one target each architecture builds for, and where that target's std comes from.

The choice is made here and only here (:func:`rust_target`): `readiness`, `setup`'s plan and
`doctor` read the :class:`RustTarget` it returns instead of deciding again. A target's standard
library comes from one of three places:

- ``rustup``: a prebuilt std that ``rustup target add`` installs into a rustup toolchain;
- ``debian``: Debian's cross std (``libstd-rust-web-dev:<debian-arch>``), which ``setup`` unpacks
  beside Debian's rustc;
- ``build-std``: no prebuilt std is usable, so cargo builds std from a named source
  (``-Zbuild-std``), which needs a nightly toolchain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.rust.debian import STD_PACKAGE
from pytest_multiarch.toolchains.rust.model import BUILD_STD_FIX, RUSTUP_FIX, RustToolchain

StdKind = Literal["rustup", "debian", "build-std"]
Channel = Literal["stable", "nightly"]
Route = Literal["prebuilt", "rustup", "build-std"]  # prebuilt: rustup's or Debian's, by toolchain

# Where build-std takes std's source from.
NIGHTLY_RUST_SRC = "rust-src of a nightly toolchain"


@dataclass(frozen=True)
class StdSource:
    """Where a target's standard library comes from: the kind, and the name of the thing."""

    kind: StdKind
    name: str  # the rustup target, Debian's package, or build-std's source

    def __str__(self) -> str:
        if self.kind == "rustup":
            return f"rustup target {self.name}"
        if self.kind == "debian":
            return f"Debian's {self.name}"
        return f"build-std from {self.name}"


@dataclass(frozen=True)
class RustTarget:
    """The Rust target chosen for one architecture and toolchain."""

    arch: Arch
    triple: str
    std: StdSource
    channel: Channel  # the toolchain channel the std source needs
    linker: str  # "<gnu-triple>-gcc", "rust-lld", or "cc" for the toolchain's own host
    rustup_std: bool  # rustup ships a prebuilt std for the triple (False: tier 3)
    debian_note: str = ""  # why Debian 12 has no std to unpack for it; "" when it has one

    @property
    def no_debian_fix(self) -> str:
        """What to do when Debian has no std for the target: rustup, or build std."""
        template = RUSTUP_FIX if self.rustup_std else BUILD_STD_FIX
        return template.format(triple=self.triple, arch=self.arch.name)

    def describe(self) -> str:
        """``<triple>, std: <source>, linker <linker>`` (doctor's words)."""
        return f"{self.triple}, std: {self.std}, linker {self.linker}"


@dataclass(frozen=True)
class _Facts:
    route: Route
    debian_note: str = ""
    rustup_std: bool = True
    linker: Literal["gcc", "rust-lld"] = "gcc"


# The built-in architectures whose std is not simply prebuilt; any other architecture with a
# Rust triple (amd64, 386, arm, arm64, ppc64le, s390x, and ones hooks add) has a prebuilt std:
# rustup's for a rustup toolchain, Debian's for Debian's.
_FACTS: dict[str, _Facts] = {
    "riscv64": _Facts("rustup", "riscv64 is not a Debian 12 architecture"),
    "ppc64": _Facts("rustup", "ppc64 is not a Debian 12 release architecture"),
    # Rust 1.72 moved the MIPS targets to tier 3: no prebuilt std anywhere.
    "mips64le": _Facts("build-std", "Debian 12's mips64el std stops at Rust 1.70", rustup_std=False),
    "mips64": _Facts("build-std", "mips64 is not a Debian 12 release architecture", rustup_std=False),
    "mipsle": _Facts("build-std", "mipsel is not a Debian 12 release architecture", rustup_std=False),
    "mips": _Facts("build-std", "mips is not a Debian 12 release architecture", rustup_std=False),
    # rustup lists a loongarch64 std, but its download was refused where this was tried; nightly
    # build-std linked by rust-lld worked.
    "loong64": _Facts("build-std", "loong64 is not a Debian 12 architecture", linker="rust-lld"),
}
_PREBUILT = _Facts("prebuilt")


def rust_target(arch: Arch, toolchain: RustToolchain | None = None) -> RustTarget | None:
    """The Rust target for ``arch`` built with ``toolchain``; None when ``arch`` has no Rust triple.

    ``toolchain`` None means Debian's Rust as ``setup`` unpacks it (no toolchain chosen yet).
    """
    triple = arch.rust_triple
    if triple is None:
        return None
    facts = _FACTS.get(arch.name, _PREBUILT)
    rustup = toolchain is not None and toolchain.rustup_toolchain is not None
    std: StdSource
    if facts.route == "build-std":
        std = StdSource("build-std", NIGHTLY_RUST_SRC)
    elif facts.route == "rustup" or rustup:
        std = StdSource("rustup", triple)
    else:
        std = StdSource("debian", f"{STD_PACKAGE}:{arch.debian_arch}")
    if toolchain is not None and triple == toolchain.host:
        linker = "cc"
    elif facts.linker == "rust-lld":
        linker = "rust-lld"
    else:
        linker = f"{arch.gnu_triple}-gcc"
    channel: Channel = "nightly" if std.kind == "build-std" else "stable"
    return RustTarget(arch, triple, std, channel, linker, facts.rustup_std, facts.debian_note)
