"""binfmt_misc with the real kernel: the CLI's status/install/uninstall, the binfmt executor, and
--binfmt-install. Handlers are machine-wide: every test leaves them exactly as it found them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from gohelpers import check_test_cache, outcomes_by_id, processes_matching, write_module
from stubs import sigint_default

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors import binfmt_misc as binfmt

ARM64, S390X = archmod.get("arm64"), archmod.get("s390x")


def test_distribution_magic_matches_only_its_own_architecture() -> None:
    found = 0
    cpus = [a for a in archmod.ARCHES if a.libc == "gnu"]  # a musl column shares its twin's CPU
    for a in cpus:
        magic = binfmt.distro_magic(a)
        if magic is None:
            continue
        found += 1
        handler = binfmt.Handler("x", True, "/q", "F", 0, *magic)
        assert [b.name for b in cpus if handler.matches(b)] == [a.name]
    if not found:
        pytest.skip("no /usr/lib/binfmt.d/qemu-*.conf here (qemu-user-static is not installed)")
    # QEMU's own magic, and ours where the distribution has none, agree where they overlap.
    assert binfmt.computed_magic(ARM64) == binfmt.distro_magic(ARM64)


def _cli(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest_multiarch", "binfmt", *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.usefixtures("kernel_handlers")
def test_install_is_idempotent_and_uninstall_removes_exactly_ours() -> None:
    before = binfmt.handlers()
    if any(h.matches(ARM64) or h.matches(S390X) for h in before):
        pytest.skip("this machine already has arm64/s390x handlers of its own")
    first = _cli("install", "arm64", "s390x")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "arm64     registered" in first.stdout and "s390x     registered" in first.stdout
    ours = {h.name: h for h in binfmt.handlers() if h.name.startswith(binfmt.PREFIX)}
    assert set(ours) == {"pytest-multiarch-aarch64", "pytest-multiarch-s390x"}
    qemu = {a: os.path.realpath(shutil.which(f"qemu-{a}-static") or "") for a in ("aarch64", "s390x")}
    for name, h in ours.items():
        assert h.enabled and h.flags == "F" and h.interpreter == qemu[name.removeprefix(binfmt.PREFIX)]
    assert binfmt.handler_for(ARM64) == ours["pytest-multiarch-aarch64"]

    again = _cli("install", "arm64", "s390x")
    assert again.returncode == 0 and again.stdout.count(" already ") == 2, again.stdout
    assert {h.name: h for h in binfmt.handlers() if h.name.startswith(binfmt.PREFIX)} == ours

    status = json.loads(_cli("status", "--json", "arm64", "amd64", "riscv64").stdout)
    states = {row["arch"]: row["state"] for row in status["arches"]}
    assert states["arm64"] == "enabled" and states["amd64"] == "native"
    assert states["riscv64"] in ("no handler", "enabled", "disabled")

    gone = _cli("uninstall", "s390x")
    assert gone.returncode == 0 and "s390x     removed" in gone.stdout
    assert [h.name for h in binfmt.handlers() if h.name.startswith(binfmt.PREFIX)] == [
        "pytest-multiarch-aarch64"
    ]
    assert set(binfmt.handlers()) == {*before, ours["pytest-multiarch-aarch64"]}


@pytest.mark.usefixtures("kernel_handlers")
def test_a_conflicting_handler_is_left_alone_unless_forced() -> None:
    magic, mask = binfmt.distro_magic(S390X) or binfmt.computed_magic(S390X)
    if any(h.matches(S390X) for h in binfmt.handlers()):
        pytest.skip("this machine already has an s390x handler of its own")
    binfmt.mount()
    esc = "".join(f"\\x{b:02x}" for b in magic)
    esc_mask = "".join(f"\\x{b:02x}" for b in mask)
    qemu = shutil.which("qemu-s390x-static")
    assert qemu
    # Someone else's handler: another name, no F flag.
    (binfmt.MOUNT / "register").write_text(f":someone-s390x:M::{esc}:{esc_mask}:{qemu}:\n")
    res = _cli("install", "s390x")
    assert res.returncode == 1
    assert "s390x     conflict   someone-s390x" in res.stdout
    assert "binfmt install --force s390x" in res.stdout
    assert (binfmt.MOUNT / "someone-s390x").exists()
    forced = _cli("install", "--force", "s390x")
    assert forced.returncode == 0 and "replaced" in forced.stdout
    assert not (binfmt.MOUNT / "someone-s390x").exists()
    serving = binfmt.handler_for(S390X)
    assert serving is not None and serving.name == "pytest-multiarch-s390x"


def test_install_as_a_plain_user_says_it_needs_root() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to become another user")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    probe = subprocess.run([*as_nobody, "-c", "import pytest_multiarch"],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if probe.returncode != 0:  # e.g. a checkout under /root
        pytest.skip(f"this Python and checkout are not usable by another user: {probe.stderr.strip()}")
    res = _cli("install", "arm64", user="65534")
    assert res.returncode == 1
    assert "needs root" in res.stdout and "sudo python -m pytest_multiarch binfmt install" in res.stdout


CHILD_MODULE = {
    "child_test.go": """
        package child

        import (
        \t"os"
        \t"os/exec"
        \t"runtime"
        \t"testing"
        )

        func TestArch(t *testing.T) { t.Log(runtime.GOARCH) }

        // Runs its own (foreign) test binary as a child: needs a binfmt handler under emulation.
        func TestRunsAForeignChild(t *testing.T) {
        \tif os.Getenv("CHILD") == "1" {
        \t\treturn
        \t}
        \tcmd := exec.Command(os.Args[0], "-test.run=^TestRunsAForeignChild$")
        \tcmd.Env = append(os.Environ(), "CHILD=1")
        \tif out, err := cmd.CombinedOutput(); err != nil {
        \t\tt.Fatalf("child: %v\\n%s", err, out)
        \t}
        }
    """,
}


@pytest.mark.usefixtures("kernel_handlers")
def test_go_results_are_cached_under_binfmt_too(gopytester: pytest.Pytester) -> None:
    check_test_cache(gopytester, "--arch=s390x", "--binfmt-install", "--arch-executor=binfmt")


@pytest.mark.usefixtures("kernel_handlers")
def test_binfmt_executor_runs_foreign_children_where_qemu_cannot(gopytester: pytest.Pytester) -> None:
    if any(h.matches(ARM64) for h in binfmt.handlers()):
        pytest.skip("this machine already has an arm64 handler of its own")
    write_module(gopytester.path, "child", CHILD_MODULE)
    ids = "child/go.mod::example.com/child::{}[arm64]"
    plain = gopytester.runpytest_subprocess("-v", "--arch=arm64", "--arch-executor=qemu", timeout=300)
    expected = {ids.format("TestArch"): "passed", ids.format("TestRunsAForeignChild"): "failed"}
    assert outcomes_by_id(plain) == expected
    assert "exec format error" in plain.stdout.str()

    without = gopytester.runpytest_subprocess("-rs", "--arch=arm64", "--arch-executor=binfmt", timeout=300)
    without.stdout.fnmatch_lines(["SKIPPED*no enabled binfmt_misc handler for arm64*binfmt install arm64*"])

    before = binfmt.handlers()
    res = gopytester.runpytest_subprocess("-v", "--arch=arm64", "--binfmt-install", timeout=300)
    assert set(outcomes_by_id(res).values()) == {"passed"} and len(outcomes_by_id(res)) == 2
    res.stdout.fnmatch_lines(["arm64 * binfmt qemu *"])
    assert binfmt.handlers() == before  # taken back at the end of the session


@pytest.mark.usefixtures("kernel_handlers")
def test_binfmt_install_takes_back_its_handlers_after_failures_and_ctrl_c(
    gopytester: pytest.Pytester,
) -> None:
    if any(h.matches(ARM64) for h in binfmt.handlers()):
        pytest.skip("this machine already has an arm64 handler of its own")
    write_module(gopytester.path, "mixed", {
        "a/a_test.go": 'package a\n\nimport "testing"\n\nfunc TestFails(t *testing.T) { t.Fatal("no") }\n',
        "b/b_test.go": 'package b\n\nimport (\n\t"testing"\n\t"time"\n)\n\n'
                       'func TestStuck(t *testing.T) { time.Sleep(time.Hour) }\n',
    })  # fmt: skip
    before = binfmt.handlers()
    args = ("--arch=arm64", "--binfmt-install", "mixed/go.mod::a")
    failing = gopytester.runpytest_subprocess(*args, timeout=300)
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    assert binfmt.handlers() == before

    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--arch=arm64", "--binfmt-install", "mixed/go.mod::b"],
        cwd=gopytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=sigint_default,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any("b.test" in line for line in processes_matching("qemu-aarch64")):
            assert time.monotonic() < deadline and inner.poll() is None, "the stuck test never started"
            time.sleep(0.1)
        assert binfmt.handler_for(ARM64) is not None  # registered for the session
        inner.send_signal(signal.SIGINT)
        out, _ = inner.communicate(timeout=60)
    finally:
        if inner.poll() is None:
            os.killpg(inner.pid, signal.SIGKILL)
            inner.wait()
    assert inner.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    assert binfmt.handlers() == before
