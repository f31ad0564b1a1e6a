"""Run a foreign binary directly: the kernel hands it to QEMU through a binfmt_misc handler.

Unlike the explicit qemu executor, every foreign program the test starts (a child test binary,
``CARGO_BIN_EXE_*``) runs too. The sysroot rules are the qemu executor's, passed through the
environment QEMU reads (``QEMU_LD_PREFIX``, ``QEMU_SET_ENV``), so dynamic binaries and the
mixed-sysroot guard behave the same.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pytest_multiarch import elf as elfmod
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import binfmt_misc as binfmt
from pytest_multiarch.executors.base import ExecutorUnavailable, Invocation, LocalExecution, require_linux_elf
from pytest_multiarch.executors.qemu import guest_sysroot, qemu_version
from pytest_multiarch.toolchains.go import build as gobuild
from pytest_multiarch.toolchains.go import find as gofind

_TINY_C = "int main(void) { return 0; }\n"
_TINY_GO = "package main\n\nfunc main() {}\n"


def _fix(arch: Arch) -> str:
    return (
        f"sudo python -m pytest_multiarch binfmt install {arch.name}, or run pytest with "
        "--binfmt-install (as root), or use --arch-executor=qemu"
    )


@functools.cache
def _probe(arch: Arch, handler: tuple[str, str, str]) -> str | None:
    """Run a tiny ``arch`` program through the handler, once per handler; why it failed, or None."""
    tiny = _tiny_binary(arch)
    if tiny is None:
        return None  # nothing to build one with: trust the registered handler
    try:
        res = proc.run([str(tiny)], env=proc.base_env(), cwd="/", timeout=60)
    except OSError as exc:
        return f"the kernel could not start a tiny {arch.name} program: {exc.strerror}"
    if not res.ok:
        said = res.stderr.decode(errors="replace")[-300:]
        return f"a tiny {arch.name} program {res.describe_exit()}: {said}"
    return None


def _tiny_binary(arch: Arch) -> Path | None:
    """A static do-nothing ``arch`` program, built once with the cross gcc (else Go)."""
    out_dir = Path(tempfile.gettempdir()) / f"pytest-multiarch-probe-{os.getuid()}"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"tiny-{arch.name}"
    if out.exists():
        return out
    tmp = out.with_name(f"{out.name}.{os.getpid()}")
    gcc = shutil.which(f"{arch.gnu_triple}-gcc")
    if gcc:
        src = out_dir / "tiny.c"
        src.write_text(_TINY_C)
        res = proc.run([gcc, "-static", "-O2", "-o", str(tmp), str(src)], env=proc.base_env(), cwd=out_dir,
                       timeout=120)  # fmt: skip
        if res.ok:
            os.replace(tmp, out)
            return out
    go = gofind.find_go()
    if go is not None:
        src_dir = out_dir / "tinygo"
        src_dir.mkdir(exist_ok=True)
        (src_dir / "main.go").write_text(_TINY_GO)
        (src_dir / "go.mod").write_text("module tiny\n\ngo 1.21\n")
        argv = gobuild.build_argv(go, ["."], out=str(tmp))
        res = proc.run(argv, env=gobuild.build_env(arch), cwd=src_dir, timeout=300)
        if res.ok:
            os.replace(tmp, out)
            return out
    return None


class BinfmtExecutor(LocalExecution):
    name = "binfmt"

    def check(self, arch: Arch) -> None:
        require_linux_elf(self.name, arch)
        handler = binfmt.handler_for(arch)
        if handler is None:
            state = next((r["state"] for r in binfmt.status([arch])), "no handler")
            reason = f"no enabled binfmt_misc handler for {arch.name} ({state})"
            raise ExecutorUnavailable(arch, reason, _fix(arch))
        if not os.path.exists(handler.interpreter):
            raise ExecutorUnavailable(
                arch, f"the binfmt_misc handler {handler.name} names {handler.interpreter}, which is missing",
                _fix(arch),
            )  # fmt: skip
        failed = _probe(arch, (handler.name, handler.interpreter, handler.flags))
        if failed:
            raise ExecutorUnavailable(arch, f"binfmt_misc handler {handler.name} is registered, but {failed}",
                                      _fix(arch))  # fmt: skip

    def describe(self, arch: Arch) -> str:
        handler = binfmt.handler_for(arch)
        if handler is None:
            return f"binfmt {arch.name}: no handler"
        version = qemu_version(handler.interpreter) if os.path.exists(handler.interpreter) else None
        shown = ".".join(map(str, version)) if version else "unknown version"
        bad, why = binfmt.KNOWN_BAD
        warn = f" (warning: {why})" if version and version[:2] == bad else ""
        return f"binfmt qemu {shown}{warn}"

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        elf = elfmod.check_arch(binary, arch)  # an ELF of arch, or ElfMismatch saying what it is
        sysroot, guest_path, notes = guest_sysroot(binary, arch, elf)
        env: dict[str, str] = {}
        if sysroot is not None and guest_path is not None:  # as the qemu executor's -L and -E
            env = {"QEMU_LD_PREFIX": sysroot, "QEMU_SET_ENV": f"LD_LIBRARY_PATH={guest_path}"}
        return Invocation(argv=(str(binary), *args), env=env, notes=tuple(notes))
