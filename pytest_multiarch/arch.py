"""The architecture registry: one frozen record per CPU architecture we know.

Parsing of user input (``--arch``, marker arguments) lives here and nowhere else.
Canonical names are Go's GOARCH names.
"""

from __future__ import annotations

import difflib
import platform
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from pytest_multiarch.errors import MultiarchError

Endian = Literal["little", "big"]
Libc = Literal["gnu", "musl"]  # the C library a program links: glibc (dynamic) or musl (static)


@dataclass(frozen=True)
class Arch:
    """Everything the rest of the code needs to build for and run on one architecture."""

    name: str  # Go's GOARCH
    aliases: tuple[str, ...]
    bits: int
    endian: Endian
    goarch: str
    goarm: str | None  # GOARM for 32-bit arm
    rust_triple: str | None  # None: no Rust target we can build (e.g. tier 3 only)
    qemu_name: str  # qemu-<qemu_name>[-static]
    debian_arch: str
    gnu_triple: str  # prefix of the cross gcc, name of the cross sysroot under /usr
    oci_platform: str
    elf_machine: str  # pyelftools' e_machine name
    elf_class: int  # 32 or 64
    goos: str = "linux"  # the OS its programs are built for: Go's GOOS
    binary_format: str = "elf"  # the file format of its programs, which executors check
    # The C library: "gnu" (glibc, the default) or "musl": a column of its own for the same CPU,
    # whose programs are linked statically (Go: CGO_ENABLED=0; Rust: the *-linux-musl target).
    libc: Libc = "gnu"
    # Word sizes (int, pointers) a language has here when they differ from ``bits``: Go's wasm
    # port has a 64-bit int and pointers where Rust's wasm32 has a 32-bit usize.
    language_bits: tuple[tuple[str, int], ...] = ()

    def __repr__(self) -> str:
        return f"Arch({self.name!r})"

    def __str__(self) -> str:
        return self.name

    @property
    def linux_elf(self) -> bool:
        """Its programs are Linux ELF executables: the qemu, Debian, gcc, OCI and ELF fields
        apply. (Not for wasm, whose fields of those kinds are empty.)"""
        return self.goos == "linux" and self.binary_format == "elf"

    def word_bits(self, language: str | None = None) -> int:
        """The size of ``int``/``usize`` and pointers for ``language`` ("go", "rust") here."""
        return dict(self.language_bits).get(language or "", self.bits)

    @property
    def elf_endian(self) -> str:
        return "ELFDATA2LSB" if self.endian == "little" else "ELFDATA2MSB"


def _arch(
    name: str,
    aliases: tuple[str, ...],
    bits: int,
    endian: Endian,
    rust: str | None,
    qemu: str,
    deb: str,
    gnu: str,
    oci: str,
    machine: str,
    goarm: str | None = None,
) -> Arch:
    return Arch(name, aliases, bits, endian, name, goarm, rust, qemu, deb, gnu, oci, machine, bits)


