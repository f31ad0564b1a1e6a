"""The one way this package starts a subprocess.

Every call: an argv list (never a shell), explicit environment and working directory, a
timeout, and the child's whole process group killed on timeout, interrupt or exit, so that
nothing (a qemu, a grandchild a test spawned) outlives the call.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import watchdog
from pytest_multiarch.errors import MultiarchError

# After SIGTERM on timeout, how long the group gets to exit before SIGKILL.
TERM_GRACE_SECONDS = 2.0
# After a first signal other than SIGTERM (SIGQUIT: a Go binary prints every goroutine's stack),
# how long before SIGTERM. Under emulation the dump itself takes a moment.
QUIT_GRACE_SECONDS = 5.0
WATCH_INTERVAL = 0.2  # how often a supervised process's watch is asked whether to stop it


@dataclass(frozen=True)
class Capture:
    """Files that receive a process's stdout and stderr instead of memory (any size)."""

    stdout: Path
    stderr: Path


@dataclass(frozen=True)
class Supervision:
    """How a long-running child is watched: output to files, a ``watch`` asked every
    ``interval`` seconds whether to stop it (a reason, or None), and the first signal it then gets."""

    capture: Capture | None = None
    watch: Callable[[], str | None] | None = None
    first_signal: int = signal.SIGTERM
    interval: float = WATCH_INTERVAL  # how often ``watch`` is asked


@dataclass(frozen=True)
class ProcResult:
    """What a finished (or killed) process left behind."""

    argv: tuple[str, ...]
    returncode: int  # negative: killed by that signal (as subprocess reports it)
    stdout: bytes
    stderr: bytes
    duration: float
    timed_out: bool = False
    stopped_because: str = ""  # why it was stopped before it ended (timeout, a watch's reason)

    @property
    def signal(self) -> int | None:
        """The signal number that ended the process, if one did."""
        return -self.returncode if self.returncode < 0 else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe_exit(self) -> str:
        if self.stopped_because:
            return f"was stopped: {self.stopped_because}"
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


class Stopped(MultiarchError):
    """run() was called after stop_all(): the session is over, start nothing new."""

    becomes = "infra"  # the session stops the run, not the test


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
    supervision: Supervision | None = None,
    hold_stdin: bool = False,
) -> ProcResult:
    """Run ``argv`` to completion or ``timeout`` seconds (0: no limit), whichever comes first.

    With ``supervision``, output goes to its files (the result's stdout/stderr are then empty),
    its ``watch`` may stop the process early, and stopping starts with its ``first_signal``.
    With ``hold_stdin`` (and a supervision that captures, and no ``input``), the child's stdin is
    a pipe that only this process holds open: the child reads end-of-file when the call is over
    or this process dies, whichever comes first (the ssh executor's remote side watches for it).
    """
    args = tuple(os.fspath(a) for a in argv)
    if _stopping.is_set():
        raise Stopped(f"not starting {args[0]}: the test session is stopping")
    if hold_stdin and (input is not None or supervision is None or supervision.capture is None):
        raise ValueError("hold_stdin needs a supervision that captures, and no input")
    watchdog.ensure_started()
    if supervision is not None and supervision.capture is not None:
        return _run_captured(args, env, cwd, timeout, input, supervision, hold_stdin)
    start = time.monotonic()
    timeout = timeout or None  # type: ignore[assignment]  # 0: no limit
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


