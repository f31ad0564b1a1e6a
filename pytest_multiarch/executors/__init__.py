"""Ways of running a binary built for some architecture, and the choice between them."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_multiarch import elf as elfmod
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import qemu
from pytest_multiarch.executors.base import Executor, ExecutorUnavailable, Invocation, RunFailed, RunResult
from pytest_multiarch.executors.binfmt import BinfmtExecutor
from pytest_multiarch.executors.docker import DockerExecutor
from pytest_multiarch.executors.native import NativeExecutor, runs_natively
from pytest_multiarch.executors.qemu import QemuExecutor

__all__ = [
    "EXECUTOR_CHOICES",
    "Executor",
    "ExecutorUnavailable",
    "Invocation",
    "RunFailed",
    "RunResult",
    "arch_env",
    "run",
    "runs_on",
    "select",
]

EXECUTORS: dict[str, Executor] = {
    "native": NativeExecutor(),
    "binfmt": BinfmtExecutor(),
    "qemu": QemuExecutor(),
    "docker": DockerExecutor(),
}
EXECUTOR_CHOICES = ("auto", *EXECUTORS)


def select(arch: Arch, preference: str = "auto") -> Executor:
    """The executor that runs ``arch`` here: native when the host can, else a working binfmt_misc
    handler, else qemu.

    Raises ExecutorUnavailable (with the fix) when the preferred way cannot run ``arch``.
    """
    if preference == "auto":
        if runs_natively(arch):
            return EXECUTORS["native"]
        try:
            EXECUTORS["binfmt"].check(arch)
            return EXECUTORS["binfmt"]
        except ExecutorUnavailable:
            executor = EXECUTORS["qemu"]
    else:
        executor = EXECUTORS[preference]
    executor.check(arch)
    return executor


def runs_on(arch: Arch, executor: Executor) -> str:
    """A short account of how ``arch`` runs under the chosen ``executor``, for the totals' "runs
    on" column: "native", "qemu 10.0.2", or the executor's own description (binfmt, docker, a
    hook's)."""
    if executor is EXECUTORS["native"]:
        return "native"
    if executor is EXECUTORS["qemu"]:
        path = qemu.find_qemu(arch)
        version = qemu.qemu_version(path) if path else None
        return "qemu " + (".".join(map(str, version)) if version else "(unknown version)")
    return executor.describe(arch)


def arch_env(arch: Arch, executor: Executor) -> dict[str, str]:
    """What every test process is told of where it runs: ``MULTIARCH_ARCH`` (the canonical arch
    name) and ``MULTIARCH_EXECUTOR`` (native, qemu, binfmt, docker, or a hook executor's name)."""
    return {"MULTIARCH_ARCH": arch.name, "MULTIARCH_EXECUTOR": executor.name}


def run(
    binary: str | os.PathLike[str],
    args: Sequence[str],
    *,
    arch: Arch,
    executor: Executor,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str],
    timeout: float,
    input: bytes | None = None,
    supervision: proc.Supervision | None = None,
) -> RunResult:
    """Check ``binary`` is an ``arch`` ELF, then run it with ``executor``."""
    info = elfmod.check_arch(binary, arch)
    invocation = executor.invocation(Path(binary), list(args), arch, info)
    # What the caller adds to the environment belongs in a reproduce line too (RUSTC_BOOTSTRAP…).
    # (Not PYTEST_CURRENT_TEST: pytest changes it under the worker threads' feet; it is noise.)
    added = {k: v for k, v in env.items() if os.environ.get(k) != v and k != "PYTEST_CURRENT_TEST"}
    invocation = executor.bind(invocation, added, cwd)
    try:
        result = executor.execute(
            invocation, env=env, cwd=cwd, timeout=timeout, input=input, supervision=supervision
        )
    except OSError as exc:
        raise ExecutorUnavailable(
            arch,
            f"could not start `{invocation.shell_line()}`: {exc}",
            f"check that {binary} and the {executor.name} executor's program exist and are executable",
        ) from exc
    return RunResult(arch=arch, executor=executor.name, invocation=invocation, proc=result)
