"""Run an architecture's binaries on real machines of that architecture, over SSH.

Configured with ``multiarch_remotes = arm64=ci@graviton-1 arm64=ci@graviton-2`` (or
``--arch-remote``): each test binary and its working directory are staged by content on a host
of the arch (``ssh_stage.py``), and run there by a small POSIX ``sh`` wrapper sent as the remote
command (``WRAPPER``) over one multiplexed connection per host (``ssh_remote.py``).

The wrapper starts the test in a session and process group of its own (``setsid``) and watches
its own standard input, which is the ssh channel: when the channel closes (our ``ssh`` was
stopped on a timeout or Ctrl-C, pytest was killed, the connection dropped), it sends SIGTERM to
the test's group, then SIGKILL a second later. So the remote side never depends on our
connection staying up. The local ``ssh`` holds that stdin open through ``proc.run(...,
hold_stdin=True)`` until the run is over.

Only the variables the plugin adds to a test's environment (``MULTIARCH_ARCH``, ``GOARCH``,
``RUSTC_BOOTSTRAP``...) and those named in ``multiarch_ssh_env`` are sent; the remote login's
own environment is the rest. The exit status a test dies of a signal with is reported as that
signal, from the shell's ``128+N`` (a test exiting 129-159 by itself reads as a signal too).
An ssh failure (status 255) while the connection is lost is an infra error naming the host.
Batches go to the host of the arch with the most free slots; a host has as many slots as cores.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch import elf as elfmod
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import ssh_stage
from pytest_multiarch.executors.base import ExecutorUnavailable, Invocation, RunRequest
from pytest_multiarch.executors.ssh_remote import (
    CACHE_SUBDIR,
    Connection,
    HostInfo,
    Remote,
    RemoteError,
    runtime_dir,
)
from pytest_multiarch.executors.ssh_stage import Stager
from pytest_multiarch.proc import ProcResult

# $1: working directory; the rest: the command (env K=V... binary args). Without `setsid` (not
# POSIX, but in util-linux and BusyBox) the test shares the wrapper's group: only the test
# process itself is then killed, not what it started. `exec 3<&0`: a background job's stdin is
# /dev/null in a shell without job control, so the watcher reads the channel through fd 3.
WRAPPER = """cd "$1" || exit 125
shift
exec 3<&0
if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null 3<&- & else "$@" </dev/null 3<&- & fi
p=$!
{ while read -r _; do :; done; kill -TERM -$p $p 2>/dev/null; sleep 1; kill -KILL -$p $p 2>/dev/null; } <&3 &
w=$!
exec 3<&-
wait $p; s=$?
kill -KILL -$p 2>/dev/null
kill $w 2>/dev/null
exit $s
"""
LOST = "pytest-multiarch: the ssh connection to {host} was lost while the test process ran"


def _fix(arch: Arch) -> str:
    return (f"set multiarch_remotes = {arch.name}=USER@HOST in the ini file, or pass "
            f"--arch-remote={arch.name}=USER@HOST (see docs/how-to/ssh.md)")  # fmt: skip


# A 64-bit kernel whose CPU also runs the 32-bit programs of its family (a Raspberry Pi OS of 32
# bits on a 64-bit kernel says aarch64): the arch it may be configured for besides its own.
_COMPAT = {"aarch64": "arm", "x86_64": "386"}


def runs_on_machine(arch: Arch, machine: str) -> bool:
    """Can a machine whose ``uname -m`` is ``machine`` run ``arch``'s programs? The CPU must be
    the arch's (its C library is not seen: a musl column runs where its glibc twin does), or the
    32-bit one its kernel also runs; a MIPS ``uname`` does not say the byte order."""
    name = {"armv7l": "arm", "armv8l": "arm", "armv6l": "arm"}.get(machine, machine)
    if _COMPAT.get(machine) == arch.name.split("-")[0] or name == arch.name:
        return True
    try:
        found = archmod.get(name)
    except archmod.ArchError:
        return False
    same = found.elf_machine == arch.elf_machine and found.elf_class == arch.elf_class
    return same and (found.endian == arch.endian or machine.startswith("mips"))


class _Host:
    def __init__(self, remote: Remote, conn: Connection) -> None:
        self.remote, self.conn, self.stager = remote, conn, Stager(conn)
        self.busy = 0
        self.batches = 0


class SshExecutor:
    """The ``ssh`` executor: the remotes configured for an arch run its binaries."""

    name = "ssh"
    remote = True  # files the test writes stay on the remote (Go's test log: the cache is off)

    def __init__(self) -> None:
        self._remotes: list[Remote] = []
        self._config: str | None = None
        self._env_names: tuple[str, ...] = ()
        self._hosts: dict[str, _Host] = {}
        self._runtime: Path | None = None
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)

    def configure(
        self, remotes: Sequence[Remote], *, ssh_config: str | None = None, env_names: Sequence[str] = ()
    ) -> None:
        """The remotes, the ssh client's config file (``-F``), the variables to send by name."""
        self.close()
        self._remotes, self._config, self._env_names = list(remotes), ssh_config, tuple(env_names)

    def remotes(self, arch: Arch) -> list[Remote]:
        return [r for r in self._remotes if r.arch == arch]

    def host(self, remote: Remote) -> _Host:
        with self._lock:
            found = self._hosts.get(remote.destination)
            if found is None:
                if self._runtime is None:
                    self._runtime = runtime_dir()
                sock = self._runtime / f"c{len(self._hosts)}"
                found = self._hosts[remote.destination] = _Host(
                    remote, Connection(remote, sock, self._config)
                )
            return found

    def connect(self, remote: Remote) -> HostInfo:
        """Open the connection, ask the host about itself, and check it is of the arch."""
        info = self.host(remote).conn.open()
        if not runs_on_machine(remote.arch, info.machine):
            raise RemoteError(remote.arch, f"ssh {remote.host}: it is configured for {remote.arch.name}, but "
                              f"`uname -m` there says {info.machine}",
                              f"point multiarch_remotes / --arch-remote at a {remote.arch.name} machine, or "
                              f"configure {remote.destination} for its own architecture",
                              named=True)  # fmt: skip
        return info

    def check(self, arch: Arch) -> None:
        remotes = self.remotes(arch)
        if not remotes:
            raise ExecutorUnavailable(arch, f"no remote machine is configured for {arch.name}", _fix(arch))
        for r in remotes:
            self.connect(r)

    def describe(self, arch: Arch) -> str:
        parts = []
        for r in self.remotes(arch):
            info = self.host(r).conn.info
            parts.append(
                f"{r.host} ({info.machine}, {info.short_system()})" if info else f"{r.host} (not connected)"
            )
        return "ssh " + ", ".join(parts) if parts else "ssh: no remote configured"

    def slots(self, arch: Arch) -> int:
        """How many test processes the connected hosts of ``arch`` run at once (their cores)."""
        hosts = [self.host(r).conn.info for r in self.remotes(arch)]
        return sum(info.cores for info in hosts if info is not None)

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        elfmod.check_arch(binary, arch)
        remotes = self.remotes(arch)
        if not remotes:
            raise ExecutorUnavailable(arch, f"no remote machine is configured for {arch.name}", _fix(arch))
        hosts = ", ".join(r.host for r in remotes)
        return Invocation(argv=("ssh", remotes[0].destination, str(binary), *args),
                          notes=(f"staged by content and run on {hosts}",))  # fmt: skip

    def bind(
        self, invocation: Invocation, added: Mapping[str, str], cwd: str | os.PathLike[str]
    ) -> Invocation:
        """The invocation with a reproduce line a user can paste: ``ssh HOST '<the same command
        on the staged copies>'`` (the first host of the arch; any other has the same copies)."""
        env = {**added, **invocation.env}
        binary, args = Path(invocation.argv[2]), invocation.argv[3:]
        files = ssh_stage.tree_files(Path(cwd))
        cache = '"${XDG_CACHE_HOME:-$HOME/.cache}/' + CACHE_SUBDIR
        line = " ".join([f'cd {cache}/trees/{ssh_stage.tree_key(files)}" && env',
                         *(shlex.quote(f"{k}={v}") for k, v in env.items()),
                         f'{cache}/blobs/{ssh_stage.digest(binary)}"', *map(shlex.quote, args)])  # fmt: skip
        config = ["-F", self._config] if self._config else []
        return dataclasses.replace(
            invocation, argv=("ssh", *config, invocation.argv[1], line), env=env, cwd=None
        )

    def _acquire(self, arch: Arch) -> _Host:
        """The host of ``arch`` with the most free slots (cores), waiting for one if all are busy."""
        hosts = [self.host(r) for r in self.remotes(arch)]
        for h in hosts:
            self.connect(h.remote)
        with self._free:
            while True:
                free = [
                    (h.conn.info.cores - h.busy if h.conn.info else 1, -i, h) for i, h in enumerate(hosts)
                ]
                slots, _, best = max(free, key=lambda t: (t[0], t[1]))
                if slots > 0:
                    best.busy += 1
                    return best
                self._free.wait()

    def _release(self, host: _Host) -> None:
        with self._free:
            host.busy -= 1
            self._free.notify_all()

    def execute(self, invocation: Invocation, request: RunRequest) -> ProcResult:
        if request.input is not None:
            raise ExecutorUnavailable(request.arch, "the ssh executor does not pass stdin to a test",
                                      "use --arch-executor=qemu or binfmt for this run")  # fmt: skip
        host = self._acquire(request.arch)
        try:
            return self._execute(host, invocation, request)
        finally:
            self._release(host)

    def _env(self, invocation: Invocation, request: RunRequest) -> dict[str, str]:
        named = {k: request.env[k] for k in self._env_names if k in request.env}
        return {**named, **invocation.env}

    def _execute(self, host: _Host, invocation: Invocation, request: RunRequest) -> ProcResult:
        remote_bin, remote_cwd = host.stager.stage(Path(request.binary), Path(request.cwd))
        with self._lock:
            host.batches += 1
        env = [f"{k}={v}" for k, v in self._env(invocation, request).items()]
        args = [remote_cwd, "env", *env, remote_bin, *request.args]
        command = "sh -c " + shlex.quote(WRAPPER) + " pytest-multiarch " + shlex.join(args)
        sup = request.supervision or proc.Supervision()
        scratch = None
        if sup.capture is None:
            scratch = tempfile.mkdtemp(prefix="pm-ssh-out-")
            sup = dataclasses.replace(sup, capture=proc.Capture(Path(scratch, "out"), Path(scratch, "err")))
        assert sup.capture is not None
        try:
            res = host.conn.run(command, timeout=request.timeout, supervision=sup, hold_stdin=True)
            code = res.returncode
            if code == 255 and not res.stopped_because and not host.conn.alive():
                with open(sup.capture.stderr, "a") as f:
                    f.write("\n" + LOST.format(host=host.remote.host) + "\n")
            elif 128 < code < 160 and not res.stopped_because:
                code = -(code - 128)  # the wrapper's shell says 128+N for a test killed by signal N
            out = err = b""
            if scratch is not None:
                out, err = sup.capture.stdout.read_bytes(), sup.capture.stderr.read_bytes()
            return dataclasses.replace(res, returncode=code, stdout=out, stderr=err, argv=invocation.argv)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def summary(self) -> list[str]:
        """One line per host used: batches run, files and bytes staged."""
        lines = []
        for h in self._hosts.values():
            s = h.stager.sent
            if h.batches or s.files:
                lines.append(f"ssh {h.remote.host}: {h.batches} test process(es); staged {s.files} file(s), "
                             f"{s.bytes} bytes ({s.reused} already there)")  # fmt: skip
        return lines

    def close(self) -> None:
        with self._lock:
            hosts, self._hosts = list(self._hosts.values()), {}
            runtime, self._runtime = self._runtime, None
        for h in hosts:
            with contextlib.suppress(Exception):
                h.conn.close()
        if runtime is not None:
            shutil.rmtree(runtime, ignore_errors=True)
