"""A real OpenSSH server on 127.0.0.1 for the ssh executor's tests, and what they check with it.

Each ``SshServer`` is ``/usr/sbin/sshd -D`` with its own generated host key, its own
authorized key, its own configuration and a free port; the client side gets an ssh config file
(``Host <alias>``: that port, the generated identity, a known_hosts file of its own) that the
inner pytest runs are given through ``multiarch_ssh_config``. Nothing touches /etc/ssh or
~/.ssh. ``stop()`` kills the server and every session process it started.

How loopback passes for a machine of another architecture (the choice, for every test here):
the server sets the session's PATH (``SetEnv`` in its config) so that a directory of its own
comes first, where ``uname`` is a small script that prints the architecture the server plays
(``uname -m``) and defers to the real ``uname`` otherwise; the executor asks ``uname -m``
through the login's PATH. Foreign binaries then run through a binfmt_misc handler registered
for the test (the ``kernel_handlers`` fixture takes it back), with ``QEMU_LD_PREFIX`` and
``QEMU_SET_ENV`` set by the server for dynamically linked (Rust) binaries, as the binfmt
executor sets them. The remote's cache is under ``XDG_CACHE_HOME``, also set by the server, so
each server has a cache of its own in a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
FIX = "apt-get install openssh-server openssh-client (scripts/test.sh installs them)"


def missing() -> str:
    """Why these tests cannot run here, or ""."""
    if not SSHD.is_file() or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return f"OpenSSH (sshd, ssh, ssh-keygen) is not installed: {FIX}"
    if os.geteuid() != 0:
        return "the ssh tests log in as the user running them with sshd's privilege separation: run as root"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=60)
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


class SshServer:
    """One sshd on 127.0.0.1 playing a machine whose ``uname -m`` is ``machine``."""

    def __init__(self, root: Path, alias: str, machine: str) -> None:
        self.root, self.alias, self.machine = root, alias, machine
        root.mkdir(parents=True, exist_ok=True)
        self.bin = root / "bin"
        self.bin.mkdir(exist_ok=True)
        self.cache_home = root / "cache"
        self.cache_home.mkdir(exist_ok=True)
        self.port = free_port()
        self.host_key = root / "host_key"
        self.host_pub = _keygen(self.host_key)
        self.identity = root / "id_user"
        _keygen(self.identity)
        (root / "authorized_keys").write_text(Path(f"{self.identity}.pub").read_text())
        uname = self.bin / "uname"
        uname.write_text(f'#!/bin/sh\nif [ "$1" = -m ]; then echo {machine}; else exec /bin/uname "$@"; fi\n')
        uname.chmod(0o755)
        self.log = root / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.known_hosts = root / "known_hosts"
        self.trust(self.host_pub)

    @property
    def cache(self) -> Path:
        """The remote's cache directory (what the executor stages into)."""
        return self.cache_home / "pytest-multiarch"

    def trust(self, public_key: str) -> None:
        """What the client's known_hosts says this host's key is."""
        self.known_hosts.write_text(f"{self.alias} {public_key}\n")

    def sshd_config(self) -> str:
        path = f"{self.bin}:/usr/local/bin:/usr/bin:/bin"
        sysroot = Path(f"/usr/{self.machine}-linux-gnu")
        qemu = f"QEMU_LD_PREFIX={sysroot} QEMU_SET_ENV=LD_LIBRARY_PATH=/lib" if sysroot.is_dir() else ""
        return (
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"PidFile {self.root}/sshd.pid\n"
            f"AuthorizedKeysFile {self.root}/authorized_keys\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitUserEnvironment no\n"
            f"SetEnv PATH={path} XDG_CACHE_HOME={self.cache_home} {qemu}\n"
            "LogLevel VERBOSE\n"
        )

    def client_config(self) -> str:
        return (
            f"Host {self.alias}\n  HostName 127.0.0.1\n  Port {self.port}\n"
            f"  User {pwd.getpwuid(os.geteuid()).pw_name}\n"
            f"  IdentityFile {self.identity}\n  IdentitiesOnly yes\n  HostKeyAlias {self.alias}\n"
            f"  UserKnownHostsFile {self.known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
        )

    def start(self) -> SshServer:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory (empty)
        config = self.root / "sshd_config"
        config.write_text(self.sshd_config())
        self.proc = subprocess.Popen([str(SSHD), "-D", "-f", str(config), "-E", str(self.log)],
                                     stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text() if self.log.exists() else ''}")
            time.sleep(0.05)
        raise RuntimeError("sshd did not listen within 30 s")

    def sessions(self) -> list[int]:
        """The per-connection sshd processes this server started."""
        if self.proc is None:
            return []
        return [pid for pid in _children(self.proc.pid)]

    def kill_sessions(self) -> list[int]:
        """SIGKILL the sshd processes serving connections (not the listener, nor what they run):
        every client's connection drops as if the network went away."""
        if self.proc is None:
            return []
        killed = []
        for pid in _descendants(self.proc.pid):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            except (OSError, ProcessLookupError):
                continue
        return killed

    def stop(self) -> None:
        """Kill the server and every process under it (sessions, shells, tests left running)."""
        if self.proc is None:
            return
        tree = _descendants(self.proc.pid)
        for pid in [self.proc.pid, *tree]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


_SHELLS = {"ssh", "sh", "bash", "dash", "env", "setsid"}


def staged_programs_running(server: SshServer) -> list[str]:
    """The staged test binaries running from ``server``'s cache (not the shells around them, nor
    our ssh clients): the program itself, or QEMU running it through binfmt_misc."""
    lines = running_under(server.cache / "blobs")
    return [line for line in lines if os.path.basename(line.split()[1]) not in _SHELLS]


def write_ssh_config(path: Path, servers: list[SshServer]) -> Path:
    path.write_text("".join(s.client_config() for s in servers))
    return path


def running_under(directory: Path, *, remote_only: bool = False) -> list[str]:
    """Processes whose command line names ``directory`` (a remote cache: staged test binaries);
    with ``remote_only``, not our own ``ssh`` clients (whose command lines name it too)."""
    needle = str(directory)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if needle in line and not (remote_only and line.startswith("ssh ")):
            found.append(f"{entry.name} {line}")
    return found
