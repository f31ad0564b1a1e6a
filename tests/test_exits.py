"""Exits are failures (issue 16): a test that ends its own process, with status 0 included, is
never passed, and neither is a test that was running beside it or never ran. End to end through
inner pytest runs with the real go, cargo and qemu-user, on amd64 (native) and arm64 (emulated),
compared with what ``go test -json`` says of the same module natively.

Also here: every test process learns where it runs (``MULTIARCH_ARCH``, ``MULTIARCH_EXECUTOR``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, section, sections, write_module
from rusthelpers import write_crate

from pytest_multiarch import arch as archmod

HOST = archmod.host().name
ARCHES = ("amd64", "arm64")
TIMEOUT = 240  # for an inner pytest run: far above what any of them needs

pytestmark = pytest.mark.skipif(HOST != "amd64", reason="pairs native amd64 with emulated arm64")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest_subprocess("-v", "-rs", "-p", "no:randomly", *args, timeout=TIMEOUT)
    everything = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in everything and "Traceback (most recent" not in everything, everything
    return result


# --- Go -------------------------------------------------------------------------------------------

# A test that exits with status 0 beside a t.Parallel test that fails 2 s later, without TestMain
# (plain), with the usual one (withmain); TestMain that never runs the tests (nomain), that
# ignores m.Run's code (ignored); and syscall.Exit(0), which -test.paniconexit0 does not catch.
PARALLEL_EXIT = """
    package {pkg}

    import (
    \t"fmt"
    \t"os"
    \t"syscall"
    \t"testing"
    \t"time"
    )

    var _ = syscall.Exit
    var _ = os.Exit

    func Test{name}(t *testing.T) {{
    \tt.Parallel()
    \ttime.Sleep(200 * time.Millisecond)
    \tfmt.Println("leaving now")
    \t{exit}(0)
    }}

    func TestFailsLater(t *testing.T) {{
    \tt.Parallel()
    \ttime.Sleep(2 * time.Second)
    \tt.Fatal("fails 2 s later")
    }}

    func TestPasses(t *testing.T) {{}}
"""
WITH_MAIN = """
    package withmain

    import (
    \t"os"
    \t"testing"
    )

    func TestMain(m *testing.M) { os.Exit(m.Run()) }
"""
NO_MAIN_RUN = """
    package nomain

    import (
    \t"os"
    \t"testing"
    )

    func TestMain(m *testing.M) { os.Exit(0) }

    func TestNeverRuns(t *testing.T) { t.Fatal("never runs") }

    func TestWouldPass(t *testing.T) {}
"""
IGNORED_CODE = """
    package ignored

    import (
    \t"os"
    \t"testing"
    \t"time"
    )

    func TestMain(m *testing.M) {
    \tm.Run()
    \tos.Exit(0)
    }

    func TestFailsLater(t *testing.T) {
    \tt.Parallel()
    \ttime.Sleep(2 * time.Second)
    \tt.Fatal("fails 2 s later")
    }

    func TestPasses(t *testing.T) {}
