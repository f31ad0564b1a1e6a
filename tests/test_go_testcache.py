"""Go's test-result cache (run/testcache.py): the log parser and the inputs' digest, then end to
end with real go and real qemu: what a test reads decides when it runs again."""

from __future__ import annotations

import glob
import json
import os
import time
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, write_module
from stubs import write_executable

from pytest_multiarch.run.testcache import MAGIC, NotCacheable, inputs_digest, parse_log

HOUR_AGO = time.time() - 3600


# --- the test log ------------------------------------------------------------------------------
def test_a_whole_log_parses_and_anything_else_keeps_nothing() -> None:
    text = MAGIC + "getenv MODE\nopen testdata/x.txt\nchdir /tmp\nstat a b\n"
    expected = [("getenv", "MODE"), ("open", "testdata/x.txt"), ("chdir", "/tmp"), ("stat", "a b")]
    assert parse_log(text) == expected
    assert parse_log(MAGIC) == []
    assert parse_log(text[:-1]) is None  # cut mid-line: the process died while writing
    assert parse_log("getenv MODE\n") is None  # not a test log
    assert parse_log(MAGIC + "unlink x\n") is None  # an operation Go does not log: do not guess
    assert parse_log(MAGIC + "getenv\n") is None


def _digest(root: Path, entries: list[tuple[str, str]], env: dict[str, str] | None = None) -> str:
    return inputs_digest(entries, env=env or {}, cwd=str(root / "pkg"), root=str(root))


def _old(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (HOUR_AGO, HOUR_AGO))


def test_the_digest_follows_what_the_test_read(tmp_path: Path) -> None:
    _old(tmp_path / "pkg" / "testdata" / "x.txt", "one")
    entries = [("getenv", "MODE"), ("open", "testdata/x.txt")]
    first = _digest(tmp_path, entries)
    assert _digest(tmp_path, entries) == first
    assert _digest(tmp_path, entries, {"MODE": ""}) != first  # set but empty is not unset
    assert _digest(tmp_path, entries, {"OTHER": "1"}) == first  # not read: not part of it
    _old(tmp_path / "pkg" / "testdata" / "x.txt", "two")  # same size, same mtime: contents decide
    assert _digest(tmp_path, entries) != first


def test_files_outside_the_module_are_not_rechecked(tmp_path: Path) -> None:
    module, elsewhere = tmp_path / "m", tmp_path / "tmpdir" / "f"
    _old(elsewhere, "a")
    entries = [("open", str(elsewhere)), ("stat", str(elsewhere))]
    first = _digest(module, entries)
    _old(elsewhere, "bb")
    assert _digest(module, entries) == first  # e.g. the test's t.TempDir(): new every run


def test_relative_names_follow_chdir_and_directories_are_listed(tmp_path: Path) -> None:
    _old(tmp_path / "pkg" / "a" / "f", "1")
    _old(tmp_path / "pkg" / "b" / "f", "1")
    entries = [("chdir", str(tmp_path / "pkg" / "b")), ("open", "f"), ("open", str(tmp_path / "pkg"))]
    first = _digest(tmp_path, entries)
    _old(tmp_path / "pkg" / "a" / "f", "2")  # not the f read after chdir
    assert _digest(tmp_path, entries) == first
    _old(tmp_path / "pkg" / "c", "")  # a new entry in a directory the test listed
    assert _digest(tmp_path, entries) != first


def test_a_file_modified_within_two_seconds_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "new.txt").write_text("x")
    with pytest.raises(NotCacheable, match="less than 2 s ago"):
        _digest(tmp_path, [("open", "new.txt")])
    assert _digest(tmp_path, [("stat", "new.txt")])  # a stat reads no contents: cmd/go's rule too
    _old(tmp_path / "pkg" / "old.txt", "x")  # an hour old, but changed after the tests started
    with pytest.raises(NotCacheable, match="modified while the tests ran"):
        inputs_digest(
            [("open", "old.txt")], env={}, cwd=str(tmp_path / "pkg"), root=str(tmp_path), since=HOUR_AGO
        )


# --- end to end ------------------------------------------------------------------------------------
EMULATED = "arm64"
MODULE = {
    "files/files_test.go": """
        package files

        import (
        \t"os"
        \t"testing"
        )

        func TestReadsTestdata(t *testing.T) {
        \tcount(t)
        \tb, err := os.ReadFile("testdata/x.txt")
        \tif err != nil || string(b) != "ok" {
        \t\tt.Fatalf("testdata/x.txt: %q %v", b, err)
        \t}
        }

        // Each run appends a line to $RUNS (outside the module: not an input).
        func count(t *testing.T) {
        \tf, err := os.OpenFile(os.Getenv("RUNS"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
        \tif err != nil {
        \t\tt.Fatal(err)
        \t}
        \tf.WriteString(t.Name() + "\\n")
        \tf.Close()
        }
    """,
    "env/env_test.go": """
        package env

        import (
        \t"os"
        \t"testing"
        )

        func TestReadsMode(t *testing.T) {
        \tf, _ := os.OpenFile(os.Getenv("RUNS"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
        \tf.WriteString(t.Name() + "\\n")
        \tf.Close()
        \tif os.Getenv("MODE") == "bad" {
        \t\tt.Fatal("MODE=bad")
        \t}
        \tif os.Getenv("MODE") == "exit" {
        \t\tos.Exit(3)
        \t}
        }
    """,
}
FILE_TEST = f"tc/go.mod::files::TestReadsTestdata[{EMULATED}]"
ENV_TEST = f"tc/go.mod::env::TestReadsMode[{EMULATED}]"