ARCHES: tuple[Arch, ...] = (
    _arch("amd64", ("x86_64", "x64", "x86-64"), 64, "little", "x86_64-unknown-linux-gnu",
          "x86_64", "amd64", "x86_64-linux-gnu", "linux/amd64", "EM_X86_64"),
    _arch("386", ("i386", "i686", "x86", "i486", "i586"), 32, "little", "i686-unknown-linux-gnu",
          "i386", "i386", "i686-linux-gnu", "linux/386", "EM_386"),
    _arch("arm64", ("aarch64", "armv8"), 64, "little", "aarch64-unknown-linux-gnu",
          "aarch64", "arm64", "aarch64-linux-gnu", "linux/arm64", "EM_AARCH64"),
    _arch("arm", ("armv7", "armhf", "armv7l", "arm32"), 32, "little",
          "armv7-unknown-linux-gnueabihf", "arm", "armhf", "arm-linux-gnueabihf", "linux/arm/v7",
          "EM_ARM", goarm="7"),
    _arch("riscv64", ("riscv", "rv64", "rv64gc"), 64, "little", "riscv64gc-unknown-linux-gnu",
          "riscv64", "riscv64", "riscv64-linux-gnu", "linux/riscv64", "EM_RISCV"),
    _arch("ppc64le", ("ppc64el", "powerpc64le"), 64, "little", "powerpc64le-unknown-linux-gnu",
          "ppc64le", "ppc64el", "powerpc64le-linux-gnu", "linux/ppc64le", "EM_PPC64"),
    _arch("ppc64", ("powerpc64",), 64, "big", "powerpc64-unknown-linux-gnu",
          "ppc64", "ppc64", "powerpc64-linux-gnu", "linux/ppc64", "EM_PPC64"),
    _arch("s390x", ("s390", "systemz"), 64, "big", "s390x-unknown-linux-gnu",
          "s390x", "s390x", "s390x-linux-gnu", "linux/s390x", "EM_S390"),
    _arch("mips64le", ("mips64el",), 64, "little", "mips64el-unknown-linux-gnuabi64",
          "mips64el", "mips64el", "mips64el-linux-gnuabi64", "linux/mips64le", "EM_MIPS"),
    _arch("mips64", (), 64, "big", "mips64-unknown-linux-gnuabi64",
          "mips64", "mips64", "mips64-linux-gnuabi64", "linux/mips64", "EM_MIPS"),
    _arch("mipsle", ("mipsel",), 32, "little", "mipsel-unknown-linux-gnu",
          "mipsel", "mipsel", "mipsel-linux-gnu", "linux/mipsle", "EM_MIPS"),
    _arch("mips", (), 32, "big", "mips-unknown-linux-gnu",
          "mips", "mips", "mips-linux-gnu", "linux/mips", "EM_MIPS"),
    _arch("loong64", ("loongarch64", "loong"), 64, "little", "loongarch64-unknown-linux-gnu",
          "loongarch64", "loong64", "loongarch64-linux-gnu", "linux/loong64", "EM_LOONGARCH"),
)  # fmt: skip


def _musl(twin: str, rust: str, aliases: tuple[str, ...]) -> Arch:
    """The static musl column of the CPU ``twin``: its CPU, emulator and ELF facts, another libc."""
    gnu = next(a for a in ARCHES if a.name == twin)
    return replace(gnu, name=f"{twin}-musl", aliases=aliases, rust_triple=rust, libc="musl")


# Not in ``--arch=all`` (the 13 CPUs, glibc): ``--arch=all,musl`` adds them (see parse_list).
ARCHES += (
    _musl("amd64", "x86_64-unknown-linux-musl", ("x86_64-musl", "x86_64-linux-musl")),
    _musl("arm64", "aarch64-unknown-linux-musl", ("aarch64-musl", "aarch64-linux-musl")),
    _musl("386", "i686-unknown-linux-musl", ("i386-musl", "i686-musl", "i686-linux-musl")),
)

# WebAssembly with WASI preview 1, run by wasmtime: an OS and a binary format of its own. Rust's
# wasm32 has 32-bit usize; Go's wasm port 64-bit int and pointers (strconv.IntSize is 64 there).
WASM = Arch(
    "wasm", ("wasm32", "wasip1", "wasm32-wasip1"), 32, "little", "wasm", None, "wasm32-wasip1",
    qemu_name="", debian_arch="", gnu_triple="", oci_platform="", elf_machine="", elf_class=0,
    goos="wasip1", binary_format="wasm", language_bits=(("go", 64),),
)  # fmt: skip
ARCHES += (WASM,)

_BY_NAME: dict[str, Arch] = {}
for _a in ARCHES:
    for _n in (_a.name, *_a.aliases):
        _BY_NAME[_n] = _a

SPECIAL_NAMES = ("native", "all", "musl")


def register(a: Arch) -> None:
    """Add an architecture (the ``pytest_multiarch_arches`` hook): known by its name and aliases
    from now on. Registering the same one again does nothing; another under a taken name is an
    ArchError."""
    global ARCHES
    for n in (a.name, *a.aliases):
        taken = _BY_NAME.get(n.lower())
        if taken is not None and taken != a:
            raise ArchError(f"cannot add architecture {a.name!r}: the name {n!r} is {taken.name}'s")
    if a in ARCHES:
        return
    ARCHES = (*ARCHES, a)
    for n in (a.name, *a.aliases):
        _BY_NAME[n.lower()] = a


