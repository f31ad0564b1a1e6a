"""Reading binaries with pyelftools, and mapping an ELF file back to an :class:`Arch`.

pyelftools is imported by :func:`read`, on first use: its import costs tens of milliseconds at
every pytest start-up, and a Go run reads no ELF file."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.errors import MultiarchError

# EF_MIPS_ABI2 marks the n32 ABI: a 64-bit CPU running 32-bit pointers, which no arch of ours is.
_EF_MIPS_ABI2 = 0x20


class ElfMismatch(MultiarchError):
    """A binary is not for the architecture it was going to run as."""


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    machine: str  # e.g. EM_AARCH64
    elf_class: int  # 32 or 64
    endian: str  # "little" or "big"
    interpreter: str | None  # PT_INTERP, e.g. /lib/ld-linux-aarch64.so.1; None when static
    needed: tuple[str, ...]  # DT_NEEDED libraries

    @property
    def static(self) -> bool:
        return self.interpreter is None

    @property
    def arch(self) -> Arch | None:
        """The registry entry this binary is built for, or None when we do not know it."""
        for a in archmod.ARCHES:
            if (a.elf_machine, a.elf_class, a.endian) == (self.machine, self.elf_class, self.endian):
                return a
        return None

    def describe(self) -> str:
        linkage = f"dynamic, interpreter {self.interpreter}" if self.interpreter else "static"
        return f"{self.machine} {self.elf_class}-bit {self.endian}-endian, {linkage}"


def read(path: str | os.PathLike[str]) -> ElfInfo:
    """Read the facts we need from an ELF file. Raises ElfMismatch, saying what the file is, for a
    file that is missing, unreadable or not ELF."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.segments import InterpSegment

    p = Path(path)
    try:
        with p.open("rb") as f:
            elf = ELFFile(f)
            interp: str | None = None
            needed: list[str] = []
            for seg in elf.iter_segments():
                if isinstance(seg, InterpSegment):
                    interp = seg.get_interp_name()
            dyn = elf.get_section_by_name(".dynamic")
            if dyn is not None and hasattr(dyn, "iter_tags"):
                needed = [t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
            machine = str(elf.header.e_machine)
            if machine == "EM_MIPS" and elf.header.e_flags & _EF_MIPS_ABI2:
                machine = "EM_MIPS_N32"
            return ElfInfo(
                path=p,
                machine=machine,
                elf_class=int(elf.elfclass),
                endian="little" if elf.little_endian else "big",
                interpreter=interp,
                needed=tuple(needed),
            )
    except FileNotFoundError:
        raise ElfMismatch(f"{p} does not exist; cannot run it on any architecture") from None
    except IsADirectoryError:
        raise ElfMismatch(f"{p} is a directory, not a program; cannot run it on any architecture") from None
    except OSError as exc:
        raise ElfMismatch(f"{p} cannot be read ({exc.strerror}); cannot run it on any architecture") from None
    except (ELFError, struct.error) as exc:
        raise ElfMismatch(
            f"{p} is not an ELF executable ({what_is(p, exc)}); cannot run it on any architecture"
        ) from exc


def what_is(path: Path, error: Exception) -> str:
    """What a file that pyelftools cannot read looks like: a script, text, an empty file..."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if not head:
        return "an empty file"
    if head.startswith(b"#!"):
        return f"a script: {head[:80].splitlines()[0].decode(errors='replace')}"
    if head.startswith(b"\x7fELF"):
        return f"a truncated or corrupt ELF file: {error}"
    if head.startswith(b"\0asm"):
        return "a WebAssembly module (run it as --arch=wasm)"
    if head.startswith(b"MZ"):
        return "a Windows (PE) executable"
    if head[:4] in (b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        return "a macOS (Mach-O) executable"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"binary data starting {head[:8].hex(' ')}"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"a text file starting {first[:60]!r}" if first else "a text file of blank lines"


def check_arch(path: str | os.PathLike[str], expected: Arch) -> ElfInfo:
    """Read ``path`` and fail clearly, before running it, if it is not built for ``expected``."""
    info = read(path)
    cpu = (expected.elf_machine, expected.elf_class, expected.endian)
    if (info.machine, info.elf_class, info.endian) != cpu:  # the CPU (a musl column shares its twin's)
        found = info.arch.name if info.arch else "an architecture pytest-multiarch does not know"
        raise ElfMismatch(
            f"{path} was built for {found} ({info.describe()}), not for {expected.name} "
            f"(expected {expected.elf_machine} {expected.elf_class}-bit {expected.endian}-endian); "
            f"rebuild it for {expected.name} (GOARCH={expected.goarch} or --target {expected.rust_triple})"
        )
    if expected.libc == "musl" and info.interpreter is not None and "ld-musl" not in info.interpreter:
        raise ElfMismatch(
            f"{path} is linked dynamically against glibc ({info.describe()}), not for {expected.name}, "
            f"a static musl column; rebuild it for {expected.name} (GOARCH={expected.goarch} with "
            f"CGO_ENABLED=0, or --target {expected.rust_triple})"
        )
    return info