"""
GO_FILES = {
    "plain/plain_test.go": PARALLEL_EXIT.format(pkg="plain", name="ExitZero", exit="os.Exit"),
    "withmain/withmain_test.go": PARALLEL_EXIT.format(pkg="withmain", name="ExitZero", exit="os.Exit"),
    "withmain/main_test.go": WITH_MAIN,
    "nomain/nomain_test.go": NO_MAIN_RUN,
    "ignored/ignored_test.go": IGNORED_CODE,
    "sysexit/sysexit_test.go": PARALLEL_EXIT.format(pkg="sysexit", name="SyscallExit", exit="syscall.Exit"),
}
# What the plugin says of each (package, test): every test that ended its process, ran beside
# one that did, or never ran, fails; only tests that reported a pass pass.
GO_EXPECTED = {
    ("plain", "TestExitZero"): "failed",
    ("plain", "TestFailsLater"): "failed",
    ("plain", "TestPasses"): "passed",
    ("withmain", "TestExitZero"): "failed",
    ("withmain", "TestFailsLater"): "failed",
    ("withmain", "TestPasses"): "passed",
    ("nomain", "TestNeverRuns"): "failed",
    ("nomain", "TestWouldPass"): "failed",
    ("ignored", "TestFailsLater"): "failed",
    ("ignored", "TestPasses"): "passed",
    ("sysexit", "TestSyscallExit"): "failed",
    ("sysexit", "TestFailsLater"): "failed",
    ("sysexit", "TestPasses"): "passed",
}


def go_test_json(go: str, module: Path, env: Mapping[str, str]) -> tuple[int, dict[tuple[str, str], str]]:
    """``go test -count=1 -json ./...`` natively: its exit status, and each (package, test) →
    its last pass/fail/skip action ("" for a package's own verdict)."""
    res = subprocess.run(
        [go, "test", "-count=1", "-json", "./..."],
        cwd=module, env={**os.environ, **env}, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    verdicts: dict[tuple[str, str], str] = {}
    for line in res.stdout.splitlines():
        ev = json.loads(line)
        if ev.get("Action") in ("pass", "fail", "skip"):
            verdicts[(ev["Package"].rsplit("/", 1)[-1], ev.get("Test", ""))] = ev["Action"]
    return res.returncode, verdicts


def test_go_tests_that_exit_are_failed_never_passed(
    gopytester: pytest.Pytester, go: str, go_env: Mapping[str, str]
) -> None:
    module = write_module(gopytester.path, "exits", GO_FILES)
    result = run(gopytester, f"--arch={','.join(ARCHES)}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = outcomes_by_id(result)
    assert outcomes == {
        f"exits/go.mod::{pkg}::{test}[{a}]": verdict
        for (pkg, test), verdict in GO_EXPECTED.items()
        for a in ARCHES
    }

    # What `go test` says natively: FAIL, and never a failed test that we pass. (It says ok, or
    # nothing, for some tests we fail: the ones that never reported a result.)
    status, native = go_test_json(go, module, go_env)
    assert status == 1
    for (pkg, test), verdict in native.items():
        if test and verdict == "fail":
            assert all(outcomes[f"exits/go.mod::{pkg}::{test}[{a}]"] == "failed" for a in ARCHES), (pkg, test)
        if not test and verdict == "fail":  # a package go test calls FAIL has a failed item here
            assert any(o == "failed" for i, o in outcomes.items() if f"::{pkg}::" in i), pkg
    for (pkg, test), verdict in GO_EXPECTED.items():
        if verdict == "passed":
            assert native.get((pkg, test)) == "pass", (pkg, test, native)

    for a in ARCHES:
        exits = sections(result, f"TestExitZero [{a}]")
        assert len(exits) == 2  # plain and withmain
        for text in exits:
            # os.Exit(0) inside a test panics (-test.paniconexit0, as go test passes it); it ran
            # again alone, and the parallel test got its own verdict in a process of its own.
            assert "panic: unexpected call to os.Exit(0) during test" in text, text
            assert "-test.parallel=1" in text.splitlines()[0]  # the reproduce line of its run alone
        later = sections(result, f"TestFailsLater [{a}]")
        assert len(later) == 4 and all("fails 2 s later" in t for t in later), later
        sysexit = section(result, f"TestSyscallExit [{a}]")
        assert sysexit.startswith(
            f"TestSyscallExit on {a}: the test process exited with status 0 while this test was running, "
            "before it reported a result: the test (or code it calls) ended the process"
        ), sysexit
        assert "leaving now" in sysexit
        for test in ("TestNeverRuns", "TestWouldPass"):
            text = section(result, f"{test} [{a}]")
            assert text.startswith(
                f"{test} on {a}: the test process exited with status 0 before this test reported a result "
                "(it never started: the process ended before running it, e.g. a Go TestMain that calls "
                "os.Exit without m.Run)"
            ), text


# --- Rust -----------------------------------------------------------------------------------------

EXIT_LIB = """
    #[cfg(test)]
    mod tests {
        use std::time::Duration;

        #[test]
        fn a_exits_zero() {
            std::thread::sleep(Duration::from_millis(200));
            println!("leaving now");
            std::process::exit(0);
        }

        #[test]
        fn b_fails_later() {
            std::thread::sleep(Duration::from_secs(2));
            panic!("fails 2 s later");
        }

        #[test]
        fn c_passes() {}
    }
"""


def test_rust_test_that_exits_zero_fails_and_so_does_the_one_beside_it(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_crate(rpytester.path, {"src/lib.rs": EXIT_LIB}, name="exitzero")
    monkeypatch.setenv("RUST_TEST_THREADS", "4")  # a_ and b_ run in parallel, whatever the CPU count
    # What cargo test says natively: the binary exits 0 and cargo calls the run a success.
    native = subprocess.run(
        [os.environ["CARGO"], "test", "-q"], cwd=rpytester.path, capture_output=True, text=True,
        timeout=TIMEOUT,
    )  # fmt: skip
    assert native.returncode == 0, native.stdout + native.stderr  # cargo calls it a success
    assert "running 3 tests" in native.stdout and "fails 2 s later" not in native.stdout + native.stderr
    result = run(rpytester, f"--arch={','.join(ARCHES)}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        f"Cargo.toml::lib::tests::{t}[{a}]": "passed" if t == "c_passes" else "failed"
        for t in ("a_exits_zero", "b_fails_later", "c_passes")
        for a in ARCHES
    }
    for a in ARCHES:
        text = section(result, f"tests::a_exits_zero [{a}]")
        assert text.startswith(
            f"tests::a_exits_zero on {a}: the test process exited with status 0 while this test was running, "
            "before it reported a result: the test (or code it calls) ended the process"
        ), text
        assert "--test-threads=1 --exact tests::a_exits_zero" in text.splitlines()[0]  # run alone
        later = section(result, f"tests::b_fails_later [{a}]")
        assert "fails 2 s later" in later.splitlines()[0], later


# --- where a test process runs ----------------------------------------------------------------------

WHERE_GO = """
    package where

    import (
    \t"os"
    \t"runtime"
    \t"testing"
    )

    func TestKnowsWhereItRuns(t *testing.T) {
    \tarch, executor := os.Getenv("MULTIARCH_ARCH"), os.Getenv("MULTIARCH_EXECUTOR")
    \tt.Logf("MULTIARCH_ARCH=%s MULTIARCH_EXECUTOR=%s GOARCH=%s", arch, executor, runtime.GOARCH)
    \tif arch != runtime.GOARCH {
    \t\tt.Errorf("MULTIARCH_ARCH=%q, but this binary is %s", arch, runtime.GOARCH)
    \t}
    }

    func TestSkipsUnderEmulation(t *testing.T) {
    \tif e := os.Getenv("MULTIARCH_EXECUTOR"); e == "qemu" || e == "binfmt" {
    \t\tt.Skipf("measures speed; %s is emulated here (%s)", os.Getenv("MULTIARCH_ARCH"), e)
    \t}
    }
"""
WHERE_MAIN = """
    package main

    import (
    \t"fmt"
    \t"os"
    )

    func main() { fmt.Printf("%s %s\\n", os.Getenv("MULTIARCH_ARCH"), os.Getenv("MULTIARCH_EXECUTOR")) }
"""
WHERE_PY = """
    from pathlib import Path

    def test_run_on_arch_program_knows(arch, go_build, run_on_arch):
        out = run_on_arch(go_build(Path(__file__).parent / "cmd")).check().stdout.split()
        print("told:", *out)
        assert out[0] == arch.name
        assert out[1] in (("native",) if arch.name == "amd64" else ("qemu", "binfmt"))

    def test_env_can_override(arch, go_build, run_on_arch):
        exe = go_build(Path(__file__).parent / "cmd")
        assert run_on_arch(exe, env={"MULTIARCH_EXECUTOR": "mine"}).check().stdout.split()[1] == "mine"
"""


def test_every_test_process_gets_its_arch_and_executor(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "where", {"where_test.go": WHERE_GO, "cmd/main.go": WHERE_MAIN})
    (gopytester.path / "where" / "test_where.py").write_text(WHERE_PY.replace("\n    ", "\n").lstrip())
    result = run(gopytester, f"--arch={','.join(ARCHES)}", "-rA")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    outcomes = outcomes_by_id(result)
    assert outcomes == {
        **{f"where/go.mod::example.com/where::TestKnowsWhereItRuns[{a}]": "passed" for a in ARCHES},
        "where/go.mod::example.com/where::TestSkipsUnderEmulation[amd64]": "passed",
        "where/go.mod::example.com/where::TestSkipsUnderEmulation[arm64]": "skipped",
        **{f"where/test_where.py::{t}[{a}]": "passed" for t in ("test_run_on_arch_program_knows",
                                                                "test_env_can_override") for a in ARCHES},
    }  # fmt: skip
    told = re.findall(r"MULTIARCH_ARCH=(\S*) MULTIARCH_EXECUTOR=(\S*) GOARCH=(\S+)", result.stdout.str())
    emulated = told_arm64(told)
    assert sorted(set(told)) == [("amd64", "native", "amd64"), ("arm64", emulated, "arm64")]
    assert emulated in ("qemu", "binfmt")  # whichever auto chose here: binfmt_misc if registered
    result.stdout.fnmatch_lines_random(
        [
            f"SKIPPED * measures speed; arm64 is emulated here ({emulated})",
            f"told: arm64 {emulated}",
            "told: amd64 native",
        ]
    )


def told_arm64(told: list[tuple[str, str, str]]) -> str:
    return next((executor for arch, executor, _ in told if arch == "arm64"), "")
