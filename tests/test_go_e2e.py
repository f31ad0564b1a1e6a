"""Go test suites and Python tests driving Go binaries, end to end: an inner pytest run (pytester)
over small Go modules, with the real go toolchain and real qemu-user.

Architecture lists are kept short: a cold architecture costs ~9 s of standard-library compile
(shared afterwards through GOCACHE, see ``gopytester`` in conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, processes_matching, section, write_module
from stubs import sigint_default

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors.native import runs_natively

HOST = archmod.host().name
# An architecture this machine never runs natively (big-endian, so also a "different" one).
EMULATED = "s390x" if HOST != "s390x" else "arm64"
TIMEOUT = 180  # for an inner pytest run: far above what any of them needs


def run(pytester: pytest.Pytester, *args: str, timeout: float = TIMEOUT) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-v", "-rs", *args, timeout=timeout)


def qemu_processes_under(path: Path) -> list[str]:
    """Emulator processes still running a binary under ``path``."""
    return [ln for ln in processes_matching("qemu-") if str(path) in ln]


# --- a module whose outcomes depend on byte order and word size -------------------------------------

MATRIX_GO = """
    package m

    import (
    \t"strconv"
    \t"testing"
    \t"unsafe"
    )

    func littleEndian() bool {
    \tx := uint16(1)
    \treturn (*[2]byte)(unsafe.Pointer(&x))[0] == 1
    }

    func TestLittleEndian(t *testing.T) {
    \tif !littleEndian() {
    \t\tt.Fatal("this code assumes a little-endian CPU")
    \t}
    }

    func TestWordSize(t *testing.T) {
    \tif strconv.IntSize != 64 {
    \t\tt.Errorf("int is %d bits, want 64", strconv.IntSize)
    \t}
    }

    func TestPlain(t *testing.T) { t.Log("plain and simple") }

    func TestSkipped(t *testing.T) { t.Skip("needs a GPU") }

    func TestSub(t *testing.T) {
    \tt.Run("fine", func(t *testing.T) {})
    \tt.Run("byte_order", func(t *testing.T) {
    \t\tif !littleEndian() {
    \t\t\tt.Errorf("subtest saw big-endian bytes")
    \t\t}
    \t})
    }
