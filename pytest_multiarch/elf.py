"""Reading binaries, and mapping an ELF file back to an :class:`Arch`.

A statically linked binary of a machine in ``_MACHINES`` (every Go test binary) is read with
struct: its header, program headers and section types say all there is. Anything else (dynamic
binaries, odd or broken files) is read with pyelftools, imported then: its import alone costs
about 30 ms, which a Go run need not pay."""

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
# e_machine numbers and pyelftools' names for them (tests/test_elf.py checks they agree).
_MACHINES = {3: "EM_386", 8: "EM_MIPS", 21: "EM_PPC64", 22: "EM_S390", 40: "EM_ARM", 62: "EM_X86_64",
             183: "EM_AARCH64", 243: "EM_RISCV", 258: "EM_LOONGARCH"}  # fmt: skip
_PT_DYNAMIC, _PT_INTERP, _SHT_DYNAMIC = 2, 3, 6


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


def read_static(path: Path) -> ElfInfo | None:
    """What :func:`read` says of a well-formed, statically linked ELF file of a machine in
    ``_MACHINES``, read with struct alone; None for anything else (pyelftools reads it): no
    PT_INTERP or PT_DYNAMIC segment, no SHT_DYNAMIC section, every header within the file."""
    try:
        with path.open("rb") as f:
            data = f.read(64)
            if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
                return None
            wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
            head = order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH")
            if len(data) < 16 + struct.calcsize(head):
                return None
            fields = struct.unpack_from(head, data, 16)
            machine, phoff, shoff, flags = fields[1], fields[4], fields[5], fields[6]
            phentsize, phnum, shentsize, shnum, shstrndx = fields[8:]
            if (
                machine not in _MACHINES
                or phentsize < (56 if wide else 32)
                or shentsize < (64 if wide else 40)
                or shnum == 0
                or shstrndx >= shnum
            ):
                return None
            size = os.fstat(f.fileno()).st_size
            if phoff + phnum * phentsize > size or shoff + shnum * shentsize > size:
                return None
            f.seek(phoff)
            table = f.read(phnum * phentsize)
            types = {struct.unpack_from(order + "I", table, i * phentsize)[0] for i in range(phnum)}
            if _PT_INTERP in types or _PT_DYNAMIC in types:
                return None
            f.seek(shoff)
            table = f.read(shnum * shentsize)
            if any(
                struct.unpack_from(order + "I", table, i * shentsize + 4)[0] == _SHT_DYNAMIC
                for i in range(shnum)
            ):
                return None
            strtab = struct.unpack_from(
                order + ("QQ" if wide else "II"), table, shstrndx * shentsize + (24 if wide else 16)
            )
            if strtab[0] + strtab[1] > size:
                return None
    except (OSError, struct.error):
        return None  # read() says what went wrong
    name = _MACHINES[machine]
    if name == "EM_MIPS" and flags & _EF_MIPS_ABI2:
        name = "EM_MIPS_N32"
    return ElfInfo(path=path, machine=name, elf_class=64 if wide else 32,
                   endian="little" if order == "<" else "big", interpreter=None, needed=())  # fmt: skip


def read(path: str | os.PathLike[str]) -> ElfInfo:
    """Read the facts we need from an ELF file. Raises ElfMismatch, saying what the file is, for a
    file that is missing, unreadable or not ELF."""
    p = Path(path)
    found = read_static(p)
    if found is not None:
        return found
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.segments import InterpSegment

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
