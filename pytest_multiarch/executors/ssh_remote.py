"""One remote machine reached through the system's OpenSSH client: its configured name, one
multiplexed connection to it, and what it says of itself (``uname``, cores, cache directory).

The connection is a control master (``ssh -o ControlMaster=yes -N``; not with ``-M`` as well,
which would make it ``ask``) that this process runs in the foreground of a ``proc.run`` call in
a thread of its own, with its socket in a private runtime directory:
every command after it goes over that one connection (``ControlMaster=no``, the same
``ControlPath``). The master is thus one of our supervised process groups: ``close`` asks it to
exit (``ssh -O exit``), a stopped session kills it, and the watchdog kills it if pytest dies.
A master that died (the server dropped us) is started again on the next use.
``BatchMode=yes``: ssh never asks anything; what the user's ``~/.ssh/config`` (or the
``-F`` file given) says about host keys, identities and jump hosts applies unchanged.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors.base import ExecutorUnavailable
from pytest_multiarch.proc import ProcResult

CONNECT_SECONDS = 30.0  # a master that is not up by then is reported as unreachable
COMMAND_SECONDS = 120.0  # a staging or probe command
CACHE_SUBDIR = "pytest-multiarch"
# One round trip: the cache directory (created), the machine, the kernel, the cores, free space.
PROBE = (
    'c="${XDG_CACHE_HOME:-$HOME/.cache}/' + CACHE_SUBDIR + '"; mkdir -p "$c" || exit 3; '
    'cd "$c" && pwd; uname -m; uname -sr; '
    "nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1; "
    "df -Pk . | tail -n 1"
)


class RemoteError(ExecutorUnavailable):
    """A remote machine cannot be used: says which, why, and the command that fixes it."""


@dataclass(frozen=True)
class Remote:
    """A configured remote: the architecture it serves and the ssh destination (``user@host``,
    a ``~/.ssh/config`` alias, or ``ssh://user@host:port``)."""

    arch: Arch
    destination: str

    @property
    def host(self) -> str:
        """The host part of the destination: what reports and messages name."""
        rest = self.destination.removeprefix("ssh://")
        rest = rest.rpartition("@")[2]
        if rest.startswith("["):
            return rest[1:].partition("]")[0]
        return rest.partition(":")[0] if self.destination.startswith("ssh://") else rest


def parse_remotes(entries: Sequence[str]) -> list[Remote]:
    """``ARCH=DESTINATION`` entries (whitespace- or comma-separated); ValueError naming a bad
    one. The same destination may serve one architecture only."""
    remotes: list[Remote] = []
    for entry in (e for chunk in entries for e in chunk.replace(",", " ").split()):
        name, sep, destination = entry.partition("=")
        if not sep or not destination or not name:
            raise ValueError(f"{entry!r} is not ARCH=DESTINATION (e.g. arm64=ci@graviton-1)")
        try:
            arch = archmod.get(name)
        except archmod.ArchError as exc:
            raise ValueError(f"{entry!r}: {exc}") from None
        if destination.startswith("-"):
            raise ValueError(f"{entry!r}: a destination may not start with '-'")
        other = next((r for r in remotes if r.destination == destination), None)
        if other is not None and other.arch != arch:
            raise ValueError(f"{destination} is configured for both {other.arch.name} and {arch.name}")
        if other is None:
            remotes.append(Remote(arch, destination))
    return remotes


@dataclass(frozen=True)
class HostInfo:
    """What a remote said of itself, asked once per connection."""

    cache: str  # the absolute path of its cache directory
    machine: str  # uname -m
    system: str  # uname -sr, e.g. "Linux 6.8.0"
    cores: int
    free_bytes: int
    rtt: float  # seconds the probe's round trip took

    def short_system(self) -> str:
        """``Linux 6.8`` from ``Linux 6.8.0-1015-aws``."""
        name, _, release = self.system.partition(" ")
        return f"{name} {'.'.join(release.split('-')[0].split('.')[:2])}".strip()


def ssh_base(config: str | None) -> list[str]:
    """The client's options common to every call."""
    return ["ssh", *(["-F", config] if config else []), "-o", "BatchMode=yes", "-o", "ConnectTimeout=15",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]  # fmt: skip


def _check_command(remote: Remote, config: str | None) -> str:
    return shlex.join([*(["ssh", "-F", config] if config else ["ssh"]), "-o", "BatchMode=yes",
                       remote.destination, "true"])  # fmt: skip


def explain_failure(remote: Remote, stderr: str, config: str | None) -> RemoteError:
    """The error a user can act on, from what ssh said when it could not connect."""
    host, dest = remote.host, remote.destination
    check = _check_command(remote, config)
    login = shlex.join([*(["ssh", "-F", config] if config else ["ssh"]), dest])
    text = " ".join(stderr.split())
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or (
        "Host key for" in stderr and "has changed" in stderr
    ):
        why = (f"the host key of {host} does not match the one in known_hosts "
               f"(it changed, or this is not {host})")
        fix = (
            f"if the change is expected, `ssh-keygen -R {shlex.quote(host)}`, then `{login}` "
            f"once to accept the new key after checking its fingerprint; then `{check}` must print nothing"
        )
    elif (
        "Host key verification failed" in stderr
        or "No ED25519 host key is known" in stderr
        or ("host key is known" in stderr)
    ):
        why = f"{host}'s host key is not in known_hosts, and BatchMode does not ask"
        fix = (
            f"`{login}` once and accept the key after checking its fingerprint; "
            f"then `{check}` must print nothing"
        )
    elif "Permission denied" in stderr:
        why = f"{dest} refused every key offered (BatchMode: no password prompt)"
        fix = (f"`ssh-copy-id {shlex.quote(dest)}` (or add your public key to its authorized_keys); "
               f"then `{check}`")
    else:
        why = f"cannot connect to {dest}: {text[-400:] or 'ssh exited without a word'}"
        fix = (
            f"check that {host} is up and runs sshd, and the destination in multiarch_remotes / "
            f"--arch-remote; `{check}` must print nothing"
        )
    return RemoteError(remote.arch, f"ssh {host}: {why}", fix, named=True)


class Connection:
    """One multiplexed ssh connection to a remote, opened on first use."""

    def __init__(self, remote: Remote, socket: Path, config: str | None) -> None:
        self.remote, self.socket, self.config = remote, socket, config
        self._lock = threading.Lock()
        self._master: threading.Thread | None = None
        self._master_result: ProcResult | None = None
        self.info: HostInfo | None = None

    def _client(self) -> list[str]:
        return [*ssh_base(self.config), "-o", f"ControlPath={self.socket}", "-o", "ControlMaster=no", "-T"]

    def _run_master(self, argv: list[str]) -> None:
        try:
            self._master_result = proc.run(argv, env=proc.base_env(), cwd="/", timeout=0)
        except proc.Stopped:
            self._master_result = ProcResult(tuple(argv), 255, b"", b"the session is stopping", 0.0)

    def alive(self) -> bool:
        """Is the master up and answering on its socket?"""
        if self._master is None or not self._master.is_alive():
            return False
        argv = [*self._client(), "-O", "check", self.remote.destination]
        return proc.run(argv, env=proc.base_env(), cwd="/", timeout=10).returncode == 0

    def open(self) -> HostInfo:
        """Start the master (again, if it died) and ask the host about itself once."""
        with self._lock:
            up = self._master is not None and self._master.is_alive() and self.socket.exists()
            if not up:  # (a master whose link died exits: ServerAliveInterval, or the server's close)
                self._start()
            if self.info is None:
                self.info = self._probe()
            return self.info

    def _start(self) -> None:
        self.socket.unlink(missing_ok=True)
        self._master_result = None
        argv = [*ssh_base(self.config), "-o", f"ControlPath={self.socket}", "-o", "ControlMaster=yes",
                "-o", "ControlPersist=no", "-N", "-T", self.remote.destination]  # fmt: skip
        self._master = threading.Thread(target=self._run_master, args=(argv,), daemon=True,
                                        name=f"multiarch-ssh-{self.remote.host}")  # fmt: skip
        self._master.start()
        deadline = time.monotonic() + CONNECT_SECONDS
        while time.monotonic() < deadline:
            if not self._master.is_alive():
                break
            if self.socket.exists() and self.alive():
                return
            time.sleep(0.05)
        self._master.join(timeout=5)
        done = self._master_result
        said = done.stderr.decode("utf-8", "replace") if done is not None else "no connection within 30 s"
        raise explain_failure(self.remote, said, self.config)

    def _probe(self) -> HostInfo:
        start = time.monotonic()
        res = self.run(PROBE)
        rtt = time.monotonic() - start
        lines = res.stdout.decode("utf-8", "replace").splitlines()
        if res.returncode != 0 or len(lines) < 5:
            said = (res.stderr or res.stdout).decode("utf-8", "replace").strip()[-400:]
            why = f"ssh {self.remote.host}: asking it about itself failed ({said})"
            raise RemoteError(self.remote.arch, why,
                              f"check that `{_check_command(self.remote, self.config)}` works and that the "
                              "remote user's home directory is writable", named=True)  # fmt: skip
        fields = lines[4].split()
        free = int(fields[3]) * 1024 if len(fields) > 3 and fields[3].isdigit() else 0
        cores = int(lines[3]) if lines[3].strip().isdigit() else 1
        return HostInfo(lines[0], lines[1].strip(), lines[2].strip(), max(cores, 1), free, rtt)

    def run(
        self,
        command: str,
        *,
        input: bytes | None = None,
        timeout: float = COMMAND_SECONDS,
        supervision: proc.Supervision | None = None,
        hold_stdin: bool = False,
    ) -> ProcResult:
        """Run a shell ``command`` on the remote over the connection (its login shell runs it)."""
        argv = [*self._client(), self.remote.destination, command]
        return proc.run(argv, env=proc.base_env(), cwd="/", timeout=timeout, input=input,
                        supervision=supervision, hold_stdin=hold_stdin)  # fmt: skip

    def close(self) -> None:
        """Ask the master to exit and wait for it."""
        with self._lock:
            master, self._master = self._master, None
            if master is None:
                return
            if master.is_alive() and not proc.stopping():
                argv = [*self._client(), "-O", "exit", self.remote.destination]
                proc.run(argv, env=proc.base_env(), cwd="/", timeout=10)
            master.join(timeout=10)
            self.socket.unlink(missing_ok=True)


def runtime_dir() -> Path:
    """A private directory for the control sockets (short: a socket path has ~100 bytes), named
    with this process's pid; those a killed process left (pid gone, same owner) are removed."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    # <base>/pm-ssh-<pid>-XXXXXXXX/c0, and the master's 17-character temporary suffix: 107 bytes
    if not os.path.isdir(base) or len(base) > 55:
        base = "/tmp"
    for entry in Path(base).glob("pm-ssh-*-*"):
        pid = entry.name.split("-")[2]
        with contextlib.suppress(OSError):
            if pid.isdigit() and not Path(f"/proc/{pid}").exists() and entry.stat().st_uid == os.getuid():
                shutil.rmtree(entry, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"pm-ssh-{os.getpid()}-", dir=base))
