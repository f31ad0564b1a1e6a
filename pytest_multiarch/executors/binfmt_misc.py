"""binfmt_misc: reading the kernel's handlers, and registering QEMU for our architectures.

With a handler registered, the kernel itself runs a foreign ELF through its interpreter: a test
that starts another foreign program (``go test`` running a child test binary, a Rust test
running ``CARGO_BIN_EXE_*``) works, which explicit ``qemu-<arch> BINARY`` cannot do. With the
``F`` flag the kernel opens the interpreter at registration, so containers and chroots without
QEMU inside can use the handler too.

Handlers we register are named ``pytest-multiarch-<qemu name>``; ``uninstall`` removes only
those. An identical handler of any name (same magic, interpreter and flags, enabled) counts as
installed; a different one for the same architecture is a conflict, left alone unless forced.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from filelock import FileLock

from pytest_multiarch import arch as archmod
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.errors import MultiarchError
from pytest_multiarch.executors import qemu
from pytest_multiarch.executors.native import runs_natively

MOUNT = Path("/proc/sys/fs/binfmt_misc")
PREFIX = "pytest-multiarch-"
DISTRO_CONFS = (Path("/usr/lib/binfmt.d"), Path("/etc/binfmt.d"))
DEFAULT_FLAGS = "F"
FLAGS = "POCF"  # preserve argv[0], use the interpreter's credentials, open the binary, fix binary
KNOWN_BAD = ((7, 2), "QEMU 7.2 breaks Go's os/exec under emulation (golang/go#68976): use QEMU 8 or newer")


class BinfmtError(MultiarchError):
    """A binfmt_misc operation that cannot be done; the message says why and what to do."""

    becomes = "usage"  # --binfmt-install, the binfmt command


@dataclass(frozen=True)
class Handler:
    """One entry of /proc/sys/fs/binfmt_misc."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes | None

    def matches(self, arch: Arch) -> bool:
        """Does the kernel hand ``arch`` executables (static or PIE) to this handler?"""
        if not self.magic or not arch.linux_elf:
            return False  # an extension handler (E), not an ELF magic one; or wasm, no ELF at all
        for header in (elf_header(arch, 2), elf_header(arch, 3)):
            window = header[self.offset : self.offset + len(self.magic)]
            if len(window) < len(self.magic):
                return False
            mask = self.mask or b"\xff" * len(self.magic)
            if any((w & m) != (g & m) for w, m, g in zip(window, mask, self.magic, strict=False)):
                return False
        return True

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["magic"] = self.magic.hex()
        data["mask"] = self.mask.hex() if self.mask is not None else None
        return data


def elf_header(arch: Arch, e_type: int) -> bytes:
    """The first 40 bytes of an ``arch`` ELF executable (2) or PIE (3), as binfmt_misc sees them
    (e_version 1, addresses and flags 0: QEMU's MIPS magic also looks at e_flags)."""
    from elftools.elf.enums import ENUM_E_MACHINE  # here: pyelftools is slow to import (elf.py)

    order: Literal["little", "big"] = arch.endian
    ident = b"\x7fELF" + bytes([1 if arch.elf_class == 32 else 2, 1 if arch.endian == "little" else 2, 1])
    ident += b"\x00" * 9
    machine = ENUM_E_MACHINE[arch.elf_machine]
    head = ident + e_type.to_bytes(2, order) + int(machine).to_bytes(2, order)
    return head + (1).to_bytes(4, order) + b"\x00" * 16


def computed_magic(arch: Arch) -> tuple[bytes, bytes]:
    """Magic and mask for ``arch`` like QEMU's own: any OS ABI, executables and PIEs."""
    magic = elf_header(arch, 2)[:20]
    type_mask = b"\xfe\xff" if arch.endian == "little" else b"\xff\xfe"
    mask = b"\xff" * 7 + b"\x00" + b"\xff" * 8 + type_mask + b"\xff\xff"
    return magic, mask


def mounted(mount: Path = MOUNT) -> bool:
    return (mount / "register").exists()


def _unescape(field: str) -> bytes:
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), field.encode("latin-1"))


def read_handler(path: Path) -> Handler:
    fields: dict[str, str] = {}
    enabled = False
    for line in path.read_text(encoding="latin-1").splitlines():
        if line in ("enabled", "disabled"):
            enabled = line == "enabled"
            continue
        key, _, value = line.partition(" ")
        fields[key.rstrip(":")] = value.strip()
    return Handler(
        name=path.name,
        enabled=enabled,
        interpreter=fields.get("interpreter", ""),
        flags=fields.get("flags", ""),
        offset=int(fields.get("offset", "0") or 0),
        magic=bytes.fromhex(fields.get("magic", "")),
        mask=bytes.fromhex(fields["mask"]) if "mask" in fields else None,
    )


