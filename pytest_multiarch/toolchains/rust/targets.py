"""Rust: the one target each architecture builds for, and where that target's std comes from.

The choice is made here and only here (:func:`rust_target`): the build command, the cache key,
`readiness`, `setup`'s plan and `doctor` read the :class:`RustTarget` it returns instead of
deciding again. A target's standard library comes from one of three places:

- ``rustup``: a prebuilt std that ``rustup target add`` installs into a rustup toolchain;
- ``debian``: Debian's cross std (``libstd-rust-web-dev:<debian-arch>``), which ``setup`` unpacks
  beside Debian's rustc;
- ``build-std``: no prebuilt std is usable, so cargo builds std from the toolchain's own library
  source (``-Zbuild-std``, allowed on a stable rustc by ``RUSTC_BOOTSTRAP=1``): rustup's
  ``rust-src`` component, or Debian's ``rust-web-src`` unpacked into setup's prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.rust import lld_link
from pytest_multiarch.toolchains.rust.debian import MARKER as DEBIAN_MARKER
from pytest_multiarch.toolchains.rust.debian import SRC_PACKAGE, STD_PACKAGE
from pytest_multiarch.toolchains.rust.model import BUILD_STD_FIX, RUSTUP_FIX, RustToolchain

StdKind = Literal["rustup", "debian", "build-std"]
Route = Literal["prebuilt", "rustup", "build-std"]  # prebuilt: rustup's or Debian's, by toolchain

# Where a toolchain keeps its library source, relative to its sysroot (rustup and Debian alike).
SRC_DIR = "lib/rustlib/src/rust/library"


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
    linker: str  # "<gnu-triple>-gcc", clang driving lld (lld_link), or "cc" for the toolchain's host
    rustup_std: bool  # rustup ships a prebuilt std we can use for the triple (False: built from source)
    debian_note: str = ""  # why Debian 12 has no std to unpack for it; "" when it has one

    @property
    def builds_std(self) -> bool:
        """cargo builds this target's std from source (``-Zbuild-std``)."""
        return self.std.kind == "build-std"

    @property
    def no_debian_fix(self) -> str:
        """What to do when Debian's Rust cannot be had: rustup's std, or rustup's source."""
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
    # rustup lists a loongarch64 std, but its download was refused where this was tried (a 404,
    # final); build-std worked, linked without a loongarch64 gcc (Debian 12 has none).
    "loong64": _Facts("build-std", "loong64 is not a Debian 12 architecture", rustup_std=False),
}
_PREBUILT = _Facts("prebuilt")
# WebAssembly: rustup's std (it carries WASI's libc and start files), linked by rustc's own
# rust-lld; like musl, a std built from source would lack those.
_WASM = _Facts("rustup", "Debian packages no Rust std for wasm32-wasip1")
WASM_LINKER = "rust-lld (rustc's own, for wasm)"
# The musl columns: rustup's std (it carries musl's libc.a and crt objects), linked by rust-lld.
_MUSL = _Facts("rustup", "Debian packages no Rust std for musl targets")


def rust_target(arch: Arch, toolchain: RustToolchain | None = None) -> RustTarget | None:
    """The Rust target for ``arch`` built with ``toolchain``; None when ``arch`` has no Rust triple.

    ``toolchain`` None means Debian's Rust as ``setup`` unpacks it (no toolchain chosen yet).
    Where no prebuilt std exists for the toolchain, std is built from the toolchain's source.
    """
    triple = arch.rust_triple
    if triple is None:
        return None
    wasm = arch.binary_format == "wasm"
    facts = _FACTS.get(arch.name) or (_MUSL if arch.libc == "musl" else _WASM if wasm else _PREBUILT)
    rustup = toolchain.rustup_toolchain if toolchain is not None else None
    std: StdSource
    # musl: rustup's std or none (build-std would lack musl's libc.a and crt objects).
    if facts.route != "build-std" and (rustup is not None or arch.libc == "musl" or wasm):
        std = StdSource("rustup", triple)
    elif facts.route == "prebuilt":
        std = StdSource("debian", f"{STD_PACKAGE}:{arch.debian_arch}")
    else:
        std = StdSource("build-std", _source_name(toolchain))
    if toolchain is not None and triple == toolchain.host:
        linker = "cc"
    elif wasm:
        linker = WASM_LINKER
    elif arch.libc == "musl":  # static, with the std's own musl: the toolchain's rust-lld
        linker = "rust-lld"
    elif lld_link.route(arch) is not None:  # no cross gcc: clang drives lld, statically
        linker = f"{lld_link.DRIVER} driving {lld_link.LLD} (static)"
    else:
        linker = f"{arch.gnu_triple}-gcc"
    return RustTarget(arch, triple, std, linker, facts.rustup_std, facts.debian_note)


def _source_name(toolchain: RustToolchain | None) -> str:
    """Where ``toolchain`` keeps the library source build-std compiles (see the module's doc)."""
    if toolchain is None or (toolchain.sysroot.parent / DEBIAN_MARKER).is_file():
        return f"Debian's {SRC_PACKAGE}"
    if toolchain.rustup_toolchain is not None:
        return f"the rust-src component of {toolchain.rustup_toolchain}"
    return f"the library source in {toolchain.sysroot / SRC_DIR}"
