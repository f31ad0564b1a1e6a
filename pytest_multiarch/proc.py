"""The one way this package starts a subprocess.

Every call: an argv list (never a shell), explicit environment and working directory, a
timeout, and the child's whole process group killed on timeout, interrupt or exit, so that
nothing (a qemu, a grandchild a test spawned) outlives the call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import watchdog

# After SIGTERM on timeout, how long the group gets to exit before SIGKILL.
TERM_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class ProcResult:
    """What a finished (or killed) process left behind."""

    argv: tuple[str, ...]
    returncode: int  # negative: killed by that signal (as subprocess reports it)
    stdout: bytes
    stderr: bytes
    duration: float
    timed_out: bool = False

    @property
    def signal(self) -> int | None:
        """The signal number that ended the process, if one did."""
        return -self.returncode if self.returncode < 0 else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe_exit(self) -> str:
        if self.timed_out:
            return f"timed out after {self.duration:.1f}s and was killed"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exited with status {self.returncode}"


# Process groups started by run() and still alive: batches run in worker threads, so an
# interrupt in the main thread must be able to reach them (see stop_all()).
_live_groups: set[int] = set()
_live_lock = threading.Lock()


_stopping = threading.Event()


class Stopped(Exception):
    """run() was called after stop_all(): the session is over, start nothing new."""


def stop_all() -> None:
    """Kill every process group run() started, and refuse to start more until resume()."""
    _stopping.set()
    with _live_lock:
        groups = list(_live_groups)
    for pgid in groups:
        _kill_group(pgid, signal.SIGKILL)
    for callback in list(_on_stop):
        callback()


def stopping() -> bool:
    """Has stop_all() been called (and not resume())? Start nothing new then."""
    return _stopping.is_set()


_on_stop: list[Callable[[], None]] = []


def on_stop(callback: Callable[[], None]) -> None:
    """Also call ``callback`` in stop_all(): for what is not a process group (containers)."""
    if callback not in _on_stop:
        _on_stop.append(callback)


def resume() -> None:
    """Allow run() again (a new pytest session in the same process, e.g. under pytester)."""
    _stopping.clear()


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str],
    timeout: float,
    input: bytes | None = None,
    merge_stderr: bool = False,
) -> ProcResult:
    """Run ``argv`` to completion or ``timeout`` seconds, whichever comes first."""
    args = tuple(os.fspath(a) for a in argv)
    if _stopping.is_set():
        raise Stopped(f"not starting {args[0]}: the test session is stopping")
    start = time.monotonic()
    watchdog.ensure_started()
    tag = watchdog.call_tag()
    proc = subprocess.Popen(
        args,
        env={**env, watchdog.RUN_VAR: tag},
        cwd=Path(cwd),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        start_new_session=True,  # its own process group, so we can kill all of it
    )
    pgid = proc.pid
    with _live_lock:
        _live_groups.add(pgid)
    timed_out = False
    try:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(pgid, signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=TERM_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _kill_group(pgid, signal.SIGKILL)
                # A grandchild outside the group may still hold the pipes: bounded wait.
                try:
                    out, err = proc.communicate(timeout=TERM_GRACE_SECONDS)
                except subprocess.TimeoutExpired as exc:
                    proc.kill()
                    proc.wait()  # the leader is gone (SIGKILLed with its group): reap it
                    out, err = exc.stdout or b"", exc.stderr or b""  # what it printed is kept
    except BaseException:  # KeyboardInterrupt included: leave nothing running
        _kill_group(pgid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        raise
    finally:
        _kill_group(pgid, signal.SIGKILL)  # whatever the leader left running
        watchdog.kill_tagged(tag)  # and what left the group (a daemon in a session of its own)
        with _live_lock:
            _live_groups.discard(pgid)
    return ProcResult(
        argv=args,
        returncode=proc.returncode if proc.returncode is not None else -signal.SIGKILL,
        stdout=out or b"",
        stderr=err or b"",
        duration=time.monotonic() - start,
        timed_out=timed_out,
    )


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment plus ``extra``: the explicit env most callers start from."""
    env = dict(os.environ)
    if extra:
        env.update(extra)
    return env
