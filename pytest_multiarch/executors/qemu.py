"""Run a foreign binary under QEMU user-mode emulation, explicitly (like ``go test -exec``)."""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from pytest_multiarch import elf as elfmod
from pytest_multiarch import env as envvars
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.elf import ElfInfo
from pytest_multiarch.executors.base import ExecutorUnavailable, Invocation, LocalExecution, require_linux_elf

# QEMU before 8 breaks Go's os/exec under emulation (golang/go#68976).
MIN_GOOD_QEMU = (8, 0)
INSTALL_FIX = (
    "install QEMU user-mode emulators, e.g. on Debian 12: "
    "apt-get install -t bookworm-backports qemu-user-static"
)


@functools.cache
def find_qemu(arch: Arch) -> str | None:
    """Path of qemu-<name>-static or qemu-<name>; MULTIARCH_QEMU_<ARCH> overrides."""
    override = envvars.qemu(arch.name)
    if override:
        return shutil.which(override)
    for name in (f"qemu-{arch.qemu_name}-static", f"qemu-{arch.qemu_name}"):
        found = shutil.which(name)
        if found:
            return found
    return None


@functools.cache
def qemu_version(path: str) -> tuple[int, ...] | None:
    try:
        res = proc.run([path, "--version"], env=proc.base_env(), cwd="/", timeout=10)
    except OSError:
        return None
    m = re.search(rb"version (\d+)\.(\d+)(?:\.(\d+))?", res.stdout)
    return tuple(int(g) for g in m.groups() if g is not None) if m else None


def choose_sysroot(arch: Arch, elf: ElfInfo) -> tuple[str | None, list[str]]:
    """Where a dynamically linked guest finds its loader and libc, and why.

    The cross sysroot ``/usr/<gnu-triple>`` comes first: its libc is the one the cross linker
    linked against. ``QEMU_LD_PREFIX`` set by the user wins over both.
    """
    if elf.interpreter is None:
        return None, []
    user = os.environ.get("QEMU_LD_PREFIX")
    if user:
        return user, [f"sysroot {user} from QEMU_LD_PREFIX"]
    cross = f"/usr/{arch.gnu_triple}"
    if os.path.exists(cross + elf.interpreter):
        return cross, [f"sysroot {cross} (cross libc; holds {elf.interpreter})"]
    if os.path.exists(elf.interpreter):
        return "/", [f"loader {elf.interpreter} from the host's multiarch {arch.debian_arch} libc"]
    return None, [f"no sysroot holds the loader {elf.interpreter}"]


class QemuExecutor(LocalExecution):
    name = "qemu"

    def check(self, arch: Arch) -> None:
        require_linux_elf(self.name, arch)
        variable = envvars.qemu_variable(arch.name)
        named = envvars.qemu(arch.name)
        found = find_qemu(arch)
        if found is None and not named:
            raise ExecutorUnavailable(arch, f"qemu-{arch.qemu_name}-static is not on PATH", INSTALL_FIX)
        if named and (found is None or qemu_version(found) is None):
            # A program the user named that does not work: an error (named=True), not a skip.
            what = "an executable" if found is None else f"a QEMU (`{found} --version` names no QEMU version)"
            raise ExecutorUnavailable(
                arch, f"{variable}={named} is not {what}", f"point it at a qemu-{arch.qemu_name}, or "
                f"unset it to use qemu-{arch.qemu_name}-static from PATH", named=True,
            )  # fmt: skip

    def describe(self, arch: Arch) -> str:
        path = find_qemu(arch)
        if path is None:
            return f"qemu-{arch.qemu_name}: missing"
        version = qemu_version(path)
        shown = ".".join(map(str, version)) if version else "unknown version"
        old = " (old: Go's os/exec breaks under QEMU < 8)" if version and version < MIN_GOOD_QEMU else ""
        return f"qemu {path} {shown}{old}"

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        elf = elfmod.check_arch(binary, arch)  # an ELF of arch, or ElfMismatch saying what it is
        qemu = find_qemu(arch)
        if qemu is None:
            self.check(arch)
            raise AssertionError("unreachable")
        argv = [qemu]
        sysroot, guest_path, notes = guest_sysroot(binary, arch, elf)
        if sysroot is not None and guest_path is not None:
            argv += ["-L", sysroot, "-E", f"LD_LIBRARY_PATH={guest_path}"]
        argv += [str(binary), *args]
        return Invocation(argv=tuple(argv), notes=tuple(notes))


def guest_sysroot(binary: Path, arch: Arch, elf: ElfInfo) -> tuple[str | None, str | None, list[str]]:
    """(sysroot, guest LD_LIBRARY_PATH, notes) for QEMU to run ``binary``; (None, None, ...) when
    it needs none. Raises ExecutorUnavailable when a dynamic binary's loader is nowhere.

    The guest's library search is pinned to the sysroot: otherwise its loader reads the host's
    /etc/ld.so.cache and may load a multiarch libc of another build, which hangs threaded
    programs (a loader and libc that do not match).
    """
    sysroot, notes = choose_sysroot(arch, elf)
    if elf.interpreter is not None and sysroot is None:
        raise ExecutorUnavailable(
            arch,
            f"{binary} is dynamically linked (loader {elf.interpreter}) and no {arch.name} "
            "sysroot holds that loader",
            f"apt-get install libc6-dev-{arch.debian_arch}-cross, set QEMU_LD_PREFIX, or link statically",
        )
    if sysroot is None or sysroot == "/":
        return None, None, notes
    guest_path = ":".join(d for d in ("/lib", "/lib64") if os.path.isdir(sysroot + d))
    notes.append(f"guest LD_LIBRARY_PATH={guest_path} keeps libc from the same sysroot")
    return sysroot, guest_path, notes
