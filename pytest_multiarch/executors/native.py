"""Run a binary directly: the host's own architecture and those its kernel runs as well."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch import elf as elfmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors.base import ExecutorUnavailable, Invocation, LocalExecution, require_linux_elf

# 64-bit x86 kernels run 32-bit x86 binaries (IA32 emulation is on in every distro kernel we
# target). arm64 kernels often lack AArch32, so we do not assume it.
_ALSO_RUNS: dict[str, tuple[str, ...]] = {"amd64": ("386",)}


def runs_natively(arch: Arch) -> bool:
    """Whether this machine's kernel runs ``arch``'s programs: by CPU (GOARCH), so a musl column
    runs natively wherever its glibc twin does."""
    host = archmod.host()
    return arch.goarch == host.goarch or arch.goarch in _ALSO_RUNS.get(host.goarch, ())


class NativeExecutor(LocalExecution):
    name = "native"

    def check(self, arch: Arch) -> None:
        require_linux_elf(self.name, arch)
        if not runs_natively(arch):
            raise ExecutorUnavailable(
                arch,
                f"this {archmod.host().name} machine cannot run {arch.name} code natively",
                f"use --arch-executor=auto or qemu (needs qemu-{arch.qemu_name}-static)",
            )

    def describe(self, arch: Arch) -> str:
        return "native"

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        elf = elfmod.check_arch(binary, arch)  # an ELF of arch, or ElfMismatch saying what it is
        interp = elf.interpreter
        if interp is None or os.path.exists(interp):
            return Invocation(argv=(str(binary), *args))
        # A dynamic binary whose loader the host lacks (e.g. i686 without libc6:i386): run the
        # cross sysroot's loader explicitly, still natively, with that sysroot's libraries.
        sysroot = f"/usr/{arch.gnu_triple}"
        loader = sysroot + interp
        if not os.path.exists(loader):
            raise ExecutorUnavailable(
                arch,
                f"{binary} needs the loader {interp}, which neither this host nor {sysroot} has",
                f"apt-get install libc6-dev-{arch.debian_arch}-cross (or libc6:{arch.debian_arch}), "
                "or link statically",
            )
        return Invocation(
            argv=(loader, "--library-path", f"{sysroot}/lib", str(binary), *args),
            notes=(f"loader and libraries from {sysroot} (the host has no {interp})",),
        )
