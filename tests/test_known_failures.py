"""Known failures per (test, architecture) stay visible (issue 16): the ini option
``multiarch_xfail`` and pytest's own ``xfail(strict=True)`` applied by node id from a conftest.
An xfailed cell is neither passed nor failed (terminal, JSON, grid); once it passes, it fails as
XPASS(strict). End to end through inner pytest runs with the real go, cargo and qemu-user on
amd64 (native) and arm64 (emulated); the matching rules also have fast unit tests.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from gohelpers import outcomes_by_id, write_module
from rusthelpers import write_crate

from pytest_multiarch import arch as archmod
from pytest_multiarch.xfail import Rule, parse

HOST = archmod.host().name
ARCHES = ("amd64", "arm64")
TIMEOUT = 240

# Each test knows where it runs and fails on arm64 only; TestFixedOnArm64 passes everywhere.
KNOWN_GO = """
    package known

    import (
    \t"runtime"
    \t"testing"
    )

    func TestFailsOnArm64(t *testing.T) {
    \tif runtime.GOARCH == "arm64" {
    \t\tt.Fatal("decodes the wire format wrong on arm64")
    \t}
    }

    func TestFixedOnArm64(t *testing.T) {}

    func TestPlain(t *testing.T) {}
"""
KNOWN_RS = """
    #[cfg(test)]
    mod tests {
        #[test]
        fn fails_on_arm64() {
            assert!(!cfg!(target_arch = "aarch64"), "large header overflows on arm64");
        }
    }
"""
KNOWN_PY = """
    def test_python_fails_on_arm64(arch):
        assert arch.name != "arm64", "the Python side of the bug"
