"""The Go build cache end to end: re-runs start no go process, edits rebuild what they affect,
a killed build is never used, xdist workers share builds. Real go, real qemu."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, write_module
from stubs import write_executable

from pytest_multiarch.run.xdist import batch_scope

EMULATED = "arm64"

MODULE = {
    "a/a.go": "package a\n\nfunc A() int { return 1 }\n",
    "a/a_test.go": """
        package a

        import "testing"

        func TestA(t *testing.T) { if A() != 1 { t.Fatal("A") } }
    """,
    "c/c.go": "package c\n\nconst C = 3\n",
    "b/b.go": 'package b\n\nimport "example.com/cached/c"\n\nfunc B() int { return c.C * 2 }\n',
    "b/b_test.go": """
        package b

        import "testing"

        func TestB(t *testing.T) { if B() != 6 { t.Fatalf("B() = %d", B()) } }
    """,
    "d/b/b_test.go": """
        package b

        import "testing"

        func TestSameName(t *testing.T) {}
    """,
}


def _go_logger(tmp: Path, go: str) -> Path:
    """A `go` that records each invocation, then runs the real one; while the file ``hang``
    exists, it hangs after a successful `go test -c` (to be killed mid-build)."""
    log = tmp / "go-calls.log"
    (tmp / "go-wrapper").mkdir(exist_ok=True)
    hang = f'if [ "$1" = test ] && [ -e "{tmp}/hang" ]; then\n'
    hang += f'"{go}" "$@"; touch "{tmp}/built"; sleep 120\nfi\n'
    write_executable(tmp / "go-wrapper" / "go", f'#!/bin/sh\necho "$*" >> "{log}"\n{hang}exec "{go}" "$@"\n')
    return log


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def logged(gopytester: pytest.Pytester, go: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_module(gopytester.path, "cached", MODULE)
    log = _go_logger(gopytester.path, go)
    monkeypatch.setenv("MULTIARCH_GO", str(gopytester.path / "go-wrapper" / "go"))
    return log


EXPECTED = {
    f"cached/go.mod::{pkg}::{test}[{arch}]": "passed"
    for pkg, test in (("a", "TestA"), ("b", "TestB"), ("d/b", "TestSameName"))
    for arch in ("amd64", EMULATED)
}


def test_rerun_with_nothing_changed_starts_no_go_process(gopytester: pytest.Pytester, logged: Path) -> None:
    first = gopytester.runpytest(f"--arch=amd64,{EMULATED}", "-v")
    assert outcomes_by_id(first) == EXPECTED
    calls = _calls(logged)
    assert sum(c.startswith("list ") for c in calls) == 2  # once per arch
    builds = [c for c in calls if c.startswith("test -c")]
    # Two packages named b: two go invocations per arch, the first building a and one b.
    assert len(builds) == 4, calls
    assert all("-ldflags=-s -w" in c for c in builds)
    logged.unlink()
    again = gopytester.runpytest(f"--arch=amd64,{EMULATED}", "-v")
    assert outcomes_by_id(again) == EXPECTED
    assert _calls(logged) == []


def test_an_edit_rebuilds_only_the_packages_it_affects(gopytester: pytest.Pytester, logged: Path) -> None:
    assert gopytester.runpytest(f"--arch={EMULATED}").ret == 0
    logged.unlink()
    # c has no tests; b is built from it; a and d/b are not.
    (gopytester.path / "cached" / "c" / "c.go").write_text("package c\n\nconst C = 4\n")
    result = gopytester.runpytest(f"--arch={EMULATED}", "-v")
    outcomes = outcomes_by_id(result)
    assert outcomes[f"cached/go.mod::b::TestB[{EMULATED}]"] == "failed"  # B() is 8 now: rebuilt
    assert outcomes[f"cached/go.mod::a::TestA[{EMULATED}]"] == "passed"
    builds = [c for c in _calls(logged) if c.startswith("test -c")]
    assert len(builds) == 1 and builds[0].endswith(" ./b"), builds
    # A file that is in the tree but in no package: listed again, nothing rebuilt.
    logged.unlink()
    (gopytester.path / "cached" / "NOTES.txt").write_text("notes")
    assert gopytester.runpytest(f"--arch={EMULATED}").ret == 1
    assert [c.split()[0] for c in _calls(logged)] == ["list"]


def test_cache_clear_and_cache_dir(gopytester: pytest.Pytester, logged: Path, tmp_path: Path) -> None:
    assert gopytester.runpytest(f"--arch={EMULATED}", f"--arch-cache-dir={tmp_path / 'c1'}").ret == 0
    assert list((tmp_path / "c1" / "entries").rglob("*.test"))
    logged.unlink()
    assert gopytester.runpytest(f"--arch={EMULATED}", f"--arch-cache-dir={tmp_path / 'c1'}").ret == 0
    assert _calls(logged) == []
    cache_dir = f"--arch-cache-dir={tmp_path / 'c1'}"
    result = gopytester.runpytest(f"--arch={EMULATED}", cache_dir, "--arch-cache-clear")
    assert result.ret == 0
    assert sum(c.startswith("test -c") for c in _calls(logged)) == 2


def test_xdist_workers_share_builds_and_give_the_same_outcomes(
    gopytester: pytest.Pytester, logged: Path
) -> None:
    pytest.importorskip("xdist")
    result = gopytester.runpytest(f"--arch=amd64,{EMULATED}", "-v", "-n", "2")
    assert result.ret == 0
    assert "scheduling tests via BatchScheduling" in result.stdout.str()
    # xdist's verbose lines: "[gw1] [ 16%] PASSED <node id>"
    found = [re.match(r"\[(gw\d+)\] \[\s*\d+%\] (\w+) (\S+)", ln) for ln in result.outlines]
    assert {m.group(3): m.group(2).lower() for m in found if m} == EXPECTED
    workers_per_batch: dict[str, set[str]] = {}
    for m in found:
        if m:
            workers_per_batch.setdefault(batch_scope(m.group(3)), set()).add(m.group(1))
    assert len(workers_per_batch) == 6  # three packages on two arches
    assert all(len(w) == 1 for w in workers_per_batch.values()), workers_per_batch
    calls = _calls(logged)
    assert sum(c.startswith("list ") for c in calls) == 2  # one worker lists, the other reads it
    assert sum(c.startswith("test -c") for c in calls) == 4, calls  # each (module, arch) built once


def test_a_build_killed_midway_is_never_used(
    gopytester: pytest.Pytester, go: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(gopytester.path, "cached", MODULE)
    _go_logger(gopytester.path, go)
    (gopytester.path / "hang").touch()
    env = {**os.environ, "MULTIARCH_GO": str(gopytester.path / "go-wrapper" / "go")}
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--arch={EMULATED}"],
        cwd=gopytester.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (gopytester.path / "built").exists():
            assert time.monotonic() < deadline and inner.poll() is None, "the build never finished"
            time.sleep(0.1)
    finally:
        os.killpg(inner.pid, signal.SIGKILL)  # pytest, go and all: like an OOM kill of the job
        inner.wait()
    cache_root = gopytester.path / ".pytest_cache" / "d" / "multiarch"
    # Each binary is published as soon as go has moved it, whole, into its output directory (the
    # build goes on); whatever was not yet published stays in tmp, never used.
    published = list(cache_root.glob("entries/**/*.test"))
    assert published or list((cache_root / "tmp").rglob("*.test"))  # go wrote binaries
    assert all(p.read_bytes().startswith(b"\x7fELF") for p in published)
    (gopytester.path / "hang").unlink()  # the same `go` (same cache keys), no longer hanging
    monkeypatch.setenv("MULTIARCH_GO", env["MULTIARCH_GO"])
    result = gopytester.runpytest(f"--arch={EMULATED}", "-v")
    assert set(outcomes_by_id(result).values()) == {"passed"}
    assert len(outcomes_by_id(result)) == 3


def test_go_build_fixture_reuses_binaries_across_sessions(gopytester: pytest.Pytester, logged: Path) -> None:
    (gopytester.path / "cached" / "cmd" / "hello").mkdir(parents=True)
    (gopytester.path / "cached" / "cmd" / "hello" / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Print("hello") }\n'
    )
    gopytester.makepyfile(
        test_hello="""
        def test_hello(go_build, run_on_arch):
            exe = go_build("cached/cmd/hello")
            assert run_on_arch(exe).stdout == "hello"
        """
    )
    assert gopytester.runpytest(f"--arch={EMULATED}", "test_hello.py").ret == 0
    # `go version`: a go named by MULTIARCH_GO is checked once per process (it is this wrapper).
    assert [c.split()[0] for c in _calls(logged) if c != "version"] == ["build"]
    logged.unlink()
    assert gopytester.runpytest(f"--arch={EMULATED}", "test_hello.py").ret == 0
    assert _calls(logged) == []
    (gopytester.path / "cached" / "cmd" / "hello" / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Print("hello") }\n\n// edited\n'
    )
    assert gopytester.runpytest(f"--arch={EMULATED}", "test_hello.py").ret == 0
    assert [c.split()[0] for c in _calls(logged)] == ["build"]


@pytest.mark.parametrize(
    ("args", "scheduling"),
    [(("-n", "2"), "BatchScheduling"), (("-n", "2", "--dist", "load"), "BatchScheduling"),
     (("-n", "2", "--dist=loadfile"), "LoadFileScheduling")],
)  # fmt: skip
def test_xdist_keeps_batches_together_and_keeps_a_dist_that_does(
    pytester: pytest.Pytester, args: tuple[str, ...], scheduling: str
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile("def test_one(arch):\n    assert arch\n")
    result = pytester.runpytest("--arch=amd64", "-v", *args)
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"scheduling tests via {scheduling}"])
