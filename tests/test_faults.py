"""Fault injection (issue 10): real Go and Rust test programs that hang, crash or flood their output,
a binary of the wrong architecture, and a real stand-in emulator that crashes or hangs.

Each scenario is an inner pytest run (``runpytest_subprocess -v``) on one emulated architecture
(real qemu-user, or the stand-in) and amd64 (native, or under the real qemu-x86_64 where the
stand-in needs ``--arch-executor=qemu``). It checks the exact outcome of every item, the words the
culprit's report must hold, that the other tests of the batch keep or get their own results, and
that nothing the run started is still running afterwards: every process of the inner run carries
a variable of this scenario in its environment (``processes_with_env``), and the programs have
names of their own (``processes_matching``). What a report must explain (Go's own verdict, the
stuck test's goroutine, the panic of a huge Rust output) is checked last and raised together as
``KnownBug``, so one failure lists every gap. The Go sources
are in fixtures/faults/go (a module), the Rust ones in fixtures/faults/rust (a crate); the module
builds share the outer GOCACHE.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, processes_matching, processes_with_env, section
from rusthelpers import REAL_HOME
from wasmhelpers import need_rustup

from pytest_multiarch import arch as archmod
from pytest_multiarch.proc import QUIT_GRACE_SECONDS, TERM_GRACE_SECONDS

FAULTS = Path(__file__).parent / "fixtures" / "faults"
HOST = archmod.host().name
TIMEOUT = 180  # for an inner pytest run: far above what any of them needs
SCENARIO_VAR = "MULTIARCH_FAULT_SCENARIO"
WATCHDOG = "pytest_multiarch.watchdog"
# "qemu /usr/bin/qemu-aarch64-static 10.0.2": how the report names the emulator of an arch.
QEMU_UNDER = r"qemu \S+/qemu-{}(?:-static)? \d+\.\d+\.\d+"

pytestmark = pytest.mark.skipif(
    HOST != "amd64", reason="the scenarios pair native amd64 with emulated arm64 and s390x"
)


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> str:
    """``NAME=value`` in the environment of the inner run and of everything it starts."""
    value = uuid.uuid4().hex
    monkeypatch.setenv(SCENARIO_VAR, value)
    return f"{SCENARIO_VAR}={value}"


class KnownBug(AssertionError):
    """The gaps a report has (several at once), rather than the first failed assertion."""


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    """An inner verbose run; its result and how long it took. The plugin never crashes."""
    start = time.monotonic()
    result = pytester.runpytest_subprocess("-v", "-p", "no:randomly", *args, timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    everything = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in everything, everything
    assert "Traceback (most recent call last)" not in everything, everything
    return result, elapsed


def assert_nothing_left(scenario: str, *names: str) -> None:
    """No process of the scenario's run is left (the inner run's watchdog, once it has seen its
    pytest gone, included), nor any process whose command line holds one of ``names``."""
    # A process caught exiting has no command line left ("PID "): the wait below covers it.
    left = [p for p in processes_with_env(scenario) if WATCHDOG not in p and p.split(" ", 1)[1:] != [""]]
    for name in names:
        left += processes_matching(name)
    assert left == [], "still running after the run:\n" + "\n".join(left)
    deadline = time.monotonic() + 5
    while lingering := processes_with_env(scenario):
        assert time.monotonic() < deadline, "outlived the inner run (its watchdog?):\n" + "\n".join(lingering)
        time.sleep(0.05)


def copy_go(pytester: pytest.Pytester, *packages: str) -> Path:
    """fixtures/faults/go's go.mod and ``packages`` as the module ``faults`` of the pytester dir."""
    module = pytester.path / "faults"
    module.mkdir()
    shutil.copy(FAULTS / "go" / "go.mod", module / "go.mod")
    for package in packages:
        shutil.copytree(FAULTS / "go" / package, module / package)
    return module


def unique_seconds(base: int) -> str:
    """A `sleep` argument no other run uses (``base`` and a random fraction): a name to look for."""
    return f"{base}.{uuid.uuid4().int % 10**6:06d}"