def _run_captured(
    args: tuple[str, ...],
    env: Mapping[str, str],
    cwd: str | os.PathLike[str],
    timeout: float,
    input: bytes | None,
    sup: Supervision,
    hold_stdin: bool = False,
) -> ProcResult:
    assert sup.capture is not None
    start = time.monotonic()
    tag = watchdog.call_tag()
    with open(sup.capture.stdout, "wb") as out, open(sup.capture.stderr, "wb") as err:
        proc = subprocess.Popen(
            args, env={**env, watchdog.RUN_VAR: tag}, cwd=Path(cwd),
            stdin=subprocess.PIPE if input is not None or hold_stdin else subprocess.DEVNULL,
            stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip
    pgid = proc.pid
    with _live_lock:
        _live_groups.add(pgid)
    reason = ""
    try:
        if input is not None:
            threading.Thread(target=_feed, args=(proc, input), daemon=True).start()
        deadline = start + timeout if timeout else float("inf")
        exited = _ExitWaiter(proc)
        try:
            while not exited(max(min(sup.interval, deadline - time.monotonic()), 0.001)):
                if time.monotonic() >= deadline:
                    reason = f"timed out after {timeout:.0f} s"
                elif sup.watch is not None:
                    reason = sup.watch() or ""
                if reason:
                    _stop(proc, pgid, sup.first_signal)
                    break
        finally:
            exited.close()
        proc.wait()
    except BaseException:
        _kill_group(pgid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        raise
    finally:
        if hold_stdin and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        _kill_group(pgid, signal.SIGKILL)
        watchdog.kill_tagged(tag)
        with _live_lock:
            _live_groups.discard(pgid)
    return ProcResult(args, proc.returncode if proc.returncode is not None else -signal.SIGKILL, b"", b"",
                      time.monotonic() - start, timed_out=bool(reason), stopped_because=reason)  # fmt: skip


class _ExitWaiter:
    """Waits up to N seconds for a process to exit, saying whether it did.

    With a pidfd it wakes the moment the process exits (Popen.wait(timeout) polls with sleeps
    of up to 50 ms: that much per batch, hundreds of batches a run); else Popen.wait.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.poller: select.poll | None = None
        try:
            self.fd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # Linux < 5.3, or not Linux
            return
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)

    def __call__(self, seconds: float) -> bool:
        if self.poller is not None:
            return bool(self.poller.poll(seconds * 1000))
        try:
            self.proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        if self.poller is not None:
            self.poller.unregister(self.fd)
            os.close(self.fd)
            self.poller = None


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.write(data)
    with contextlib.suppress(OSError):
        proc.stdin.close()


def escalate(send: Callable[[int], None], exited: Callable[[float], bool], first: int) -> None:
    """Stop something: ``first`` (SIGQUIT for Go: its goroutine dump), then SIGTERM, then
    SIGKILL, each after a grace period it did not use to exit. ``send`` delivers a signal,
    ``exited(seconds)`` waits up to that long and says whether it ended. For process groups
    and containers alike."""
    steps = [(first, QUIT_GRACE_SECONDS)] if first != signal.SIGTERM else []
    for sig, grace in [*steps, (signal.SIGTERM, TERM_GRACE_SECONDS)]:
        send(sig)
        if exited(grace):
            return
    send(signal.SIGKILL)


def _stop(proc: subprocess.Popen[bytes], pgid: int, first: int) -> None:
    def exited(seconds: float) -> bool:
        try:
            proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    escalate(lambda sig: _kill_group(pgid, sig), exited, first)
    proc.wait()


FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def run_attached(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str],
    timeout: float | None = None,
) -> int:
    """Run ``argv`` on this process's own stdin, stdout and stderr (a runner standing in for
    the program, as ``go test -exec`` and cargo's runner want); its exit status, or 128+N when a
    signal N ended it, as a shell reports it.

    The child has a process group of its own; the signals a caller sends us (``go test``'s
    SIGQUIT on timeout, Ctrl-C) are passed on to that group, which is killed when the child
    ends and, through the watchdog, when we are killed.
    """
    args = tuple(os.fspath(a) for a in argv)
    watchdog.ensure_started()
    tag = watchdog.call_tag()
    proc = subprocess.Popen(args, env={**env, watchdog.RUN_VAR: tag}, cwd=Path(cwd), process_group=0)
    pgid = proc.pid

    def forward(sig: int, _frame: object) -> None:
        _kill_group(pgid, sig)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc, pgid, signal.SIGQUIT)
            code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _kill_group(pgid, signal.SIGKILL)
        watchdog.kill_tagged(tag)
    return 128 - code if code < 0 else code


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment plus ``extra``: the explicit env most callers start from."""
    env = dict(os.environ)
    if extra:
        env.update(extra)
    return env