class ArchError(MultiarchError, ValueError):
    """A user-given architecture name we do not know."""

    becomes = "usage"  # an --arch value, an ini entry, a hook's architecture


def known_names() -> list[str]:
    return [a.name for a in ARCHES]


def get(name: str) -> Arch:
    """Look up one architecture by canonical name or alias (case-insensitive)."""
    key = name.strip().lower()
    try:
        return _BY_NAME[key]
    except KeyError:
        raise ArchError(unknown_message(name)) from None


# Real CPU architectures users may name that are not in ARCHES: said plainly, rather than with a
# "Did you mean" that merely looks alike (sparc64 is not aarch64).
_UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(("sparc", "sparc64", "sparcv9"), "SPARC"),
    **dict.fromkeys(("riscv32", "rv32", "rv32gc"), "32-bit RISC-V"),
    **dict.fromkeys(("ppc", "ppc32", "powerpc", "powerpc32"), "32-bit PowerPC"),
    **dict.fromkeys(("armel", "armv5", "armv5te", "armv6", "armv6l"), "ARM before v7 (armel)"),
    **dict.fromkeys(("ia64", "itanium"), "Itanium"),
    **dict.fromkeys(("hppa", "parisc", "parisc64"), "PA-RISC"),
    **dict.fromkeys(("alpha", "m68k", "sh4", "microblaze", "xtensa", "arc", "csky"), ""),
    **dict.fromkeys(("wasm64", "wasip2", "wasm32-wasip2"), "64-bit WebAssembly or WASI preview 2 "
                    "(wasm is WASI preview 1)"),
}


def unknown_message(name: str) -> str:
    valid = (
        f"Valid names: {', '.join(known_names())}, {', '.join(SPECIAL_NAMES)} "
        f"(aliases: {', '.join(sorted(n for a in ARCHES for n in a.aliases))})"
    )
    key = name.strip().lower()
    if not key:
        return f"an empty architecture name ({name!r}). {valid}"
    if key in _UNSUPPORTED:
        what = _UNSUPPORTED[key] or key
        return f"unknown architecture {name!r}: {what} is not supported by pytest-multiarch. {valid}"
    close = difflib.get_close_matches(key, [*_BY_NAME, *SPECIAL_NAMES], n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown architecture {name!r}.{hint} {valid}"


def host() -> Arch:
    """The architecture of the machine we run on."""
    machine = platform.machine().lower()
    return get({"armv7l": "arm", "armv8l": "arm"}.get(machine, machine))


def parse_list(values: Iterable[str], all_arches: Iterable[Arch] | None = None) -> list[Arch]:
    """Parse ``--arch`` values: comma lists, repeats, names, aliases, ``native`` and ``all``.

    Order is kept (first mention wins). ``all`` expands to the glibc architectures of
    ``all_arches`` (default: every known architecture), ``musl`` to its musl ones: the musl
    columns repeat their CPUs' glibc columns with another C library, so ``all`` stays one column
    per CPU and ``--arch=all,musl`` asks for both. An empty input means ``native``.
    """
    result: list[Arch] = []
    tokens = [t.strip() for v in values for t in v.split(",") if t.strip()]
    for token in tokens or ["native"]:
        low = token.lower()
        if low == "native":
            chosen = [host()]
        elif low in ("all", "musl"):
            universe = ARCHES if all_arches is None else all_arches
            chosen = [a for a in universe if (a.libc == "musl") == (low == "musl")]
        else:
            chosen = [get(token)]
        result.extend(a for a in chosen if a not in result)
    return result


def reject_empty(values: Iterable[str]) -> None:
    """Raise ArchError for a value that is empty or holds an empty name (``--arch=``,
    ``--arch=arm64,``): an unset variable (``--arch=$ARCHES``) must not quietly mean "native" or
    fewer architectures. (parse_list itself, for the other commands, skips empty names.)"""
    for value in values:
        if not value.strip() or any(not name.strip() for name in value.split(",")):
            shown = "--arch=" + value
            what = "names no architecture" if not value.strip(" ,") else "has an empty architecture name"
            raise ArchError(
                f"{shown!r} {what} (an unset variable, as in --arch=$ARCHES?). Fix: give names, "
                "e.g. --arch=amd64,arm64, or leave --arch out to run on the native architecture only"
            )