"""
INI = """
    [pytest]
    multiarch_xfail =
        arm64: example.com/known::TestFailsOnArm64: byte order bug (#12)
        aarch64: TestFixedOnArm64
        arm64: tests::fails_on_arm64
        arm64,s390x: test_known.py::test_python_fails_on_arm64
        arm64: example.com/known::TestTypo
"""
GO_ID = "known/go.mod::example.com/known::{}[{}]"
RS_ID = "crate/Cargo.toml::lib::tests::fails_on_arm64[{}]"
PY_ID = "test_known.py::test_python_fails_on_arm64[{}]"

pytestmark = pytest.mark.skipif(HOST != "amd64", reason="pairs native amd64 with emulated arm64")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest_subprocess("-v", "-rxXs", "-p", "no:randomly", *args, timeout=TIMEOUT)
    everything = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in everything and "Traceback (most recent" not in everything, everything
    return result


def write_project(pytester: pytest.Pytester) -> None:
    write_module(pytester.path, "known", {"known_test.go": KNOWN_GO})
    write_crate(pytester.path / "crate", {"src/lib.rs": KNOWN_RS}, name="known")
    (pytester.path / "test_known.py").write_text(textwrap.dedent(KNOWN_PY).lstrip())
    (pytester.path / "pytest.ini").write_text(textwrap.dedent(INI).lstrip())


def test_multiarch_xfail_marks_cells_and_fails_when_they_pass(
    gopytester: pytest.Pytester, rpytester: pytest.Pytester
) -> None:
    write_project(rpytester)
    report = rpytester.path / "report.json"
    arches, matrix = f"--arch={','.join(ARCHES)}", "--arch-matrix=all"
    result = run(rpytester, arches, f"--multiarch-report={report}", matrix)
    # The cell that is fixed fails the run (XPASS(strict)); the known failures do not.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        GO_ID.format("TestFailsOnArm64", "amd64"): "passed",
        GO_ID.format("TestFailsOnArm64", "arm64"): "xfail",
        GO_ID.format("TestFixedOnArm64", "amd64"): "passed",
        GO_ID.format("TestFixedOnArm64", "arm64"): "failed",
        GO_ID.format("TestPlain", "amd64"): "passed",
        GO_ID.format("TestPlain", "arm64"): "passed",
        RS_ID.format("amd64"): "passed",
        RS_ID.format("arm64"): "xfail",
        PY_ID.format("amd64"): "passed",
        PY_ID.format("arm64"): "xfail",
    }
    out = result.stdout.str()
    assert "[XPASS(strict)] known failure on arm64 (multiarch_xfail: aarch64: TestFixedOnArm64)" in out
    result.stdout.fnmatch_lines(["*= 1 failed, 6 passed, 3 xfailed*"])
    # The line that names no test is a warning that names the line; the others are not.
    assert out.count("matches no collected test") == 1
    assert "multiarch_xfail: 'arm64: example.com/known::TestTypo' matches no collected test" in out

    data = json.loads(report.read_text())
    cells = {r["nodeid"]: r for r in data["results"]}
    known = cells[GO_ID.format("TestFailsOnArm64", "arm64")]
    assert known["outcome"] == "xfailed"
    assert known["message"] == (
        "xfail: byte order bug (#12) (multiarch_xfail: arm64: example.com/known::TestFailsOnArm64: "
        "byte order bug (#12))"
    )
    assert "decodes the wire format wrong on arm64" in known["output"]  # how it fails today
    assert cells[RS_ID.format("arm64")]["outcome"] == "xfailed"
    assert cells[PY_ID.format("arm64")]["outcome"] == "xfailed"
    fixed = cells[GO_ID.format("TestFixedOnArm64", "arm64")]
    assert fixed["outcome"] == "failed"
    assert fixed["message"].startswith("[XPASS(strict)] known failure on arm64")
    assert data["counts"]["arm64"] == {"passed": 1, "failed": 1, "skipped": 0, "error": 0, "infra_error": 0,
                                       "xfailed": 3}  # fmt: skip
    assert data["counts"]["amd64"]["xfailed"] == 0
    # The terminal grid and totals show them apart from passes and failures.
    result.stdout.re_match_lines([r"^example\.com/known::TestFailsOnArm64 +\. +x$", r"^x xfailed: "])
    table = [r"^arch +passed +failed +skipped +errors +xfailed ", r"^arm64 +1 +1 +0 +0 +3 "]
    result.stdout.re_match_lines(table)
    result.stdout.fnmatch_lines(["*::TestFailsOnArm64: known failure on arm64, still failing (xfail: byte *"])
    fixed_line = "*::TestFixedOnArm64: passes on arm64, where it is marked as a known failure (*XPASS*"
    result.stdout.fnmatch_lines([fixed_line])
    result.stdout.fnmatch_lines(["*pytest.ini:7: PytestConfigWarning: multiarch_xfail: 'arm64: *TestTypo'*"])

    # Without the fixed test, the known failures keep CI green, and -k does not make the line
    # of the deselected test a typo.
    result = run(rpytester, f"--arch={','.join(ARCHES)}", "-k", "not Fixed")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*= 5 passed, 2 deselected, 3 xfailed*"])
    assert result.stdout.str().count("matches no collected test") == 1  # TestTypo's only


CONFTEST = """
    import pytest

    # pytest's own way: a strict xfail by node id, from a conftest (or a plugin given with -p).
    KNOWN = {
        "known/go.mod::example.com/known::TestFailsOnArm64[arm64]": "byte order bug (#12)",
        "known/go.mod::example.com/known::TestFixedOnArm64[arm64]": "was broken on arm64",
    }


    def pytest_collection_modifyitems(items):
        for item in items:
            if item.nodeid in KNOWN:
                item.add_marker(pytest.mark.xfail(strict=True, reason=KNOWN[item.nodeid]))
"""


def test_conftest_xfail_by_node_id_works_the_same(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "known", {"known_test.go": KNOWN_GO})
    gopytester.makeconftest(textwrap.dedent(CONFTEST))
    report = gopytester.path / "report.json"
    result = run(gopytester, f"--arch={','.join(ARCHES)}", f"--multiarch-report={report}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        GO_ID.format(t, a): (
            "xfail" if (t, a) == ("TestFailsOnArm64", "arm64")
            else "failed" if (t, a) == ("TestFixedOnArm64", "arm64") else "passed"
        )
        for t in ("TestFailsOnArm64", "TestFixedOnArm64", "TestPlain")
        for a in ARCHES
    }  # fmt: skip
    result.stdout.fnmatch_lines(["*[[]XPASS(strict)[]] was broken on arm64*"])
    cells = {r["nodeid"]: r for r in json.loads(report.read_text())["results"]}
    assert cells[GO_ID.format("TestFailsOnArm64", "arm64")]["outcome"] == "xfailed"
    assert cells[GO_ID.format("TestFailsOnArm64", "arm64")]["message"] == "xfail: byte order bug (#12)"
    assert cells[GO_ID.format("TestFixedOnArm64", "arm64")]["outcome"] == "failed"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("sparc64: example.com/m::TestX", "unknown architecture 'sparc64'"),
        ("example.com/m::TestX", "is not `ARCHES: TEST`"),
        ("arm64:", "is not `ARCHES: TEST`"),
    ],
)
def test_a_bad_line_is_a_usage_error(pytester: pytest.Pytester, line: str, says: str) -> None:
    pytester.makeini(f"[pytest]\nmultiarch_xfail =\n    {line}\n")
    result = pytester.runpytest_subprocess("--arch=amd64", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*multiarch_xfail: *{says}*"])


# --- the matching rules ----------------------------------------------------------------------------


def rule(test: str) -> Rule:
    (only,) = parse([f"arm64: {test}"])
    return only


@pytest.mark.parametrize(
    ("test", "base", "matches"),
    [
        ("example.com/m::TestDecodeWire", "m/go.mod::example.com/m::TestDecodeWire", True),
        ("TestDecodeWire", "m/go.mod::example.com/m::TestDecodeWire", True),
        ("m::TestDecodeWire", "m/go.mod::example.com/m::TestDecodeWire", True),  # after a "/"
        ("DecodeWire", "m/go.mod::example.com/m::TestDecodeWire", False),  # not at a boundary
        ("TestDecode", "m/go.mod::example.com/m::TestDecodeWire", False),  # a prefix is no match
        ("tests::large_header", "Cargo.toml::lib::tests::large_header", True),
        ("large_header", "Cargo.toml::lib::tests::large_header_v2", False),
        ("test_x.py::test_f", "tests/test_x.py::test_f[1]", True),  # every instance
        ("test_x.py::test_f[1]", "tests/test_x.py::test_f[1]", True),
        ("test_x.py::test_f[1]", "tests/test_x.py::test_f[2]", False),
    ],
)
def test_a_rule_matches_the_end_of_a_node_id_at_a_boundary(test: str, base: str, matches: bool) -> None:
    assert rule(test).matches(base) is matches


def test_parse_reads_arches_aliases_and_reasons() -> None:
    lines = ["s390x,mips64: tests::large_header: overflows", "", "# a comment", "aarch64:TestX"]
    first, second = parse(lines)
    assert first.arches == {"s390x", "mips64"} and first.test == "tests::large_header"
    assert first.reason == "overflows (multiarch_xfail: s390x,mips64: tests::large_header: overflows)"
    assert second.arches == {"arm64"}
    assert second.test == "TestX"
    assert second.reason == "known failure on arm64 (multiarch_xfail: aarch64:TestX)"


def test_an_infra_error_in_a_known_failure_cell_is_not_hidden(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator for arm64 is a stand-in that aborts the way a broken QEMU does: the known
    # failure's mark must not turn that into an xfail.
    write_module(gopytester.path, "known", {"known_test.go": KNOWN_GO})
    gopytester.makeini("[pytest]\nmultiarch_xfail =\n    arm64: example.com/known::TestFailsOnArm64\n")
    fake = gopytester.path / "brokenemu"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = --version ]; then echo "qemu-aarch64 version 10.0.2"; exit 0; fi\n'
        'echo "qemu: fatal: brokenemu lost its mind" >&2\nkill -SEGV $$\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("MULTIARCH_QEMU_ARM64", str(fake))
    report = gopytester.path / "report.json"
    result = run(gopytester, "--arch=amd64,arm64", "--arch-executor=qemu", f"--multiarch-report={report}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = outcomes_by_id(result)
    assert outcomes[GO_ID.format("TestFailsOnArm64", "arm64")] == "infra error"
    cells = {r["nodeid"]: r for r in json.loads(report.read_text())["results"]}
    assert cells[GO_ID.format("TestFailsOnArm64", "arm64")]["outcome"] == "infra_error"
    assert "brokenemu lost its mind" in cells[GO_ID.format("TestFailsOnArm64", "arm64")]["message"]
