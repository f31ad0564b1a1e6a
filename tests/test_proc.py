"""The subprocess helper, driven by real shell scripts that misbehave (hang, spawn, ignore TERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from stubs import sigint_default

from pytest_multiarch import proc
from pytest_multiarch.proc import ProcResult


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "misbehave.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return [str(path)]


def alive(pid: int) -> bool:
    """Is ``pid`` a running (not zombie) process?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def live_members_after(pgid: int, seconds: float = 3.0) -> list[int]:
    """Live members of group ``pgid`` once SIGKILL had ``seconds`` to take effect."""
    deadline = time.monotonic() + seconds
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


def wait_gone(pids: list[int], seconds: float = 3.0) -> list[int]:
    """Give the kernel/init a moment to reap; the pids still alive after that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def group_gone(pgid: int, seconds: float = 10.0) -> bool:
    """Does ``os.killpg(pgid, 0)`` find no process (zombies included) within ``seconds``?

    Killed grandchildren are reparented to init, which may take a moment to reap them.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def pids_from(out: bytes) -> dict[str, int]:
    """Lines 'name=pid' the scripts print about themselves."""
    return {k: int(v) for k, v in (ln.split("=", 1) for ln in out.decode().split() if "=" in ln)}


# --- normal exits -------------------------------------------------------------------------------------


def test_output_status_and_env_cwd(tmp_path: Path) -> None:
    argv = script(tmp_path, 'echo "out $FOO $(pwd)"; echo err >&2; exit 3\n')
    res = proc.run(argv, env={"FOO": "bar", "PATH": os.environ["PATH"]}, cwd=tmp_path, timeout=30)
    assert res.stdout == f"out bar {tmp_path}\n".encode()
    assert res.stderr == b"err\n"
    assert res.returncode == 3
    assert not res.timed_out and not res.ok
    assert res.signal is None
    assert res.describe_exit() == "exited with status 3"
    assert res.argv == tuple(argv)


def test_success_and_input(tmp_path: Path) -> None:
    res = proc.run(["cat"], env=proc.base_env(), cwd=tmp_path, timeout=30, input=b"hello")
    assert res.ok and res.returncode == 0
    assert res.stdout == b"hello"
    assert res.describe_exit() == "exited with status 0"


def test_merge_stderr(tmp_path: Path) -> None:
    argv = script(tmp_path, "echo one; echo two >&2\n")
    res = proc.run(argv, env=proc.base_env(), cwd=tmp_path, timeout=30, merge_stderr=True)
    assert sorted(res.stdout.split()) == [b"one", b"two"]
    assert res.stderr == b""


def test_killed_by_a_signal_is_reported(tmp_path: Path) -> None:
    argv = script(tmp_path, "echo before; kill -SEGV $$\n")
    res = proc.run(argv, env=proc.base_env(), cwd=tmp_path, timeout=30)
    assert res.signal == signal.SIGSEGV
    assert res.returncode == -signal.SIGSEGV
    assert not res.timed_out and not res.ok
    assert res.describe_exit() == "killed by SIGSEGV"
    assert res.stdout == b"before\n"


def test_base_env_adds_to_the_environment() -> None:
    env = proc.base_env({"MULTIARCH_TEST_X": "1"})
    assert env["MULTIARCH_TEST_X"] == "1"
    assert env["PATH"] == os.environ["PATH"]
    assert "MULTIARCH_TEST_X" not in os.environ


# --- timeouts -------------------------------------------------------------------------------------------


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # The leader backgrounds a grandchild that would outlive it, says who is who, then hangs.
    argv = script(tmp_path, "sleep 300 &\necho leader=$$ grandchild=$!\nwait\n")
    start = time.monotonic()
    res = proc.run(argv, env=proc.base_env(), cwd=tmp_path, timeout=1)
    elapsed = time.monotonic() - start
    pids = pids_from(res.stdout)  # output printed before the kill is kept
    assert set(pids) == {"leader", "grandchild"}
    assert res.timed_out and not res.ok
    assert res.describe_exit().startswith("timed out after 1.")
    assert res.describe_exit().endswith("s and was killed")
    assert res.signal == signal.SIGTERM  # sh dies of the TERM sent to the group
    assert 1.0 <= elapsed < 1.0 + proc.TERM_GRACE_SECONDS
    assert wait_gone(list(pids.values())) == []
    assert live_members_after(pids["leader"]) == []
    assert group_gone(pids["leader"])