"""


def test_outcomes_per_arch_and_the_summary(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "m", {"m_test.go": MATRIX_GO})
    result = run(gopytester, "--arch=amd64,386,arm64,s390x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    big = {"s390x"}
    expected = {}
    expected_arches = ("amd64", "386", "arm64", "s390x")
    for a in expected_arches:
        expected[f"m/go.mod::example.com/m::TestLittleEndian[{a}]"] = "failed" if a in big else "passed"
        expected[f"m/go.mod::example.com/m::TestWordSize[{a}]"] = "failed" if a == "386" else "passed"
        expected[f"m/go.mod::example.com/m::TestPlain[{a}]"] = "passed"
        expected[f"m/go.mod::example.com/m::TestSkipped[{a}]"] = "skipped"
        expected[f"m/go.mod::example.com/m::TestSub[{a}]"] = "failed" if a in big else "passed"
    assert outcomes_by_id(result) == expected
    result.assert_outcomes(passed=13, failed=3, skipped=4)

    time_cols = r"\d+\.\d\ds +(-|\d+\.\dx)"  # the time and slowdown columns
    runs = {a: "native" if runs_natively(archmod.get(a)) else r"qemu \d+\.\d+" for a in expected_arches}
    result.stdout.fnmatch_lines(
        [
            f"multiarch: arches amd64,386,arm64,s390x (host {HOST}); executor auto; timeout 600s; "
            "collect go,rust",
            "*= multiarch: results per architecture =*",
            "arch *passed *failed *skipped *errors*",
        ]
    )
    result.stdout.re_match_lines([
        rf"^amd64 +4 +0 +1 +0 +{time_cols}  {runs['amd64']}",
        rf"^386 +3 +1 +1 +0 +{time_cols}  {runs['386']}",
        rf"^arm64 +4 +0 +1 +0 +{time_cols}  {runs['arm64']}",
        rf"^s390x +2 +2 +1 +0 +{time_cols}  {runs['s390x']}",
    ])  # fmt: skip
    on_s390x = "fails on s390x (passes on amd64, 386, arm64) — exactly the big-endian ones"
    result.stdout.fnmatch_lines_random([
        f"m/go.mod::example.com/m::TestLittleEndian: {on_s390x}",
        f"m/go.mod::example.com/m::TestSub: {on_s390x}",
        "m/go.mod::example.com/m::TestWordSize: fails on 386 (passes on amd64, arm64, s390x)"
        " — exactly the 32-bit ones",
        "SKIPPED [[]4[]] m/m_test.go:*: needs a GPU",
    ])  # fmt: skip

    endian = section(result, "TestLittleEndian [s390x]")
    assert "this code assumes a little-endian CPU" in endian
    word = section(result, "TestWordSize [386]")
    assert "int is 32 bits, want 64" in word
    # A failing subtest fails its parent, and shows in the parent's report as Go prints it.
    sub = section(result, "TestSub [s390x]")
    assert "--- FAIL: TestSub/byte_order" in sub
    assert "subtest saw big-endian bytes" in sub
    assert "--- PASS: TestSub/fine" in sub


def test_json_report_one_result_per_test_and_arch(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "m", {"m_test.go": MATRIX_GO})
    gopytester.makepyfile(test_py="def test_py(arch):\n    assert arch.endian == 'little'\n")
    result = run(
        gopytester,
        f"--arch={HOST},{EMULATED}",
        "--multiarch-report=out/report.json",
        "-k",
        "LittleEndian or Plain or py",
    )
    data = json.loads((gopytester.path / "out" / "report.json").read_text())
    assert data["version"] == 3
    assert data["interrupted"] is False and data["not_run"] == []  # -k deselected the rest: not "not run"
    assert data["arches"] == [HOST, EMULATED]
    cells = {(r["base"], r["arch"]): r for r in data["results"]}
    assert len(cells) == len(data["results"]) == 3 * 2
    expected = {}
    for a in (HOST, EMULATED):
        big = archmod.get(a).endian == "big"
        expected[("m/go.mod::example.com/m::TestLittleEndian", a)] = "failed" if big else "passed"
        expected[("m/go.mod::example.com/m::TestPlain", a)] = "passed"
        expected[("test_py.py::test_py", a)] = "failed" if big else "passed"
    assert {k: v["outcome"] for k, v in cells.items()} == expected
    for (base, a), r in cells.items():
        assert r["nodeid"] in outcomes_by_id(result)
        assert r["nodeid"].endswith(f"[{a}]") and r["nodeid"].startswith(base)
        assert r["duration"] >= 0
    none = {"error": 0, "infra_error": 0, "xfailed": 0}
    assert data["counts"][HOST] == {"passed": 3, "skipped": 0, "failed": 0, **none}
    assert data["counts"][EMULATED] == {"passed": 1, "skipped": 0, "failed": 2, **none}


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "bad", "suggestion"), [
    (["--arch=arm46"], "arm46", "arm64"),
    (["--arch=amd64", "--arch=s390x,bogus"], "bogus", None),
    (["--arch=aarch46"], "aarch46", "aarch64"),
])  # fmt: skip
def test_unknown_arch_is_a_usage_error(
    pytester: pytest.Pytester, args: list[str], bad: str, suggestion: str | None
) -> None:
    result = pytester.runpytest_subprocess(*args, timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    hint = f" Did you mean {suggestion!r}?" if suggestion else ""
    result.stderr.fnmatch_lines([
        f"ERROR: --arch: unknown architecture {bad!r}.{hint} Valid names: amd64, 386, arm64, arm, riscv64,"
        " ppc64le, ppc64, s390x, mips64le, mips64, mipsle, mips, loong64, amd64-musl, arm64-musl, 386-musl,"
        " wasm, native, all, musl (aliases: *x86_64*)",
    ])  # fmt: skip
    if suggestion is None:
        assert "Did you mean" not in result.stderr.str()


def test_unknown_executor_and_collect_kind_are_usage_errors(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--arch-executor=vm", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --arch-executor: invalid choice: 'vm' (choose from 'auto', 'native', 'binfmt', 'qemu', "
         "'docker', 'ssh', 'wasmtime')"]
    )  # fmt: skip
    pytester.makeini("[pytest]\nmultiarch_collect = go, java\n")
    result = pytester.runpytest_subprocess(timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: multiarch_collect: unknown kind(s) [[]'java'[]]; use any of go, rust"]
    )


# --- building -------------------------------------------------------------------------------------------


def test_build_failure_fails_that_packages_items_only(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "bld", {
        "bad/bad_test.go": """
            package bad

            import "testing"

            func TestBroken(t *testing.T) {
            \tvar n int = "not a number"
            \t_ = n
            }

            func TestAlsoBroken(t *testing.T) {}
        """,
        "good/good_test.go": """
            package good

            import "testing"

            func TestGood(t *testing.T) {}
        """,
    })  # fmt: skip
    result = run(gopytester, f"--arch={HOST},{EMULATED}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    expected = {}
    for a in (HOST, EMULATED):
        expected[f"bld/go.mod::bad::TestBroken[{a}]"] = "failed"
        expected[f"bld/go.mod::bad::TestAlsoBroken[{a}]"] = "failed"
        expected[f"bld/go.mod::good::TestGood[{a}]"] = "passed"
    assert outcomes_by_id(result) == expected
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    for a in (HOST, EMULATED):
        text = section(result, f"TestAlsoBroken [{a}]")
        assert (
            f"build failed for {a}: go test -c example.com/bld/bad for {a} (GOARCH={a}) exited with status 1"
            in text
        )
        assert 'bad_test.go:6:14: cannot use "not a number" (untyped string constant) as int value' in text


def test_arch_specific_test_file_is_collected_for_that_arch_only(gopytester: pytest.Pytester) -> None:
    mod = write_module(gopytester.path, "c", {
        "c_test.go": """
            package c

            import (
            \t"os"
            \t"runtime"
            \t"testing"
            )

            func TestEverywhere(t *testing.T) { os.WriteFile("ran-"+runtime.GOARCH, nil, 0o644) }
        """,
        "foo_arm64_test.go": """
            package c

            import "testing"

            func TestOnlyArm64(t *testing.T) {}
        """,
        "foo_s390x_test.go": """
            package c

            import "testing"

            func TestOnlyS390x(t *testing.T) {}
        """,
    })  # fmt: skip
    # Give anything wrongly started in the background during collection time to build and run.
    gopytester.makeconftest("import time\n\ndef pytest_collection_finish(session):\n    time.sleep(2)\n")
    result = gopytester.runpytest_subprocess("--arch=amd64,arm64", "--collect-only", "-q", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.OK
    assert [ln for ln in result.outlines if "::" in ln] == [
        "c/go.mod::example.com/c::TestEverywhere[amd64]",
        "c/go.mod::example.com/c::TestEverywhere[arm64]",
        "c/go.mod::example.com/c::TestOnlyArm64[arm64]",
    ]
    result.stdout.fnmatch_lines(["3 tests collected in *"])
    # Collecting only must not build or run anything.
    assert not list(mod.glob("ran-*"))
    assert not list(gopytester.path.glob(".pytest_cache/**/*.test"))


def test_k_selects_items_and_the_binary_runs_only_those(gopytester: pytest.Pytester) -> None:
    mod = write_module(gopytester.path, "sel", {
        "sel_test.go": """
            package sel

            import (
            \t"os"
            \t"runtime"
            \t"testing"
            )

            // Runs first if the binary runs everything: it leaves a mark and kills the process.
            func TestBomb(t *testing.T) {
            \tos.WriteFile("bomb-ran-"+runtime.GOARCH, nil, 0o644)
            \tos.Exit(1)
            }

            func TestPlain(t *testing.T) {}

            func TestOther(t *testing.T) { t.Fatal("not selected, must not run") }
        """,
    })  # fmt: skip
    result = run(gopytester, f"--arch={HOST},{EMULATED}", "-k", f"TestPlain and {EMULATED}")
    assert result.ret == pytest.ExitCode.OK
    assert outcomes_by_id(result) == {f"sel/go.mod::example.com/sel::TestPlain[{EMULATED}]": "passed"}
    result.stdout.fnmatch_lines(["*1 passed, 5 deselected*"])
    assert not list(mod.glob("bomb-ran-*"))


def test_python_parametrize_of_arch_overrides_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_own="""
        import pytest

        @pytest.mark.parametrize("arch", ["x", "y"])
        def test_own_values(arch):
            assert arch in ("x", "y")
    """
    )
    result = run(pytester, "--arch=amd64,s390x")
    assert outcomes_by_id(result) == {
        "test_own.py::test_own_values[x]": "passed",
        "test_own.py::test_own_values[y]": "passed",
    }


# --- processes that hang or crash -----------------------------------------------------------------------


def test_hanging_test_is_killed_and_the_rest_keep_their_results(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "hang", {
        "hang_test.go": """
            package hang

            import (
            \t"os/exec"
            \t"testing"
            \t"time"
            )

            func TestBefore(t *testing.T) { t.Log("before ran") }

            func TestHang(t *testing.T) {
            \t// A grandchild of the test process: it must not survive the kill either.
            \tif err := exec.Command("sleep", "313").Start(); err != nil {
            \t\tt.Fatal(err)
            \t}
            \tt.Log("about to hang")
            \ttime.Sleep(time.Hour)
            }

            func TestAfter(t *testing.T) { t.Log("after ran") }

            func TestAfterFails(t *testing.T) { t.Error("after fails on purpose") }
        """,
    })  # fmt: skip
    start = time.monotonic()
    result = run(gopytester, f"--arch={EMULATED}", "--arch-timeout=5", "--arch-timeout-scale=qemu=1")
    elapsed = time.monotonic() - start
    ids = "hang/go.mod::example.com/hang::{}[" + EMULATED + "]"
    assert outcomes_by_id(result) == {
        ids.format("TestBefore"): "passed",
        ids.format("TestHang"): "failed",
        ids.format("TestAfter"): "passed",
        ids.format("TestAfterFails"): "failed",
    }
    hang = section(result, f"TestHang [{EMULATED}]")
    assert "the test process was stopped: timed out after 5 s while this test was running" in hang
    assert "about to hang" in hang
    assert "SIGQUIT: quit" in hang and "goroutine " in hang  # Go's dump, asked for before killing
    assert f"qemu-{archmod.get(EMULATED).qemu_name}" in hang  # the reproduce line
    after = section(result, f"TestAfterFails [{EMULATED}]")
    assert "after fails on purpose" in after
    assert "timed out" not in after
    assert elapsed < 40, f"the run took {elapsed:.0f}s"
    assert qemu_processes_under(gopytester.path) == []
    assert processes_matching("sleep 313") == [], "the hanging test's grandchild survived"


def test_crashing_tests_are_blamed_and_the_rest_keep_their_results(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "crash", {
        "crash_test.go": """
            package crash

            import (
            \t"os"
            \t"testing"
            )

            func TestBefore(t *testing.T) {}

            func TestExit(t *testing.T) {
            \tt.Log("exiting now")
            \tos.Exit(3)
            }

            func TestGoroutinePanic(t *testing.T) {
            \tdone := make(chan bool)
            \tgo func() { panic("boom in a goroutine") }()
            \t<-done
            }

            func TestAfter(t *testing.T) {}

            func TestAfterFails(t *testing.T) { t.Error("after fails on purpose") }
        """,
    })  # fmt: skip
    result = run(gopytester, f"--arch={EMULATED}")
    ids = "crash/go.mod::example.com/crash::{}[" + EMULATED + "]"
    assert outcomes_by_id(result) == {
        ids.format("TestBefore"): "passed",
        ids.format("TestExit"): "failed",
        ids.format("TestGoroutinePanic"): "failed",
        ids.format("TestAfter"): "passed",
        ids.format("TestAfterFails"): "failed",
    }
    exit_ = section(result, f"TestExit [{EMULATED}]")
    assert "the test process exited with status 3 while this test was running" in exit_
    assert "exiting now" in exit_
    panic = section(result, f"TestGoroutinePanic [{EMULATED}]")
    assert "the test process exited with status 2 while this test was running" in panic
    assert panic.count("panic: boom in a goroutine") == 1
    assert "crash_test.go:" in panic  # the goroutine's stack
    after = section(result, f"TestAfterFails [{EMULATED}]")
    assert "after fails on purpose" in after
    assert "the test process" not in after
    assert qemu_processes_under(gopytester.path) == []


def test_a_crash_among_parallel_tests_blames_only_the_one_that_crashed(gopytester: pytest.Pytester) -> None:
    # Four t.Parallel tests run at once; one exits the process. The rest run again one at a time
    # (-test.parallel=1), so that only the test that exits is blamed.
    write_module(gopytester.path, "par", {
        "par_test.go": """
            package par

            import (
            \t"os"
            \t"testing"
            \t"time"
            )

            func TestP1(t *testing.T) { t.Parallel(); time.Sleep(300 * time.Millisecond) }

            func TestP2(t *testing.T) { t.Parallel(); time.Sleep(300 * time.Millisecond) }

            func TestP3Exits(t *testing.T) {
            \tt.Parallel()
            \ttime.Sleep(100 * time.Millisecond)
            \tos.Exit(4)
            }

            func TestP4(t *testing.T) { t.Parallel(); time.Sleep(300 * time.Millisecond) }
        """,
    })  # fmt: skip
    result = run(gopytester, f"--arch={EMULATED}")
    ids = "par/go.mod::example.com/par::{}[" + EMULATED + "]"
    assert outcomes_by_id(result) == {
        ids.format("TestP1"): "passed",
        ids.format("TestP2"): "passed",
        ids.format("TestP3Exits"): "failed",
        ids.format("TestP4"): "passed",
    }
    blamed = section(result, f"TestP3Exits [{EMULATED}]")
    assert "the test process exited with status 4 while this test was running" in blamed
    assert "-test.parallel=1" in blamed  # the reproduce line of the serial run


STUCK_MODULE = {
    "a/a_test.go": """
        package a

        import "testing"

        func TestFailsFirst(t *testing.T) { t.Fatal("first failure") }
    """,
    "b/b_test.go": """
        package b

        import (
        \t"testing"
        \t"time"
        )

        func TestStuck(t *testing.T) { time.Sleep(time.Hour) }
    """,
}


def test_exitfirst_does_not_wait_for_batches_still_running(gopytester: pytest.Pytester) -> None:
    # -x stops at the first failure; the other package's batch hangs (default 600 s timeout)
    # and must be killed when the session ends, not waited for.
    write_module(gopytester.path, "stuck", STUCK_MODULE)
    start = time.monotonic()
    result = run(gopytester, f"--arch={EMULATED}", "-x")
    elapsed = time.monotonic() - start
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {f"stuck/go.mod::a::TestFailsFirst[{EMULATED}]": "failed"}
    assert elapsed < 40, f"the run took {elapsed:.0f}s"
    assert qemu_processes_under(gopytester.path) == []


def test_ctrl_c_stops_the_run_and_its_emulators(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "stuck", STUCK_MODULE)
    qemu = f"qemu-{archmod.get(EMULATED).qemu_name}"
    # A session of its own, so that the SIGINT below reaches only the inner pytest.
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--arch={EMULATED}", "-p", "no:cacheprovider"],
        cwd=gopytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=sigint_default,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(qemu in ln and "/b.test" in ln for ln in qemu_processes_under(gopytester.path)):
            assert time.monotonic() < deadline, "the stuck test never started"
            assert inner.poll() is None, inner.communicate()[0].decode()
            time.sleep(0.1)
        start = time.monotonic()
        inner.send_signal(signal.SIGINT)
        out, _ = inner.communicate(timeout=30)
        assert time.monotonic() - start < 15
    finally:
        if inner.poll() is None:  # the test failed: leave nothing behind
            os.killpg(inner.pid, signal.SIGKILL)
            inner.wait()
            for line in qemu_processes_under(gopytester.path):
                os.kill(int(line.split()[0]), signal.SIGKILL)
    assert inner.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    assert b"KeyboardInterrupt" in out
    assert qemu_processes_under(gopytester.path) == []


# --- the marker and the arch fixture --------------------------------------------------------------------


def test_arch_marker_narrows_and_excludes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marks="""
        import pytest

        @pytest.mark.arch("arm64")
        def test_only_arm64(arch):
            assert arch.name == "arm64"

        @pytest.mark.arch("aarch64", "s390x")  # an alias; s390x is not requested
        def test_alias(arch):
            assert arch.name == "arm64"

        @pytest.mark.arch(exclude=["386"])
        def test_not_386(arch):
            assert arch.name != "386"

        def test_every_arch(arch):
            assert arch.bits in (32, 64)

        @pytest.mark.arch("s390x")
        def test_none_selected(arch):
            raise AssertionError("must not run")

        @pytest.mark.arch("mips")
        def test_no_fixture_none_selected():
            raise AssertionError("must not run")

        @pytest.mark.arch("386")
        def test_no_fixture_selected():
            pass
    """
    )
    result = run(pytester, "--arch=amd64,386,arm64")
    assert outcomes_by_id(result) == {
        "test_marks.py::test_only_arm64[arm64]": "passed",
        "test_marks.py::test_alias[arm64]": "passed",
        "test_marks.py::test_not_386[amd64]": "passed",
        "test_marks.py::test_not_386[arm64]": "passed",
        "test_marks.py::test_every_arch[amd64]": "passed",
        "test_marks.py::test_every_arch[386]": "passed",
        "test_marks.py::test_every_arch[arm64]": "passed",
        "test_marks.py::test_none_selected[no-arch]": "skipped",
        "test_marks.py::test_no_fixture_none_selected": "skipped",
        "test_marks.py::test_no_fixture_selected": "passed",
    }
    none = "selects none of the requested architectures (amd64, 386, arm64)"
    result.stdout.fnmatch_lines_random([
        f"SKIPPED [[]1[]] test_marks.py:*: @pytest.mark.arch *s390x* {none}",
        f"SKIPPED [[]1[]] test_marks.py:*: @pytest.mark.arch *mips* {none}",
    ])  # fmt: skip
    # Only tests using the arch fixture are cells of the matrix: test_not_386 has none for 386.
    result.stdout.re_match_lines([r"^amd64 +2 +0 +0 +0", r"^386 +1 +0 +0 +0", r"^arm64 +4 +0 +0 +0"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--arch=native"], [HOST]),
        (["--arch=native,s390x", "--arch=x86_64,native"], list(dict.fromkeys([HOST, "s390x", "amd64"]))),
        # "all" is what this machine can run: natively, that is the host (and 386 on amd64)
        (["--arch=all", "--arch-executor=native"], [HOST, "386"] if HOST == "amd64" else [HOST]),
    ],
)
def test_arch_option_forms(pytester: pytest.Pytester, args: list[str], expected: list[str]) -> None:
    pytester.makepyfile(test_forms="def test_a(arch):\n    pass\n")
    result = pytester.runpytest_subprocess(*args, "--collect-only", "-q", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.OK
    assert [ln for ln in result.outlines if "::" in ln] == [f"test_forms.py::test_a[{a}]" for a in expected]


def test_arch_fixture_without_arch_option_is_the_host(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_host=f"def test_host(arch):\n    assert arch.name == {HOST!r}\n")
    result = run(pytester)
    assert outcomes_by_id(result) == {f"test_host.py::test_host[{HOST}]": "passed"}


@pytest.mark.parametrize("marker", ['arch("arm46")', 'arch(exclude=["bogus"])', 'arch("arm64", only=1)'])
def test_bad_marker_is_a_collection_error_naming_the_test(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked(arch):
            pass

        def test_fine():
            pass
    """
    )
    result = run(pytester, "--arch=amd64,arm64")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting test_bad.py*", "*test_bad.py::test_marked: @pytest.mark.arch*"]
    )
    if "arm46" in marker:
        result.stdout.fnmatch_lines(["*unknown architecture 'arm46'. Did you mean 'arm64'?*"])
    if "only" in marker:
        result.stdout.fnmatch_lines(["*takes names and exclude=[[]...[]], not only*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["@pytest.mark.arch(*names, exclude=()): run this test only on these architectures*"]
    )
    pytester.makepyfile(
        test_strict="""
        import pytest

        @pytest.mark.arch("amd64")
        def test_x():
            pass
    """
    )
    result = pytester.runpytest_subprocess("--strict-markers", timeout=TIMEOUT)
    result.assert_outcomes(passed=1 if HOST == "amd64" else 0, skipped=0 if HOST == "amd64" else 1)


# --- fixtures for Python tests that build and run Go binaries -------------------------------------------

HELLO_GO = """
    package main

    import (
    \t"fmt"
    \t"io"
    \t"os"
    \t"runtime"
    \t"strconv"
    \t"time"
    )

    func main() {
    \tif len(os.Args) > 1 {
    \t\tswitch os.Args[1] {
    \t\tcase "sleep":
    \t\t\ttime.Sleep(time.Hour)
    \t\tcase "exit":
    \t\t\tn, _ := strconv.Atoi(os.Args[2])
    \t\t\tfmt.Fprintln(os.Stderr, "exiting with", n)
    \t\t\tos.Exit(n)
    \t\tcase "cat":
    \t\t\tio.Copy(os.Stdout, os.Stdin)
    \t\t\treturn
    \t\t}
    \t}
    \tfmt.Println(runtime.GOARCH)
    }
"""

FIXTURE_TESTS = """
    import pathlib

    import pytest

    from pytest_multiarch import RunResult
    from pytest_multiarch.executors import RunFailed

    HELLO = pathlib.Path(__file__).parent / "hello"

    def test_prints_its_goarch(arch, go_build, run_on_arch):
        exe = go_build(HELLO)
        assert go_build(HELLO) == exe  # built once
        res = run_on_arch(exe)
        assert isinstance(res, RunResult)
        assert (res.returncode, res.stdout, res.timed_out) == (0, arch.goarch + "\\n", False)
        assert res.arch is arch

    def test_input(arch, go_build, run_on_arch):
        assert run_on_arch(go_build(HELLO), "cat", input="ping").stdout == "ping"

    def test_timeout(arch, go_build, run_on_arch):
        res = run_on_arch(go_build(HELLO), "sleep", timeout=2)
        assert res.timed_out
        assert res.returncode != 0
        assert 2 <= res.duration < 10

    def test_check(arch, go_build, run_on_arch):
        res = run_on_arch(go_build(HELLO), "exit", "3")
        assert res.returncode == 3
        assert res.stderr == "exiting with 3\\n"
        with pytest.raises(RunFailed, match=f"on {arch.name} via .* exited with status 3"):
            res.check()
        assert run_on_arch(go_build(HELLO)).check().returncode == 0

    def test_build_error(arch, go_build):
        go_build(HELLO.parent / "broken")
"""


def test_go_build_and_run_on_arch(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "hello", {"main.go": HELLO_GO})
    write_module(gopytester.path, "broken", {"main.go": "package main\n\nfunc main() { undefinedThing() }\n"})
    gopytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = run(gopytester, f"--arch={HOST},{EMULATED}")
    expected = {}
    for a in (HOST, EMULATED):
        for name in ("test_prints_its_goarch", "test_input", "test_timeout", "test_check"):
            expected[f"test_fixtures.py::{name}[{a}]"] = "passed"
        expected[f"test_fixtures.py::test_build_error[{a}]"] = "failed"
    assert outcomes_by_id(result) == expected
    for a in (HOST, EMULATED):
        text = section(result, f"test_build_error[{a}]")
        assert f"for {a}: `" in text and "go build" in text and "undefined: undefinedThing" in text
    assert qemu_processes_under(gopytester.path) == []


# --- what cannot run ------------------------------------------------------------------------------------

SIMPLE_GO = """
    package s

    import "testing"

    func TestPlain(t *testing.T) {}
"""


@pytest.mark.parametrize("strict", [False, True])
def test_multiarch_go_naming_no_go(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    write_module(pytester.path, "s", {"s_test.go": SIMPLE_GO})
    missing = pytester.path / "no-such-go"
    monkeypatch.setenv("MULTIARCH_GO", str(missing))  # set, so the only candidate: no fallback
    result = run(pytester, f"--arch={HOST},{EMULATED}", *(["--arch-strict"] if strict else []))
    # Named, so a failure with or without --arch-strict: a skip would make the run green.
    assert outcomes_by_id(result) == {f"s/go.mod::[{HOST}]": "failed", f"s/go.mod::[{EMULATED}]": "failed"}
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    why = (
        f"cannot list the Go tests of {pytester.path / 's' / 'go.mod'}: MULTIARCH_GO={missing} is not an "
        "executable go. Fix: point it at a go (e.g. /usr/local/go/bin/go), or unset it to use the go on PATH"
    )
    result.stdout.fnmatch_lines([why] * 2)


@pytest.mark.skipif(
    os.access("/usr/local/go/bin/go", os.X_OK) or any(Path("/usr/lib").glob("go-1.*/bin/go")),
    reason="find_go() always finds a go outside PATH here: covered by test_multiarch_go_naming_no_go",
)
@pytest.mark.parametrize("strict", [False, True])
def test_no_go_anywhere(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, strict: bool) -> None:
    write_module(pytester.path, "s", {"s_test.go": SIMPLE_GO})
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "go").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.delenv("MULTIARCH_GO", raising=False)
    assert shutil.which("go") is None
    result = run(pytester, f"--arch={HOST},{EMULATED}", *(["--arch-strict"] if strict else []))
    status = "failed" if strict else "skipped"
    assert outcomes_by_id(result) == {f"s/go.mod::[{HOST}]": status, f"s/go.mod::[{EMULATED}]": status}
    result.stdout.fnmatch_lines(
        [
            "*Go toolchain not found (no `go` on PATH, /usr/local/go/bin/go or /usr/lib/go-1.*/bin/go)*"
            "*install Go*"
        ]
    )
    if strict:
        result.stdout.fnmatch_lines(["*(an error because of --arch-strict)*"])


@pytest.mark.parametrize("strict", [False, True])
def test_native_executor_cannot_run_an_emulated_arch(gopytester: pytest.Pytester, strict: bool) -> None:
    write_module(gopytester.path, "s", {"s_test.go": SIMPLE_GO})
    gopytester.makepyfile(
        test_runs="""
        import pathlib

        def test_run(arch, go_build, run_on_arch):
            exe = go_build(pathlib.Path(__file__).parent / "hello")
            assert run_on_arch(exe).stdout == arch.goarch + "\\n"
    """
    )
    write_module(gopytester.path, "hello", {"main.go": HELLO_GO})
    result = run(
        gopytester,
        f"--arch={HOST},{EMULATED}",
        "--arch-executor=native",
        *(["--arch-strict"] if strict else []),
    )
    status = "error" if strict else "skipped"
    assert outcomes_by_id(result) == {
        f"s/go.mod::example.com/s::TestPlain[{HOST}]": "passed",
        f"s/go.mod::example.com/s::TestPlain[{EMULATED}]": status,
        f"test_runs.py::test_run[{HOST}]": "passed",
        f"test_runs.py::test_run[{EMULATED}]": "failed" if strict else "skipped",
    }
    why = (
        f"cannot run {EMULATED} binaries: this {HOST} machine cannot run {EMULATED} code natively. "
        "Fix: use --arch-executor=auto or qemu"
    )
    result.stdout.fnmatch_lines([f"*{why}*"])
    if strict:
        result.stdout.fnmatch_lines([f"*{why}* (an error because of --arch-strict)*"])
    else:
        result.stdout.fnmatch_lines([f"SKIPPED [[]1[]] s/s_test.go:*: {why}*"])
    # Nothing was built for the architecture that cannot run.
    assert not list(gopytester.path.glob(f".pytest_cache/**/go/{EMULATED}/*"))


# --- node ids round-trip through pytest's cache and command line --------------------------------


def test_last_failed_and_deselect_select_arch_items(gopytester: pytest.Pytester) -> None:
    pytester = gopytester
    write_module(pytester.path, "m", {"m_test.go": MATRIX_GO})
    first = run(pytester, f"--arch={HOST},{EMULATED}")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    failed = {nid for nid, outcome in outcomes_by_id(first).items() if outcome == "failed"}
    assert failed == {f"m/go.mod::example.com/m::{t}[{EMULATED}]" for t in ("TestLittleEndian", "TestSub")}

    # --lf runs exactly the failed item (the [arch] suffix parses back as pytest's own ids do).
    again = run(pytester, f"--arch={HOST},{EMULATED}", "--lf")
    assert set(outcomes_by_id(again)) == failed
    again.stdout.fnmatch_lines(["*rerun previous 2 failures*"])

    # --deselect and a node id on the command line name one (test, arch) pair.
    nodeid = f"m/go.mod::example.com/m::TestPlain[{EMULATED}]"
    rest = run(pytester, f"--arch={HOST},{EMULATED}", "--deselect", nodeid)
    assert set(outcomes_by_id(rest)) == set(outcomes_by_id(first)) - {nodeid}
    one = run(pytester, f"--arch={EMULATED}", nodeid)
    assert outcomes_by_id(one) == {nodeid: "passed"}


GO_ENV_MODULE = {
    "env_test.go": """
        package env

        import (
        \t"os"
        \t"os/exec"
        \t"runtime"
        \t"strings"
        \t"testing"
        )

        // As under `GOARCH=<arch> go test -exec ...`: a test that runs go itself targets its arch.
        func TestGoCommandTargetsThisArch(t *testing.T) {
        \tout, err := exec.Command(os.Getenv("GO_FOR_TEST"), "env", "GOOS", "GOARCH").Output()
        \tif err != nil {
        \t\tt.Fatal(err)
        \t}
        \tgot := strings.Fields(string(out))
        \tif len(got) != 2 || got[0] != runtime.GOOS || got[1] != runtime.GOARCH {
        \t\tt.Fatalf("go env says %q, the test runs as %s/%s", out, runtime.GOOS, runtime.GOARCH)
        \t}
        }
    """,
}


def test_a_test_that_runs_go_targets_its_own_arch(
    gopytester: pytest.Pytester, go: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(gopytester.path, "env", GO_ENV_MODULE)
    monkeypatch.setenv("GO_FOR_TEST", go)  # a host program: the emulated test starts it natively
    result = gopytester.runpytest(f"--arch={HOST},{EMULATED}", "-v")
    assert set(outcomes_by_id(result).values()) == {"passed"} and len(outcomes_by_id(result)) == 2
