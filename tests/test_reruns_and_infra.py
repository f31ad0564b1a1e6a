"""Flaky tests (`--arch-reruns`) and emulator/infrastructure errors, each its own outcome: a test
that passes on a re-run is not an architecture bug, and neither is an emulator that fails."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, write_module

FLAKY = {
    "m_test.go": """
        package m

        import (
        \t"os"
        \t"runtime"
        \t"testing"
        )

        // Fails the first time it runs on an arch, passes after (a marker file in the package dir).
        func TestFlaky(t *testing.T) {
        \tmark := "flaky-" + runtime.GOARCH
        \tif _, err := os.Stat(mark); err != nil {
        \t\tos.WriteFile(mark, nil, 0o644)
        \t\tt.Fatal("timing-dependent failure (first run only)")
        \t}
        }

        // Fails every time, and counts its runs.
        func TestAlwaysFails(t *testing.T) {
        \tf, _ := os.OpenFile("runs-"+runtime.GOARCH, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
        \tf.WriteString("run\\n")
        \tf.Close()
        \tt.Fatal("a real bug")
        }

        func TestFine(t *testing.T) {}
    """,
}
SIMPLE = {
    "m_test.go": """
        package m

        import "testing"

        func TestA(t *testing.T) {}

        func TestB(t *testing.T) {}
    """,
}
ID = "m/go.mod::example.com/m::{}[{}]"


def test_a_test_that_passes_on_a_rerun_is_passed_and_flaky(gopytester: pytest.Pytester) -> None:
    mod = write_module(gopytester.path, "m", FLAKY)
    res = gopytester.runpytest_subprocess(
        "--arch=arm64,s390x", "--arch-reruns=2", "-v", "--multiarch-report=r.json", "--junitxml=j.xml",
        timeout=300,
    )  # fmt: skip
    assert res.ret == 1
    outcomes = outcomes_by_id(res)
    for a in ("arm64", "s390x"):
        assert outcomes[ID.format("TestFlaky", a)] == "passed"
        assert outcomes[ID.format("TestAlwaysFails", a)] == "failed"
        assert outcomes[ID.format("TestFine", a)] == "passed"
        assert (mod / f"runs-{a}").read_text() == "run\n" * 3  # once, then re-run twice, alone
    res.stdout.re_match_lines([re.escape(f"{ID.format('TestFlaky', 'arm64')} PASSED (flaky)")])
    res.stdout.fnmatch_lines_random([
        "m/go.mod::example.com/m::TestFlaky: flaky on arm64 (failed 1x, then passed on a re-run; "
        "not counted as an architecture difference)",
        "example.com/m::TestFlaky *R  R",  # the matrix row: flaky on both
    ])  # fmt: skip
    assert "TestFlaky: fails on" not in res.stdout.str()
    results = {r["nodeid"]: r for r in json.loads((gopytester.path / "r.json").read_text())["results"]}
    flaky = results[ID.format("TestFlaky", "s390x")]
    assert (flaky["outcome"], flaky["flaky"]) == ("passed", 1)
    assert "timing-dependent failure (first run only)" in flaky["message"]
    assert results[ID.format("TestAlwaysFails", "s390x")]["flaky"] == 0
    props = {
        (case.get("name"), p.get("name")): p.get("value")
        for case in ET.parse(gopytester.path / "j.xml").getroot().iter("testcase")
        for p in case.iter("property")
    }
    assert props[("TestFlaky[arm64]", "flaky")] == "1"
    assert ("TestAlwaysFails[arm64]", "flaky") not in props


def test_without_reruns_a_flaky_test_fails(gopytester: pytest.Pytester) -> None:
    mod = write_module(gopytester.path, "m", FLAKY)
    res = gopytester.runpytest_subprocess("--arch=arm64", "-v", timeout=300)
    assert outcomes_by_id(res)[ID.format("TestFlaky", "arm64")] == "failed"
    assert (mod / "runs-arm64").read_text() == "run\n"


@pytest.mark.parametrize("value", ["-1", "two"])
def test_reruns_must_be_a_whole_number(pytester: pytest.Pytester, value: str) -> None:
    res = pytester.runpytest_subprocess(f"--arch-reruns={value}")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*argument --arch-reruns:*"])


def test_an_instruction_the_emulated_cpu_lacks_is_an_infra_error(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real QEMU, real binary: built for ARMv8.1 (LSE atomics), run on an emulated Cortex-A53."""
    write_module(gopytester.path, "m", SIMPLE)
    monkeypatch.setenv("GOARM64", "v8.1")
    monkeypatch.setenv("QEMU_CPU", "cortex-a53")
    res = gopytester.runpytest_subprocess(
        "--arch=arm64,amd64", "--arch-executor=auto", "--arch-reruns=1", "-v", "--multiarch-report=r.json",
        timeout=300,
    )  # fmt: skip
    assert res.ret == 1
    assert outcomes_by_id(res) == {
        ID.format("TestA", "arm64"): "infra error", ID.format("TestB", "arm64"): "infra error",
        ID.format("TestA", "amd64"): "passed", ID.format("TestB", "amd64"): "passed",
    }  # fmt: skip
    data = json.loads((gopytester.path / "r.json").read_text())
    assert data["counts"]["arm64"] == {
        "passed": 0, "failed": 0, "skipped": 0, "error": 0, "infra_error": 2, "xfailed": 0
    }  # fmt: skip
    messages = {r["message"] for r in data["results"] if r["arch"] == "arm64"}
    assert messages == {
        "the emulated CPU does not implement an instruction of this binary (try QEMU_CPU=max): "
        "qemu: uncaught target signal 4 (Illegal instruction) - core dumped"
    }
    res.stdout.re_match_lines(
        [r"^arch +passed +failed +skipped +errors +infra +flaky", r"^arm64 +0 +0 +0 +0 +2 +0 "]
    )
    res.stdout.fnmatch_lines(["m/go.mod::example.com/m::TestA: infra error on arm64, not a test failure: *"])
    assert "fails on arm64" not in res.stdout.str()


def test_an_emulator_that_aborts_is_an_infra_error(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stand-in for qemu-s390x that crashes the way QEMU does when it hits an internal error."""
    fake = tmp_path / "qemu-s390x-crashing"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "qemu-s390x version 10.0.2"; exit 0; fi\n'
        'echo "qemu: unhandled CPU exception 0x10 - aborting" >&2\n'
        "kill -ABRT $$\n"
    )
    fake.chmod(0o755)
    write_module(gopytester.path, "m", SIMPLE)
    monkeypatch.setenv("MULTIARCH_QEMU_S390X", str(fake))
    res = gopytester.runpytest_subprocess(
        "--arch=s390x", "--arch-executor=qemu", "-v", "--multiarch-report=r.json", timeout=300
    )
    assert res.ret == 1
    assert set(outcomes_by_id(res).values()) == {"infra error"}
    data = json.loads((gopytester.path / "r.json").read_text())
    assert {r["message"] for r in data["results"]} == {
        "the emulator aborted: qemu: unhandled CPU exception 0x10 - aborting"
    }
    res.stdout.fnmatch_lines(["*infra error, not a test failure: the emulator aborted*"])