def test_term_ignored_then_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A group that ignores SIGTERM gets SIGKILL after the grace period (shortened to save time).
    monkeypatch.setattr(proc, "TERM_GRACE_SECONDS", 0.5)
    argv = script(
        tmp_path,
        "trap '' TERM\n(trap '' TERM; sleep 300) &\necho leader=$$ child=$!\nwhile :; do sleep 1; done\n",
    )
    start = time.monotonic()
    res = proc.run(argv, env=proc.base_env(), cwd=tmp_path, timeout=1)
    elapsed = time.monotonic() - start
    pids = pids_from(res.stdout)
    assert set(pids) == {"leader", "child"}
    assert res.timed_out
    assert res.signal == signal.SIGKILL
    assert 1.0 + proc.TERM_GRACE_SECONDS <= elapsed < 1.0 + 2 * proc.TERM_GRACE_SECONDS
    assert wait_gone(list(pids.values())) == []
    assert live_members_after(pids["leader"]) == []


def test_grandchild_that_left_the_group_cannot_hold_run_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proc, "TERM_GRACE_SECONDS", 0.5)
    # setsid puts the grandchild in its own group: run() cannot kill it, but must not wait for
    # it (it holds the stdout pipe open) beyond its bounded grace, and keeps what was printed.
    argv = script(tmp_path, "echo leader=$$\nsetsid sh -c 'echo escaped=$$; exec sleep 300' &\nwait\n")
    start = time.monotonic()
    res = proc.run(argv, env=proc.base_env(), cwd=tmp_path, timeout=1)
    elapsed = time.monotonic() - start
    pids = pids_from(res.stdout)
    try:
        assert res.timed_out
        assert elapsed < 1.0 + 2 * proc.TERM_GRACE_SECONDS + 1.0
        assert set(pids) == {"leader", "escaped"}, res.stdout
        assert wait_gone([pids["leader"]]) == []
    finally:
        if "escaped" in pids:  # we started it: clean it up by its pid
            os.kill(pids["escaped"], signal.SIGKILL)


def test_stop_all_reaches_runs_in_other_threads_and_refuses_new_ones(tmp_path: Path) -> None:
    argv = script(tmp_path, "echo leader=$$\nsleep 300\n")
    results: list[ProcResult] = []
    thread = threading.Thread(
        target=lambda: results.append(proc.run(argv, env=proc.base_env(), cwd=tmp_path, timeout=60))
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not proc._live_groups and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # let the script start its sleep
        start = time.monotonic()
        proc.stop_all()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - start < 5
        (res,) = results
        assert res.signal == signal.SIGKILL
        assert not res.timed_out
        assert res.describe_exit() == "killed by SIGKILL"
        assert not proc._live_groups
        assert live_members_after(pids_from(res.stdout)["leader"]) == []
        with pytest.raises(proc.Stopped, match="session is stopping"):
            proc.run(["true"], env=proc.base_env(), cwd=tmp_path, timeout=10)
    finally:
        proc.resume()
    assert proc.run(["true"], env=proc.base_env(), cwd=tmp_path, timeout=10).ok


def test_interrupt_kills_the_group_and_propagates(tmp_path: Path) -> None:
    # KeyboardInterrupt in the waiting thread: the child group is killed, the exception goes on.
    code = (
        "import os, signal, sys, threading, time\n"
        "from pytest_multiarch import proc\n"
        "def interrupt():\n"
        "    while not os.path.exists('leader.pid'): time.sleep(0.02)\n"
        "    time.sleep(0.1)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "threading.Thread(target=interrupt, daemon=True).start()\n"
        "try:\n"
        f"    proc.run({script(tmp_path, 'echo $$ > leader.pid; sleep 300')!r}, env=proc.base_env(),"
        " cwd='.', timeout=60)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=tmp_path,
        preexec_fn=sigint_default,
    )  # fmt: skip
    assert res.stdout.strip() == "interrupted", res.stderr
    leader = int((tmp_path / "leader.pid").read_text())
    assert wait_gone([leader]) == []
    assert live_members_after(leader) == []  # its sleep too


def test_held_stdin_stays_open_until_the_call_ends(tmp_path: Path) -> None:
    """The ssh executor's remote wrapper reads end-of-file only when the run is over."""
    cap = proc.Capture(tmp_path / "out", tmp_path / "err")
    sup = proc.Supervision(capture=cap)
    script = "cat >/dev/null; echo eof"
    held = proc.run(["sh", "-c", script], env=proc.base_env(), cwd=tmp_path, timeout=1, supervision=sup,
                    hold_stdin=True)  # fmt: skip
    assert held.timed_out and cap.stdout.read_bytes() == b""  # still reading when the limit came
    free = proc.run(["sh", "-c", script], env=proc.base_env(), cwd=tmp_path, timeout=30, supervision=sup)
    assert free.ok and cap.stdout.read_bytes() == b"eof\n"  # /dev/null: end-of-file at once
    with pytest.raises(ValueError, match="hold_stdin"):
        proc.run(["true"], env=proc.base_env(), cwd=tmp_path, timeout=5, hold_stdin=True)