def handlers(mount: Path = MOUNT) -> list[Handler]:
    """Every registered handler ([] when binfmt_misc is not mounted)."""
    if not mounted(mount):
        return []
    found = []
    for entry in sorted(mount.iterdir()):
        if entry.name in ("register", "status"):
            continue
        with contextlib.suppress(OSError, ValueError):
            found.append(read_handler(entry))
    return found


def handler_for(arch: Arch, mount: Path = MOUNT) -> Handler | None:
    """The enabled handler the kernel would use for ``arch`` executables, if any."""
    if not _globally_enabled(mount):
        return None
    return next((h for h in handlers(mount) if h.enabled and h.matches(arch)), None)


def _globally_enabled(mount: Path) -> bool:
    try:
        return (mount / "status").read_text().strip() == "enabled"
    except OSError:
        return False


def distro_magic(arch: Arch) -> tuple[bytes, bytes] | None:
    """Magic and mask from the distribution's binfmt.d file for this QEMU (Debian's qemu-user)."""
    for d in DISTRO_CONFS:
        conf = d / f"qemu-{arch.qemu_name}.conf"
        if conf.is_file():
            line = conf.read_text(encoding="latin-1").strip()
            parts = line.split(line[0])  # the first character is the separator
            if len(parts) >= 7 and parts[2] == "M":
                return _unescape(parts[4]), _unescape(parts[5])
    return None


def interpreter_for(arch: Arch, flags: str) -> str:
    """The QEMU to register: qemu-<name>-static (argv[0] preserving wrapper when ``P``)."""
    found = qemu.find_qemu(arch)
    if found is None:
        raise BinfmtError(f"qemu-{arch.qemu_name}-static is not installed. Fix: {qemu.INSTALL_FIX}")
    if "P" in flags:
        wrapper = Path(f"/usr/libexec/qemu-binfmt/{arch.qemu_name}-binfmt-P")
        if not wrapper.exists():
            raise BinfmtError(
                f"flag P needs an interpreter that knows argv[0] is preserved ({wrapper} is missing). "
                "Fix: leave out P, or install Debian's qemu-user-static"
            )
        return str(wrapper)
    return os.path.realpath(found)


def registration(arch: Arch, flags: str = DEFAULT_FLAGS) -> str:
    """The line written to ``register`` for ``arch`` (binfmt_misc's ``:name:type:...`` form)."""
    magic, mask = distro_magic(arch) or computed_magic(arch)

    def esc(data: bytes) -> str:
        return "".join(f"\\x{b:02x}" for b in data)

    return f":{PREFIX}{arch.qemu_name}:M::{esc(magic)}:{esc(mask)}:{interpreter_for(arch, flags)}:{flags}"


@dataclass(frozen=True)
class Change:
    arch: str
    action: str  # "registered", "already", "conflict", "replaced", "removed", "absent"
    handler: str
    detail: str = ""


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One process changes the kernel's handlers at a time (several pytest runs may start)."""
    with FileLock(Path(tempfile.gettempdir()) / "pytest-multiarch-binfmt.lock"):
        yield


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise BinfmtError(
            f"{what} needs root: binfmt_misc handlers are machine-wide. "
            f"Fix: sudo python -m pytest_multiarch binfmt {what}"
        )


def mount(mount_point: Path = MOUNT) -> None:
    """Mount binfmt_misc where the kernel expects it, unless it already is."""
    if mounted(mount_point):
        return
    require_root("install")
    if not mount_point.is_dir():
        raise BinfmtError(f"{mount_point} does not exist: this kernel has no binfmt_misc support")
    res = proc.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(mount_point)],
                   env=proc.base_env(), cwd="/", timeout=30)  # fmt: skip
    if not res.ok or not mounted(mount_point):
        raise BinfmtError(
            f"mounting binfmt_misc on {mount_point} {res.describe_exit()}: "
            f"{res.stderr.decode(errors='replace').strip()} (in a container, run it with --privileged)"
        )


def _write(path: Path, text: str) -> None:
    try:
        with open(path, "w", encoding="latin-1") as f:
            f.write(text)
    except OSError as exc:
        raise BinfmtError(f"writing {text!r} to {path}: {exc.strerror}") from exc


