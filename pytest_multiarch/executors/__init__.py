"""Ways of running a binary built for some architecture, and the choice between them."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from pytest_multiarch.arch import Arch
from pytest_multiarch.executors.base import (
    Executor,
    ExecutorUnavailable,
    Invocation,
    RunFailed,
    RunRequest,
    RunResult,
)
from pytest_multiarch.executors.native import runs_natively
from pytest_multiarch.executors.registry import (
    AUTO,
    BUILTIN,
    Registry,
    UnknownExecutor,
    runs_on,
    warm_runs_on,
)

__all__ = [
    "AUTO",
    "BUILTIN",
    "Executor",
    "ExecutorUnavailable",
    "Invocation",
    "Registry",
    "RunFailed",
    "RunRequest",
    "RunResult",
    "UnknownExecutor",
    "arch_env",
    "run",
    "runs_natively",
    "runs_on",
    "select",
    "warm_runs_on",
]


def select(arch: Arch, preference: str = AUTO) -> Executor:
    """The plugin's own executor that runs ``arch`` here (see Registry.select); a session's
    registry also has the executors its hooks added."""
    return BUILTIN.select(arch, preference)


def arch_env(arch: Arch, executor: Executor) -> dict[str, str]:
    """What every test process is told of where it runs: ``MULTIARCH_ARCH`` (the canonical arch
    name) and ``MULTIARCH_EXECUTOR`` (native, qemu, binfmt, docker, or a hook executor's name)."""
    return {"MULTIARCH_ARCH": arch.name, "MULTIARCH_EXECUTOR": executor.name}


def run(request: RunRequest) -> RunResult:
    """Run ``request`` with its executor, which first checks the binary is a program it runs
    for the request's arch (an ELF of that arch for the plugin's own executors)."""
    r, executor = request, request.executor
    invocation = executor.invocation(Path(r.binary), list(r.args), r.arch)
    if r.writable:
        invocation = dataclasses.replace(invocation, writable=r.writable)
    # What the caller adds to the environment belongs in a reproduce line too (RUSTC_BOOTSTRAP…).
    # (Not PYTEST_CURRENT_TEST: pytest changes it under the worker threads' feet; it is noise.)
    added = {k: v for k, v in r.env.items() if os.environ.get(k) != v and k != "PYTEST_CURRENT_TEST"}
    invocation = executor.bind(invocation, added, r.cwd)
    try:
        result = executor.execute(invocation, r)
    except OSError as exc:
        raise ExecutorUnavailable(
            r.arch,
            f"could not start `{invocation.shell_line()}`: {exc}",
            f"check that {r.binary} and the {executor.name} executor's program exist and are executable",
        ) from exc
    return RunResult(arch=r.arch, executor=executor.name, invocation=invocation, proc=result)
