"""Nothing outlives pytest: SIGKILLed mid-run, mid-build, or as an xdist controller, every
emulator, test and compiler process of that run is gone within 2 s, and the next run is right.
Real go, real qemu; the process table is read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from gohelpers import processes_with_env, write_module

SLEEPY = {
    "m_test.go": """
        package m

        import (
        \t"os"
        \t"testing"
        \t"time"
        )

        func nap() {
        \tif os.Getenv("SLEEPY") != "" {
        \t\ttime.Sleep(20 * time.Second)
        \t}
        }

        func TestNapA(t *testing.T) { nap() }

        func TestNapB(t *testing.T) { nap() }
    """,
}


def _start(project: Path, env: Mapping[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """pytest in the background, its whole family marked by a variable of its own."""
    mark = f"MULTIARCH_ORPHAN_TEST={uuid.uuid4().hex}"
    name, value = mark.split("=")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=project, env={**os.environ, **env, name: value},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, mark


def _wait_for(what: Callable[[], bool], seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def _kill_and_expect_nothing_left(proc: subprocess.Popen[bytes], mark: str) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 2.0
    while processes_with_env(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with_env(mark) == [], "left running 2 s after pytest was SIGKILLed"


def _qemus(mark: str, at_least: int) -> Callable[[], bool]:
    return lambda: sum("qemu-" in p for p in processes_with_env(mark)) >= at_least


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_module(tmp_path, "m", SLEEPY)
    return tmp_path


def test_sigkill_mid_run_leaves_no_emulator(project: Path, go_env: Mapping[str, str]) -> None:
    env = {**go_env, "SLEEPY": "1"}
    proc, mark = _start(project, env, "--arch=arm64,s390x")
    _wait_for(_qemus(mark, 2), 120, "the emulated tests never started")
    _kill_and_expect_nothing_left(proc, mark)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "--arch=arm64,s390x", "-q"],
        cwd=project, env={**os.environ, **go_env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 0 and "4 passed" in res.stdout, res.stdout


def test_sigkill_of_the_xdist_controller_takes_workers_and_emulators(
    project: Path, go_env: Mapping[str, str]
) -> None:
    pytest.importorskip("xdist")
    proc, mark = _start(project, {**go_env, "SLEEPY": "1"}, "--arch=arm64,s390x", "-n", "2")
    _wait_for(_qemus(mark, 2), 120, "the emulated tests never started")
    _kill_and_expect_nothing_left(proc, mark)


def test_sigkill_mid_build_leaves_no_compiler_and_the_next_run_builds(
    project: Path, go_env: Mapping[str, str], tmp_path: Path
) -> None:
    """A cold Go build cache (the standard library for riscv64 compiles for ~10 s)."""
    env = {**go_env, "GOCACHE": str(tmp_path / "gocache")}
    proc, mark = _start(project, env, "--arch=riscv64")
    _wait_for(lambda: any("/compile " in p for p in processes_with_env(mark)), 120, "no compiler ever ran")
    time.sleep(0.5)
    _kill_and_expect_nothing_left(proc, mark)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "--arch=riscv64"],
        cwd=project, env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert res.returncode == 0 and "2 passed" in res.stdout, res.stdout


def _run_tags(mark: str) -> dict[int, str]:
    """pid → PYTEST_MULTIARCH_RUN of the processes of one run (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mark.encode() in environ:
            tag = next(
                (
                    v[len(b"PYTEST_MULTIARCH_RUN=") :]
                    for v in environ
                    if v.startswith(b"PYTEST_MULTIARCH_RUN=")
                ),
                b"",
            )
            found[int(entry.name)] = tag.decode()
    return found


def test_sigkill_of_one_xdist_worker_takes_its_emulators(project: Path, go_env: Mapping[str, str]) -> None:
    pytest.importorskip("xdist")
    proc, mark = _start(project, {**go_env, "SLEEPY": "1"}, "--arch=arm64,s390x", "-n", "2")
    _wait_for(_qemus(mark, 2), 120, "the emulated tests never started")
    qemus: dict[int, str] = {}

    def running_tests() -> bool:
        # The emulators running the sleepy tests (not the short-lived ones that list them, which
        # may have ended by now), each with a worker's tag.
        qemus.clear()
        for pid, tag in _run_tags(mark).items():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_text()
            except OSError:
                continue
            if "qemu-" in cmdline and "-test.list" not in cmdline and len(tag.split("/")) > 1:
                qemus[pid] = tag
        return bool(qemus)

    _wait_for(running_tests, 120, "no worker's emulator ran the tests")
    worker = next(int(part[1:].split("-")[0]) for tag in qemus.values() for part in tag.split("/")[1:2])
    mine = [pid for pid, tag in qemus.items() if f"/p{worker}-" in tag]
    assert mine, qemus
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while any(
        Path(f"/proc/{pid}/cmdline").exists() and Path(f"/proc/{pid}/cmdline").read_bytes() for pid in mine
    ):
        assert time.monotonic() < deadline, "the killed worker's emulators outlived it by 2 s"
        time.sleep(0.05)
    _kill_and_expect_nothing_left(proc, mark)


ESCAPES = {
    "m_test.go": """
        package m

        import (
        \t"os/exec"
        \t"syscall"
        \t"testing"
        )

        // A daemon in a session of its own: out of reach of the process-group kill.
        func TestEscape(t *testing.T) {
        \tcmd := exec.Command("sleep", "123.45")
        \tcmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
        \tif err := cmd.Start(); err != nil {
        \t\tt.Fatal(err)
        \t}
        }
    """,
}
CHECK_AFTER = """
from pathlib import Path

def test_the_daemon_is_gone_once_its_batch_is_done():
    running = [p for p in Path("/proc").iterdir() if p.name.isdigit()
               and b"123.45" in (p / "cmdline").read_bytes()]
    assert running == []
"""


def test_a_daemon_a_test_forks_dies_with_its_batch(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "a", ESCAPES)
    gopytester.makepyfile(test_z_after=CHECK_AFTER)  # collected, and run, after the Go items
    for arch in ("amd64", "arm64"):
        res = gopytester.runpytest_subprocess(f"--arch={arch}", "-v", "-p", "no:randomly")
        res.assert_outcomes(passed=2)