def install(
    arches: Sequence[Arch], *, flags: str = DEFAULT_FLAGS, force: bool = False, mount_point: Path = MOUNT
) -> list[Change]:
    """Register QEMU for ``arches``; idempotent, and a conflicting handler is left unless ``force``."""
    if set(flags) - set(FLAGS) or not flags:
        raise BinfmtError(f"flags {flags!r}: use letters of {FLAGS} (F is needed for containers)")
    require_root("install")
    changes = []
    with _locked():
        mount(mount_point)
        for a in arches:
            if _native(a) or not a.linux_elf:
                continue  # the kernel runs these itself (a handler would send them to QEMU); wasm: no QEMU
            line = registration(a, flags)
            interpreter = line.split(":")[-2]
            current = next((h for h in handlers(mount_point) if h.matches(a)), None)
            if current is not None:
                same = (current.interpreter, set(current.flags)) == (interpreter, set(flags))
                if same and current.enabled:
                    changes.append(Change(a.name, "already", current.name))
                    continue
                if not force:
                    changes.append(Change(a.name, "conflict", current.name, _describe(current)))
                    continue
                _write(mount_point / current.name, "-1")
            _write(mount_point / "register", line)
            changes.append(Change(a.name, "replaced" if current else "registered", f"{PREFIX}{a.qemu_name}",
                                  f"{interpreter} flags {flags}"))  # fmt: skip
    return changes


def uninstall(arches: Sequence[Arch] | None = None, *, mount_point: Path = MOUNT) -> list[Change]:
    """Remove the handlers we registered (for ``arches``, or all of ours); others stay."""
    require_root("uninstall")
    changes = []
    with _locked():
        ours = {h.name: h for h in handlers(mount_point) if h.name.startswith(PREFIX)}
        # By default one per CPU: a musl column shares its glibc twin's handler.
        cpus = [a for a in archmod.ARCHES if a.libc == "gnu" and a.linux_elf]
        for a in arches if arches is not None else cpus:
            name = f"{PREFIX}{a.qemu_name}"
            if ours.pop(name, None) is not None:  # once: arm64 and arm64-musl share one handler
                _write(mount_point / name, "-1")
                changes.append(Change(a.name, "removed", name))
            elif arches is not None:
                changes.append(Change(a.name, "absent", name))
    return changes


def _native(arch: Arch) -> bool:
    return runs_natively(arch)


def _describe(h: Handler) -> str:
    state = "enabled" if h.enabled else "disabled"
    return f"{h.name}: {h.interpreter} flags {h.flags or '-'} ({state})"


@dataclass(frozen=True)
class Registered:
    """What a session added (--binfmt-install), to take back at its end."""

    arches: tuple[Arch, ...]
    mounted: bool  # binfmt_misc was mounted by us


def install_for_session(arches: Sequence[Arch], mount_point: Path = MOUNT) -> Registered:
    """Register what ``arches`` lack (--binfmt-install); what was added, to take back. An arch
    another tool's handler serves (a conflict) keeps that handler."""
    was_mounted = mounted(mount_point)
    changes = install(arches, mount_point=mount_point)
    added = tuple(archmod.get(c.arch) for c in changes if c.action == "registered")
    return Registered(added, not was_mounted and mounted(mount_point))


def restore(registered: Registered, mount_point: Path = MOUNT) -> None:
    """Take back what install_for_session added: our handlers, and the mount if it was ours."""
    if registered.arches:
        uninstall(registered.arches, mount_point=mount_point)
    if registered.mounted and not handlers(mount_point):
        proc.run(["umount", str(mount_point)], env=proc.base_env(), cwd="/", timeout=30)


def status(arches: Sequence[Arch], mount_point: Path = MOUNT) -> list[dict[str, object]]:
    """Per architecture: the handler the kernel would use, or why there is none."""
    rows: list[dict[str, object]] = []
    registered = handlers(mount_point)
    for a in arches:
        if _native(a):
            rows.append({"arch": a.name, "state": "native", "handler": None})
            continue
        match = next((h for h in registered if h.matches(a)), None)
        if not mounted(mount_point):
            state = "binfmt_misc not mounted"
        elif match is None:
            state = "no handler"
        elif not match.enabled or not _globally_enabled(mount_point):
            state = "disabled"
        else:
            state = "enabled"
        rows.append({"arch": a.name, "state": state, "handler": match.as_json() if match else None,
                     "ours": bool(match and match.name.startswith(PREFIX))})  # fmt: skip
    return rows
