"""What every executor shares: the interface, the request and result types, and the unavailable
error."""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.errors import MultiarchError
from pytest_multiarch.proc import ProcResult


class ExecutorUnavailable(MultiarchError):
    """An architecture cannot run here by some (or any) executor; says why and how to fix it.

    A skip (see errors.py); a failure when ``named``: a program the user named
    (MULTIARCH_QEMU_<ARCH>) that does not work.
    """

    becomes = "skip"

    def __init__(self, arch: Arch, reason: str, fix: str, *, named: bool = False) -> None:
        what = f"cannot run {arch.name} binaries"
        super().__init__(f"{what}: {reason}. Fix: {fix}", what=what, why=reason, fix=fix, named=named)
        self.arch = arch

    @property
    def reason(self) -> str:
        """Why ``arch`` cannot run (the base's ``why``; older callers name it so)."""
        return self.why


def require_linux_elf(executor: str, arch: Arch) -> None:
    """Raise ExecutorUnavailable unless ``arch``'s programs are Linux ELF executables: the native,
    qemu, binfmt and docker executors run nothing else (a wasm module is not a CPU's program)."""
    if not arch.linux_elf:
        raise ExecutorUnavailable(
            arch,
            f"the {executor} executor runs Linux ELF programs, and {arch.name} programs are "
            f"{arch.goos}/{arch.binary_format}",
            "use --arch-executor=auto, which picks an executor for them (wasmtime for wasm)",
        )


@dataclass(frozen=True)
class Invocation:
    """The exact command that runs a binary, and what it adds to the environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # e.g. which sysroot was chosen and why
    cwd: str | None = None
    container: tuple[str, str] | None = None  # (OCI platform, image): argv is a `docker run` line
    command: tuple[str, ...] = ()  # with ``container``: what runs inside it
    # Host directories the program writes into besides its working directory (the Go test log's):
    # a container executor mounts them read-write at the same paths.
    writable: tuple[str, ...] = ()

    def shell_line(self) -> str:
        """A line a user can paste into a shell to reproduce the run."""
        # In a container, the environment is in argv already (`-e K=V`).
        prefix = "" if self.container else " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        line = (prefix + " " if prefix else "") + shlex.join(self.argv)
        return f"cd {shlex.quote(self.cwd)} && {line}" if self.cwd else line


@dataclass(frozen=True)
class RunRequest:
    """One run of a binary on an architecture: what ``executors.run`` is asked, what a batch
    repeats with other arguments, and what the reuse key is made of."""

    binary: str | os.PathLike[str]
    args: tuple[str, ...]
    arch: Arch
    executor: Executor
    env: Mapping[str, str]  # the whole environment the program gets
    cwd: str | os.PathLike[str]
    timeout: float = 0.0  # seconds (already scaled); 0: no limit
    input: bytes | None = None
    supervision: proc.Supervision | None = None  # see proc.run
    writable: tuple[str, ...] = ()  # see Invocation.writable

    def with_args(self, args: Sequence[str]) -> RunRequest:
        """The same run with other arguments."""
        return dataclasses.replace(self, args=tuple(args))

    def writing(self, directory: str | os.PathLike[str]) -> RunRequest:
        """The same run, allowed to write into ``directory`` too."""
        return dataclasses.replace(self, writable=(*self.writable, os.fspath(directory)))


class Executor(Protocol):
    """One way of running a binary built for a (possibly foreign) architecture.

    ``invocation`` checks that the binary is of the format this executor runs (an ELF of
    ``arch`` for the plugin's own executors) and says the command; ``bind`` adds the caller's
    environment and directory; ``execute`` runs it; ``close`` is called once at the end of a
    session that used the executor.
    """

    name: str

    def check(self, arch: Arch) -> None:
        """Raise ExecutorUnavailable unless this executor can run ``arch`` binaries here."""

    def describe(self, arch: Arch) -> str:
        """One line for `doctor` and the report header: how ``arch`` runs (tool, version)."""

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        """The command that runs ``binary args`` as ``arch``, once ``binary`` is checked to be a
        program this executor runs for ``arch`` (raises elf.ElfMismatch, or ExecutorUnavailable)."""

    def bind(
        self, invocation: Invocation, added: Mapping[str, str], cwd: str | os.PathLike[str]
    ) -> Invocation:
        """The invocation as run: with the variables the caller added and the working directory."""

    def execute(self, invocation: Invocation, request: RunRequest) -> ProcResult:
        """Run a bound invocation (``request.env``: the caller's whole environment)."""

    def close(self) -> None:
        """Release what the executor holds (containers, connections): the session is over."""


class LocalExecution:
    """bind/execute/close for executors that start a program on this machine (native, qemu,
    binfmt)."""

    def bind(
        self, invocation: Invocation, added: Mapping[str, str], cwd: str | os.PathLike[str]
    ) -> Invocation:
        return dataclasses.replace(invocation, env={**added, **invocation.env}, cwd=os.fspath(cwd))

    def execute(self, invocation: Invocation, request: RunRequest) -> ProcResult:
        r = request
        return proc.run(invocation.argv, env={**r.env, **invocation.env}, cwd=r.cwd, timeout=r.timeout,
                        input=r.input, supervision=r.supervision)  # fmt: skip

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class RunResult:
    """A finished run of a binary on an architecture (a ``CompletedProcess`` look-alike)."""

    arch: Arch
    executor: str
    invocation: Invocation
    proc: ProcResult

    @property
    def args(self) -> tuple[str, ...]:
        return self.invocation.argv

    @property
    def returncode(self) -> int:
        return self.proc.returncode

    @property
    def stdout(self) -> str:
        return self.proc.stdout.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.proc.stderr.decode("utf-8", "replace")

    @property
    def stdout_bytes(self) -> bytes:
        return self.proc.stdout

    @property
    def stderr_bytes(self) -> bytes:
        return self.proc.stderr

    @property
    def signal(self) -> int | None:
        return self.proc.signal

    @property
    def timed_out(self) -> bool:
        return self.proc.timed_out

    @property
    def duration(self) -> float:
        return self.proc.duration

    def check(self) -> RunResult:
        """Raise RunFailed unless the program exited 0 in time; return self otherwise."""
        if not self.proc.ok:
            raise RunFailed(self)
        return self


class RunFailed(MultiarchError):
    def __init__(self, result: RunResult) -> None:
        self.result = result
        tail = (result.stderr or result.stdout)[-2000:]
        super().__init__(
            f"{result.invocation.shell_line()} on {result.arch.name} via {result.executor} "
            f"{result.proc.describe_exit()}\n{tail}"
        )
