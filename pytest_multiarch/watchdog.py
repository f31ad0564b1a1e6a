"""Nothing this package starts outlives it, even when pytest itself is SIGKILLed.

Every process ``proc.run`` starts carries ``PYTEST_MULTIARCH_RUN`` in its environment: the chain
of the pytest processes above it and a tag of its own call (``<outer>/<this pytest>/<call>``).
Children, grandchildren and whatever they fork inherit it, whatever process group or session
they move to, and it is visible in ``/proc/<pid>/environ``. Two things use it:

- after each call, ``proc.run`` kills what is still tagged with that call (a daemon a test
  forked into a session of its own escapes the process-group kill, not the tag);
- a watchdog process, started with the first call, holds the read end of a pipe whose write end
  only this pytest holds. When pytest dies by any means, SIGKILL and the OOM killer included,
  the kernel closes that end; the watchdog reads EOF and kills every process tagged with this
  pytest's token (xdist workers, their emulators and compilers included), then exits.

``PR_SET_PDEATHSIG`` was the alternative: it reaches only the direct child (QEMU, but not what
the emulated test forks, nor ``go``'s compiler processes), fires when the *thread* that started
the child ends (batches run in worker threads), and needs a ``preexec_fn``, which is unsafe in a
threaded process. The tag covers every descendant and costs one small process per session.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time

RUN_VAR = "PYTEST_MULTIARCH_RUN"
_INHERITED = os.environ.get(RUN_VAR, "")  # read before adopt() sets our own chain there
_TOKEN = f"p{os.getpid()}-{secrets.token_hex(4)}"  # this process; a forked child gets its own below
_lock = threading.Lock()
_owner_pid = 0  # the process the running watchdog watches (0: none started)
_pipe: int | None = None
_calls = 0


def _token() -> str:
    global _TOKEN
    if not _TOKEN.startswith(f"p{os.getpid()}-"):  # a fork of the process that set it
        _TOKEN = f"p{os.getpid()}-{secrets.token_hex(4)}"
    return _TOKEN


def chain() -> str:
    """This process's tag chain: the one it inherited, and its own token."""
    return f"{_INHERITED}/{_token()}" if _INHERITED else _token()


def adopt(start: bool) -> None:
    """Tag what this process starts by any means (xdist's workers too) with its chain, and
    start the watchdog now when ``start`` (a process that may start none itself, e.g. an xdist
    controller, must still take its workers down with it)."""
    os.environ[RUN_VAR] = chain()
    if start:
        ensure_started()


def call_tag() -> str:
    """A tag for one more call (the chain plus a call number), for the child's environment."""
    global _calls
    with _lock:
        _calls += 1
        return f"{chain()}/c{_calls}"


def ensure_started() -> None:
    """Start this process's watchdog, once (again in a forked child)."""
    global _owner_pid, _pipe
    with _lock:
        if _owner_pid == os.getpid():
            return
        read_end, write_end = os.pipe()  # not inherited by children: only we hold write_end
        env = {k: v for k, v in os.environ.items() if k != RUN_VAR}  # never its own target
        try:
            subprocess.Popen(
                [sys.executable, "-m", "pytest_multiarch.watchdog", _token()],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=env, cwd="/", start_new_session=True,  # not in pytest's group: outlives a group kill
            )  # fmt: skip
        finally:
            os.close(read_end)
        _owner_pid, _pipe = os.getpid(), write_end


def tagged(tag: str) -> list[int]:
    """Processes whose ``PYTEST_MULTIARCH_RUN`` chain holds ``tag`` (this process excluded): a
    pytest's token anywhere in the chain, or a call's tag (``<chain>/c<n>``) as its start."""
    found = []
    marker = RUN_VAR.encode() + b"="
    want = tag.encode()

    def holds(value: bytes) -> bool:
        if b"/" in want:
            return value == want or value.startswith(want + b"/")
        return want in value.split(b"/")

    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        environ = _environ(entry.name)
        if environ is None or marker not in environ:  # gone, not ours to read, or untagged
            continue
        for var in environ.split(b"\0"):
            if var.startswith(marker) and holds(var[len(marker) :]):
                found.append(int(entry.name))
                break
    return found


def _environ(pid: str) -> bytes | None:
    """``/proc/<pid>/environ`` (unbuffered: this runs after every call, over every process), or
    None when the process is gone or not ours to read."""
    try:
        fd = os.open(f"/proc/{pid}/environ", os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def kill_tagged(tag: str, rounds: int = 20) -> int:
    """SIGKILL every process tagged with ``tag``, again until none is left (a process may fork
    while we look); how many were killed."""
    killed = 0
    for _ in range(rounds):
        pids = tagged(tag)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    return killed


def main(token: str) -> None:
    """The watchdog: wait until the pytest that started us is gone, then kill what it left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal is pytest's to handle
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    kill_tagged(token)


if __name__ == "__main__":
    main(sys.argv[1])