def go_id(package: str, test: str, arch: str) -> str:
    return f"faults/go.mod::{package}::{test}[{arch}]"


def reproduce_runs(text: str) -> str:
    """The ``-test.run`` pattern of a Go report's reproduce line: which tests that process ran."""
    m = re.search(r"'-test\.run=\^\(([^)]*)\)\$'", text)
    assert m is not None, text
    return m.group(1)


# --- tests that never end -------------------------------------------------------------------------

# Each hanging test: what it prints first, and its goroutine's state in the dump (a busy loop is
# caught running, or runnable or preempted when Go's asynchronous preemption has just stopped it).
GO_HANGS = {
    "TestBusyLoop": ("spinning forever", r"\[(running|runnable|preempted)\]:"),
    "TestBlockedReceive": ("waiting for a value that never comes", r"\[chan receive\]:"),
    "TestLongSleep": ("sleeping for an hour", r"\[sleep\]:"),
}


def test_go_hangs_are_stopped_by_the_test_limit_and_the_rest_run_on(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    copy_go(gopytester, "faultyhang")
    daemon = unique_seconds(1719)
    monkeypatch.setenv("FAULTY_DAEMON_SLEEP", daemon)  # TestLongSleep's daemon: `sleep <daemon>`
    arches = ("amd64", "arm64")
    result, elapsed = run(
        gopytester, f"--arch={','.join(arches)}", "--arch-test-timeout=3", "--arch-timeout-scale=qemu=1"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    tests = ["TestBefore", "TestBusyLoop", "TestAfterBusy", "TestBlockedReceive", "TestAfterBlocked",
             "TestLongSleep", "TestAfterSleep"]  # fmt: skip
    assert outcomes_by_id(result) == {
        go_id("faultyhang", t, a): "failed" if t in GO_HANGS else "passed" for t in tests for a in arches
    }
    for a in arches:
        under = "native" if a == HOST else QEMU_UNDER.format("aarch64")
        executor = "native" if a == HOST else "qemu"
        for test, (said, state) in GO_HANGS.items():
            text = section(result, f"{test} [{a}]")
            assert re.match(
                rf"{test} on {a}: timed out after 3 s under {under} \(--arch-test-timeout 3 s x 1 for {a} "
                rf"under {executor}\); the test process was stopped \(reproduce: ",
                text,
            ), text
            assert said in text  # what the test printed before it hung
            # Go's goroutine dump (SIGQUIT first), the hung test's own goroutine at its head.
            assert "SIGQUIT: quit" in text
            mine = text.split("[... the whole dump is below")[0]
            assert f"example.com/faults/faultyhang.{test}(" in mine and re.search(state, mine), mine
            assert "hang_test.go:" in mine
        # Each hang cost one process; the next one ran from the test after the hung one.
        runs = {t: reproduce_runs(section(result, f"{t} [{a}]")) for t in GO_HANGS}
        assert runs["TestBusyLoop"] == "|".join(tests)
        assert runs["TestBlockedReceive"] == "|".join(tests[2:])
        assert runs["TestLongSleep"] == "|".join(tests[4:])
    assert elapsed < 45, f"the run took {elapsed:.0f} s"
    # TestLongSleep's daemon left the process group (a session of its own): killed all the same.
    assert_nothing_left(scenario, f"sleep {daemon}", str(gopytester.path))


def test_go_stuck_with_many_goroutines_shows_its_own_stack(
    gopytester: pytest.Pytester, scenario: str
) -> None:
    copy_go(gopytester, "faultyleak")
    arches = ("amd64", "arm64")
    result, elapsed = run(
        gopytester, f"--arch={','.join(arches)}", "--arch-test-timeout=3", "--arch-timeout-scale=qemu=1"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    tests = ["TestBefore", "TestDeadlockWithWorkers", "TestHangWithWorkers", "TestAfter"]
    assert outcomes_by_id(result) == {
        go_id("faultyleak", t, a): "failed" if "Workers" in t else "passed" for t in tests for a in arches
    }
    missing = []
    for a in arches:
        under = "native" if a == HOST else QEMU_UNDER.format("aarch64")
        deadlock = section(result, f"TestDeadlockWithWorkers [{a}]")
        assert deadlock.startswith(
            f"TestDeadlockWithWorkers on {a}: the test process exited with status 2 while this test was "
            "running (reproduce: "
        ), deadlock
        assert "leak_test.go:24: workers started; waiting for them" in deadlock
        hang = section(result, f"TestHangWithWorkers [{a}]")
        assert re.match(rf"TestHangWithWorkers on {a}: timed out after 3 s under {under} ", hang), hang
        assert "leak_test.go:34: workers started; waiting for them" in hang
        assert reproduce_runs(hang) == "TestHangWithWorkers|TestAfter"
        # What the reports should hold, and today do not:
        if "fatal error: all goroutines are asleep - deadlock!" not in deadlock:
            missing.append(f"{a}: Go's 'fatal error: all goroutines are asleep - deadlock!'")
        if "example.com/faults/faultyleak.TestHangWithWorkers(" not in hang:
            missing.append(f"{a}: the hung test's own goroutine in the dump")
        for name, text in (("deadlock", deadlock), ("hang", hang)):
            if not any(Path(p).is_file() for p in re.findall(r"(/\S+\.err)\b", text)):
                missing.append(f"{a}: the {name} report names no .err log (where the dump is)")
    assert elapsed < 45, f"the run took {elapsed:.0f} s"
    assert_nothing_left(scenario, str(gopytester.path))
    if missing:
        raise KnownBug("\n".join(missing))


def test_rust_hang_abort_and_thread_panic_each_fail_their_test_only(
    rpytester: pytest.Pytester, scenario: str
) -> None:
    shutil.copytree(FAULTS / "rust", rpytester.path, dirs_exist_ok=True)
    arches = ("amd64", "arm64")
    result, elapsed = run(
        rpytester, f"--arch={','.join(arches)}", "--arch-test-timeout=3", "--arch-timeout-scale=qemu=1",
        "-k", "not flood",  # tests/flood.rs: see test_rust_huge_output_...
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failing = {"b_spins_forever", "c_aborts", "d_thread_panics"}
    tests = ["a_before", "b_spins_forever", "c_aborts", "d_thread_panics", "e_after"]
    assert outcomes_by_id(result) == {
        f"Cargo.toml::lib::tests::{t}[{a}]": "failed" if t in failing else "passed"
        for t in tests
        for a in arches
    }
    for a in arches:
        under = "native" if a == HOST else QEMU_UNDER.format("aarch64")
        executor = "native" if a == HOST else "qemu"
        hang = section(result, f"tests::b_spins_forever [{a}]")
        assert re.match(
            rf"tests::b_spins_forever on {a}: timed out after 3 s under {under} "
            rf"\(--arch-test-timeout 3 s x 1 for {a} under {executor}\); the test process was stopped "
            r"\(reproduce: ",
            hang,
        ), hang
        assert "SIGQUIT" not in hang and "goroutine" not in hang  # no dump to ask a Rust binary for
        # c_aborts took the first process down while b_spins_forever was running beside it: each
        # of the two ran again alone, so that each is blamed for what it did itself.
        assert "--test-threads=1 --exact tests::b_spins_forever" in hang

        abort = section(result, f"tests::c_aborts [{a}]")
        assert abort.startswith(
            f"tests::c_aborts on {a}: the test process killed by SIGABRT while this test was running "
            "(reproduce: "
        ), abort
        assert "--test-threads=1 --exact tests::c_aborts" in abort
        if a != HOST:  # the guest's own abort: a test failure, not an infra error
            assert "qemu: uncaught target signal 6 (Aborted)" in abort

        panic = section(result, f"tests::d_thread_panics [{a}]")
        headline = panic.splitlines()[0]
        assert headline.startswith(
            f"tests::d_thread_panics on {a}: thread '<unnamed>' panicked at src/lib.rs:"
        )
        assert headline.endswith("boom in a spawned thread")
        assert "killed by" not in panic and "timed out" not in panic  # the process went on
    assert elapsed < 60, f"the run took {elapsed:.0f} s"
    assert_nothing_left(scenario, "faultyrs-", str(rpytester.path))


# --- tests that take the process down ---------------------------------------------------------------


def test_go_crashes_blame_the_test_that_crashed(gopytester: pytest.Pytester, scenario: str) -> None:
    copy_go(gopytester, "faultycrash")
    arches = ("amd64", "s390x")
    result, _ = run(gopytester, f"--arch={','.join(arches)}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    tests = ["TestBefore", "TestNilDeref", "TestBetween1", "TestExit3", "TestBetween2", "TestGoroutinePanic",
             "TestAfter", "TestAfterFails"]  # fmt: skip
    failing = {"TestNilDeref", "TestExit3", "TestGoroutinePanic", "TestAfterFails"}
    assert outcomes_by_id(result) == {
        go_id("faultycrash", t, a): "failed" if t in failing else "passed" for t in tests for a in arches
    }
    for a in arches:
        nil = section(result, f"TestNilDeref [{a}]")
        assert nil.startswith(
            f"TestNilDeref on {a}: the test process exited with status 2 while this test was running "
            "(reproduce: "
        ), nil
        assert "crash_test.go:15: following a nil pointer" in nil
        assert "panic: runtime error: invalid memory address or nil pointer dereference" in nil
        assert "[signal SIGSEGV: segmentation violation" in nil
        assert "example.com/faults/faultycrash.TestNilDeref(" in nil
        assert reproduce_runs(nil) == "|".join(tests)

        exit3 = section(result, f"TestExit3 [{a}]")
        assert exit3.startswith(
            f"TestExit3 on {a}: the test process exited with status 3 while this test was running "
            "(reproduce: "
        ), exit3
        assert "crash_test.go:22: exiting with status 3" in exit3
        assert reproduce_runs(exit3) == "|".join(tests[2:])  # a fresh process, from the next test on

        gopanic = section(result, f"TestGoroutinePanic [{a}]")
        assert gopanic.startswith(
            f"TestGoroutinePanic on {a}: the test process exited with status 2 while this test was running"
        ), gopanic
        assert "panic: boom in a spawned goroutine" in gopanic
        assert "example.com/faults/faultycrash.TestGoroutinePanic.func1()" in gopanic
        assert reproduce_runs(gopanic) == "|".join(tests[4:])

        after = section(result, f"TestAfterFails [{a}]")
        assert after.startswith(
            f"TestAfterFails on {a}: crash_test.go:36: an ordinary failure after the crashes"
        )
        assert "the test process" not in after and "panic" not in after
    assert_nothing_left(scenario, str(gopytester.path))


# --- a flood of output ----------------------------------------------------------------------------------


RSS_CONFTEST = """
import resource

def pytest_unconfigure(config):
    open("rss.txt", "w").write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def test_go_huge_output_is_clipped_in_the_report_and_whole_on_disk(
    gopytester: pytest.Pytester, scenario: str
) -> None:
    copy_go(gopytester, "faultyspew")
    gopytester.makeconftest(RSS_CONFTEST)
    arches = ("amd64", "arm64")
    result, _ = run(gopytester, f"--arch={','.join(arches)}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        go_id("faultyspew", t, a): "failed" if t == "TestSpew" else "passed"
        for t in ("TestBefore", "TestSpew", "TestAfter")
        for a in arches
    }
    logs = set()
    for a in arches:
        text = section(result, f"TestSpew [{a}]")
        headline = f"TestSpew on {a}: spew_test.go:21: failing after 100 MB of output"
        assert text.startswith(headline), text[:500]
        assert len(text) < 1_100_000  # the default limit: 1M characters of it (head and tail)
        notes = re.findall(
            r"^\[\.\.\. (\d+) characters cut; the whole output is in (\S+) \.\.\.\]$", text, re.M
        )
        assert len(notes) == 1, notes
        cut, log = int(notes[0][0]), Path(notes[0][1])
        assert cut > 98_000_000
        head, tail = text.split(" characters cut; ")
        assert "SPEW-HEAD first line of the flood" in head and "SPEW-TAIL" not in head
        assert "SPEW-TAIL last line of the flood" in tail and "SPEW-HEAD" not in tail
        assert f"(the whole output: {log})" in tail
        assert log.is_file() and log.stat().st_size > 100_000_000, log
        with open(log, "rb") as f:
            assert b"SPEW-HEAD first line of the flood" in f.read(4096)
        logs.add(log)
    assert len(logs) == 2  # one per architecture
    max_rss_kib = int((gopytester.path / "rss.txt").read_text())
    assert max_rss_kib < 150 * 1024, f"the inner pytest's peak RSS was {max_rss_kib // 1024} MiB"
    assert_nothing_left(scenario, str(gopytester.path))


def test_rust_huge_output_is_clipped_in_the_report_and_whole_on_disk(
    rpytester: pytest.Pytester, scenario: str
) -> None:
    shutil.copytree(FAULTS / "rust", rpytester.path, dirs_exist_ok=True)
    rpytester.makeconftest(RSS_CONFTEST)
    arches = ("amd64", "arm64")
    result, _ = run(rpytester, f"--arch={','.join(arches)}", "-k", "flood")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        f"Cargo.toml::tests/flood::{t}[{a}]": "failed" if t == "b_floods" else "passed"
        for t in ("a_quiet", "b_floods", "c_quiet")
        for a in arches
    }
    headlines = []
    for a in arches:
        text = section(result, f"b_floods [{a}]")
        assert len(text) < 1_100_000
        notes = re.findall(
            r"^\[\.\.\. (\d+) characters cut; the whole output is in (\S+) \.\.\.\]$", text, re.M
        )
        assert len(notes) == 1, notes
        cut, log = int(notes[0][0]), Path(notes[0][1])
        assert cut > 48_000_000
        head, tail = text.split(" characters cut; ")
        assert "FLOOD-HEAD first line of the flood" in head and "FLOOD-TAIL" not in head
        assert "FLOOD-TAIL last line of the flood" in tail and "FLOOD-HEAD" not in tail
        assert "thread 'b_floods' panicked at tests/flood.rs:" in tail
        assert "failing after 50 MB of output" in tail
        assert log.is_file() and log.stat().st_size > 50_000_000, log
        headlines.append(text.splitlines()[0])
    max_rss_kib = int((rpytester.path / "rss.txt").read_text())
    assert max_rss_kib < 150 * 1024, f"the inner pytest's peak RSS was {max_rss_kib // 1024} MiB"
    assert_nothing_left(scenario, "flood-", str(rpytester.path))
    # Last: the headline says why it failed, as it does for a test with less output.
    for a, headline in zip(arches, headlines, strict=True):
        if not re.fullmatch(
            rf"b_floods on {a}: thread 'b_floods' panicked at tests/flood\.rs:\d+:\d+: "
            r"failing after 50 MB of output",
            headline,
        ):
            raise KnownBug(f"the headline of a huge failed Rust output: {headline!r}")


# --- a binary of the wrong architecture -----------------------------------------------------------------

WRONG_ARCH_TESTS = """
    import pathlib

    HERE = pathlib.Path(__file__).parent

    def test_own_build_runs(arch, go_build, run_on_arch):
        res = run_on_arch(go_build(HERE / "faults" / "faultyhello")).check()
        assert res.stdout == f"faultyhello on {arch.goarch}\\n"

    def test_foreign_binary(arch, run_on_arch):
        run_on_arch(HERE / "faultyhello-s390x")

    def test_not_an_elf(arch, run_on_arch):
        run_on_arch(HERE / "faultyhello-notes.txt")

    def test_missing(arch, run_on_arch):
        run_on_arch(HERE / "faultyhello-nowhere")
"""


def test_run_on_arch_refuses_a_binary_of_another_arch(
    gopytester: pytest.Pytester, scenario: str, go: str, go_env: dict[str, str]
) -> None:
    module = copy_go(gopytester, "faultyhello")
    foreign = gopytester.path / "faultyhello-s390x"
    subprocess.run(
        [go, "build", "-o", str(foreign), "."], cwd=module / "faultyhello", check=True, timeout=120,
        env={**os.environ, **go_env, "GOOS": "linux", "GOARCH": "s390x", "CGO_ENABLED": "0"},
    )  # fmt: skip
    (gopytester.path / "faultyhello-notes.txt").write_text("not a program\n")
    gopytester.makepyfile(test_wrong=WRONG_ARCH_TESTS)
    arches = ("amd64", "arm64")
    result, _ = run(gopytester, f"--arch={','.join(arches)}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        f"test_wrong.py::{t}[{a}]": "passed" if t == "test_own_build_runs" else "failed"
        for t in ("test_own_build_runs", "test_foreign_binary", "test_not_an_elf", "test_missing")
        for a in arches
    }
    fix = ". go_build(...) and cargo_build(...) return a program built for the test's architecture"
    for a in arches:
        info = archmod.get(a)
        assert section(result, f"test_foreign_binary[{a}]") == (
            f"run_on_arch on {a}: {foreign} was built for s390x (EM_S390 64-bit big-endian, static), "
            f"not for {a} (expected {info.elf_machine} 64-bit little-endian); rebuild it for {a} "
            f"(GOARCH={info.goarch} or --target {info.rust_triple}){fix}"
        )
        assert section(result, f"test_not_an_elf[{a}]") == (
            f"run_on_arch on {a}: {gopytester.path / 'faultyhello-notes.txt'} is not an ELF executable "
            f"(a text file starting 'not a program'); cannot run it on any architecture{fix}"
        )
        assert section(result, f"test_missing[{a}]") == (
            f"run_on_arch on {a}: {gopytester.path / 'faultyhello-nowhere'} does not exist; cannot run it on "
            f"any architecture{fix}"
        )
    assert_nothing_left(scenario, "faultyhello")


# --- an emulator that misbehaves ------------------------------------------------------------------------


def fake_qemu(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, body: str) -> Path:
    """A shell script standing in for qemu-aarch64 (it passes the version probe), and the qemu
    executor pointed at it for arm64."""
    fake = pytester.path / name
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = --version ]; then echo "qemu-aarch64 version 10.0.2"; exit 0; fi\n' + body
    )
    fake.chmod(0o755)
    monkeypatch.setenv("MULTIARCH_QEMU_ARM64", str(fake))
    return fake


PLAIN_TESTS = ("TestOne", "TestTwo")


def test_an_emulator_that_crashes_makes_infra_errors(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    copy_go(gopytester, "faultyplain")
    fake = fake_qemu(
        gopytester, monkeypatch, "faultyemu-crash",
        'echo "qemu: fatal: faultyemu lost its mind" >&2\nkill -SEGV $$\n',
    )  # fmt: skip
    # amd64 runs under the real qemu-x86_64: only the arch whose emulator is broken is hit.
    result, _ = run(gopytester, "--arch=amd64,arm64", "--arch-executor=qemu")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    says = "infra error, not a test failure: the emulator aborted: qemu: fatal: faultyemu lost its mind"
    assert_arm64_broken(gopytester, result, "infra error", says, fake)
    result.stdout.re_match_lines([r"^arm64 +0 +0 +0 +0 +2 "])  # counted as infra errors, not failures
    assert_nothing_left(scenario, str(fake), str(gopytester.path))


def assert_arm64_broken(
    pytester: pytest.Pytester, result: pytest.RunResult, outcome: str, says: str, fake: object
) -> list[str]:
    """With a broken stand-in emulator for arm64: every arm64 item has ``outcome`` and a report
    that starts with ``says`` and the stand-in's reproduce line, amd64 passes; the reports."""
    assert outcomes_by_id(result) == {
        go_id("faultyplain", t, a): outcome if a == "arm64" else "passed"
        for t in PLAIN_TESTS
        for a in ("amd64", "arm64")
    }
    texts = [section(result, f"{t} [arm64]") for t in PLAIN_TESTS]
    for t, text in zip(PLAIN_TESTS, texts, strict=True):
        # The variables every test process gets (MULTIARCH_ARCH, MULTIARCH_EXECUTOR), and a Go
        # test's GOOS/GOARCH, are in it.
        env = "MULTIARCH_ARCH=arm64 MULTIARCH_EXECUTOR=qemu GOOS=linux GOARCH=arm64"
        reproduce = f"(reproduce: cd {pytester.path}/faults/faultyplain && {env} {fake} "
        assert text.startswith(f"{t} on arm64: {says} {reproduce}"), text
    return texts


# How long the stand-in may live past the 3 s limit: to its first signal (SIGQUIT, as for any Go
# batch), or through the whole escalation when it ignores SIGQUIT and SIGTERM; plus the end of the
# inner run (its report), as the end is measured there.
SLACK = 6.0  # a loaded machine (a fresh root's test.sh) took 5.1 s past the limit to end the run


@pytest.mark.parametrize(
    ("kind", "stops_within"),
    [
        # sleeps, with a daemon started in a session of its own: the first signal ends it
        pytest.param("sleep", 3 + SLACK, id="sleeps"),
        # spins and ignores SIGQUIT and SIGTERM: the SIGKILL that ends the escalation does
        pytest.param(
            "spin", 3 + QUIT_GRACE_SECONDS + TERM_GRACE_SECONDS + SLACK, id="spins-ignoring-signals"
        ),
    ],
)
def test_an_emulator_that_hangs_is_stopped_by_the_batch_limit(
    gopytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    scenario: str,
    kind: str,
    stops_within: float,
) -> None:
    copy_go(gopytester, "faultyplain")
    daemon, sleep = unique_seconds(1718), unique_seconds(1717)
    started = gopytester.path / f"faultyemu-{kind}.started"
    hang = {
        "sleep": f"setsid sleep {daemon} &\nsleep {sleep}\n",
        "spin": "trap '' QUIT TERM\nwhile :; do :; done\n",
    }[kind]
    fake = fake_qemu(gopytester, monkeypatch, f"faultyemu-{kind}", f"date +%s.%N > {started}\n{hang}")
    result, _ = run(
        gopytester,
        "--arch=amd64,arm64",
        "--arch-executor=qemu",
        "--arch-timeout=3",
        "--arch-timeout-scale=qemu=1",
    )
    lived = time.time() - float(started.read_text())  # at most: from its start to the run's end
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    says = "the test process was stopped: timed out after 3 s before this test reported a result"
    texts = assert_arm64_broken(gopytester, result, "failed", says, fake)
    assert not any("infra error" in text for text in texts)
    assert 3 <= lived < stops_within, f"the stand-in lived {lived:.1f} s"
    assert_nothing_left(scenario, str(fake), f"sleep {daemon}", f"sleep {sleep}", str(gopytester.path))


# --- WebAssembly (wasmtime): a hang, a trap, an exit mid-run, a flood -----------------------------


@pytest.fixture
def wasm_rpytester(rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """``rpytester`` with rustup's cargo (Debian's Rust has no std for wasm32-wasip1)."""
    need_rustup()
    for tool in ("cargo", "rustc"):
        monkeypatch.setenv(tool.upper(), str(REAL_HOME / ".cargo" / "bin" / tool))
    return rpytester


WASM_UNDER = r"wasmtime-py \d+\.\d+\.\d+"


def test_wasm_go_spin_and_exit_zero_fail_their_test_only(gopytester: pytest.Pytester, scenario: str) -> None:
    copy_go(gopytester, "faultywasm")
    result, _ = run(gopytester, "--arch=wasm", "--arch-test-timeout=3", "--arch-timeout-scale=wasmtime=1",
                    "--arch-test-cache=off")  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    tests = ["TestBefore", "TestSpin", "TestAfterSpin", "TestExitZero", "TestAfterExit"]
    failing = {"TestSpin", "TestExitZero"}
    assert outcomes_by_id(result) == {
        go_id("faultywasm", t, "wasm"): "failed" if t in failing else "passed" for t in tests
    }
    spin = section(result, "TestSpin [wasm]")
    assert re.match(
        rf"TestSpin on wasm: timed out after 3 s under {WASM_UNDER} \(--arch-test-timeout 3 s x 1 for wasm "
        r"under wasmtime\); the test process was stopped \(reproduce: ",
        spin,
    ), spin
    assert "spinning forever" in spin and "pytest_multiarch/wasmrun.py" in spin
    exit0 = section(result, "TestExitZero [wasm]")
    assert exit0.startswith(
        "TestExitZero on wasm: the test process exited with status 0 while this test was running, before it "
        "reported a result: the test (or code it calls) ended the process"
    ), exit0
    assert "exiting with status 0" in exit0
    assert reproduce_runs(exit0) == "|".join(tests[2:])  # a fresh process after the spin
    assert_nothing_left(scenario, "faultywasm", str(gopytester.path))


def test_wasm_rust_spin_trap_and_thread_panic_fail_their_test_only(
    wasm_rpytester: pytest.Pytester, scenario: str
) -> None:
    shutil.copytree(FAULTS / "rust", wasm_rpytester.path, dirs_exist_ok=True)
    result, _ = run(wasm_rpytester, "--arch=wasm", "--arch-test-timeout=3", "--arch-timeout-scale=wasmtime=1",
                    "-k", "not flood")  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failing = {"b_spins_forever", "c_aborts", "d_thread_panics"}
    tests = ["a_before", "b_spins_forever", "c_aborts", "d_thread_panics", "e_after"]
    assert outcomes_by_id(result) == {
        f"Cargo.toml::lib::tests::{t}[wasm]": "failed" if t in failing else "passed" for t in tests
    }
    hang = section(result, "tests::b_spins_forever [wasm]")
    assert re.match(rf"tests::b_spins_forever on wasm: timed out after 3 s under {WASM_UNDER} ", hang), hang
    trap = section(result, "tests::c_aborts [wasm]")
    assert trap.startswith("tests::c_aborts on wasm: the test process exited with status 134 while this test "
                           "was running"), trap  # fmt: skip
    assert "about to abort" in trap and "wasm trap: " in trap and "unreachable" in trap
    panic = section(result, "tests::d_thread_panics [wasm]")
    assert panic.startswith("tests::d_thread_panics on wasm: thread 'main' panicked at "), panic
    assert "failed to spawn thread" in panic  # stable wasm32-wasip1 has no threads
    assert_nothing_left(scenario, "faultyrs-", str(wasm_rpytester.path))


def test_wasm_huge_output_is_clipped_and_whole_on_disk(gopytester: pytest.Pytester, scenario: str) -> None:
    copy_go(gopytester, "faultyspew")
    gopytester.makeconftest(RSS_CONFTEST)
    result, _ = run(gopytester, "--arch=wasm", "--arch-test-cache=off")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        go_id("faultyspew", t, "wasm"): "failed" if t == "TestSpew" else "passed"
        for t in ("TestBefore", "TestSpew", "TestAfter")
    }
    text = section(result, "TestSpew [wasm]")
    assert text.startswith("TestSpew on wasm: spew_test.go:21: failing after 100 MB of output"), text[:500]
    notes = re.findall(r"^\[\.\.\. (\d+) characters cut; the whole output is in (\S+) \.\.\.\]$", text, re.M)
    assert len(notes) == 1 and int(notes[0][0]) > 98_000_000, notes
    assert Path(notes[0][1]).stat().st_size > 100_000_000
    assert "SPEW-TAIL last line of the flood" in text
    max_rss_kib = int((gopytester.path / "rss.txt").read_text())
    assert max_rss_kib < 150 * 1024, f"the inner pytest's peak RSS was {max_rss_kib // 1024} MiB"
    assert_nothing_left(scenario, str(gopytester.path))