@pytest.fixture
def module(gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_module(gopytester.path, "tc", MODULE)
    _old(root / "files" / "testdata" / "x.txt", "ok")
    monkeypatch.setenv("RUNS", str(gopytester.path / "runs.log"))
    monkeypatch.delenv("MODE", raising=False)
    monkeypatch.delenv("GOFLAGS", raising=False)
    return root


def _run(pytester: pytest.Pytester, *args: str, alone: bool = False) -> tuple[dict[str, str], list[str]]:
    """Outcomes by node id, and the tests that really ran (their lines in $RUNS), of one run
    (in a process of its own with ``alone``: nothing the test process memoised carries over)."""
    runs = Path(os.environ["RUNS"])
    runs.unlink(missing_ok=True)
    run = pytester.runpytest_subprocess if alone else pytester.runpytest
    result = run(f"--arch={EMULATED}", "-v", *args)
    ran = runs.read_text().split() if runs.exists() else []
    return {k: v + (" (cached)" if f"{k} PASSED (cached)" in result.stdout.str() else "")
            for k, v in outcomes_by_id(result).items()}, sorted(ran)  # fmt: skip


def test_a_test_runs_again_when_what_it_read_changed_and_only_then(
    gopytester: pytest.Pytester, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = ["TestReadsMode", "TestReadsTestdata"]
    assert _run(gopytester) == ({FILE_TEST: "passed", ENV_TEST: "passed"}, both)
    report = gopytester.path / "r.json"
    cached = {FILE_TEST: "passed (cached)", ENV_TEST: "passed (cached)"}
    assert _run(gopytester, f"--multiarch-report={report}") == (cached, [])
    cells = json.loads(report.read_text())["results"]
    assert [c["cached"] for c in cells] == [True, True]

    monkeypatch.setenv("MODE", "bad")  # read by TestReadsMode: it runs, fails
    assert _run(gopytester) == ({FILE_TEST: "passed (cached)", ENV_TEST: "failed"}, ["TestReadsMode"])
    assert _run(gopytester) == ({FILE_TEST: "passed (cached)", ENV_TEST: "failed"}, ["TestReadsMode"])
    monkeypatch.setenv("MODE", "good")
    assert _run(gopytester)[1] == ["TestReadsMode"]
    monkeypatch.setenv("UNREAD", "1")  # no test reads it: nothing runs again
    assert _run(gopytester) == (cached, [])

    _old(module / "files" / "testdata" / "x.txt", "no")
    assert _run(gopytester) == ({FILE_TEST: "failed", ENV_TEST: "passed (cached)"}, ["TestReadsTestdata"])
    _old(module / "files" / "testdata" / "x.txt", "ok")  # back as it was when it passed: that result holds
    assert _run(gopytester) == (cached, [])

    # Turned off as go test's cache is: our option, its ini key, GOFLAGS=-count=1.
    assert _run(gopytester, "--arch-test-cache=off")[1] == both
    gopytester.makeini("[pytest]\nmultiarch_test_cache = off\n")
    assert _run(gopytester)[1] == both
    gopytester.makeini("[pytest]\n")
    monkeypatch.setenv("GOFLAGS", "-count=1")
    assert _run(gopytester)[1] == both
    monkeypatch.delenv("GOFLAGS")
    assert _run(gopytester) == (cached, [])


def test_the_totals_count_cached_results(gopytester: pytest.Pytester, module: Path) -> None:
    _run(gopytester)
    result = gopytester.runpytest(f"--arch={EMULATED}")
    result.stdout.fnmatch_lines(["arch *passed*failed*skipped*errors*cached*", f"{EMULATED} *2*0*0*0*2 *"])


def test_a_new_emulator_version_runs_everything_again(
    gopytester: pytest.Pytester, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = "/usr/bin/qemu-aarch64-static"
    if not os.access(real, os.X_OK):
        pytest.skip(f"{real} is not installed")
    assert _run(gopytester)[1] == ["TestReadsMode", "TestReadsTestdata"]
    upgraded = gopytester.path / "qemu-upgraded"
    version = '[ "$1" = --version ] && { echo "qemu-aarch64 version 99.1.0"; exit 0; }'
    write_executable(upgraded, f'#!/bin/sh\n{version}\nexec {real} "$@"\n')
    monkeypatch.setenv("MULTIARCH_QEMU_ARM64", str(upgraded))
    assert _run(gopytester, "--arch-executor=qemu", alone=True)[1] == ["TestReadsMode", "TestReadsTestdata"]
    assert _run(gopytester, "--arch-executor=qemu", alone=True)[1] == []


def test_xdist_workers_share_the_cache(gopytester: pytest.Pytester, module: Path) -> None:
    pytest.importorskip("xdist")
    assert _run(gopytester, "-n", "2")[1] == ["TestReadsMode", "TestReadsTestdata"]
    runs = Path(os.environ["RUNS"])
    runs.unlink()
    result = gopytester.runpytest(f"--arch={EMULATED}", "-v", "-n", "2")
    assert not runs.exists()
    cached = [f"*PASSED (cached) {glob.escape(t)}*" for t in (FILE_TEST, ENV_TEST)]
    result.stdout.fnmatch_lines_random(cached)
    _old(module / "files" / "testdata" / "x.txt", "no")
    assert _run(gopytester, "-n", "2")[1] == ["TestReadsTestdata"]


def test_a_failure_is_reproduced_without_the_test_log(
    gopytester: pytest.Pytester, module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODE", "exit")  # the process ends mid-test: the failure says how to reproduce
    result = gopytester.runpytest(f"--arch={EMULATED}", "-v")
    text = result.stdout.str()
    assert "(reproduce: cd " in text and "env.test" in text
    assert "-test.testlogfile" not in text  # what the line runs is the test, not our cache's log
