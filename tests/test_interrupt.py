"""A run cut short never looks complete: Ctrl-C and SIGTERM (a CI job cancelled) stop the session,
kill what it started, write the reports marked ``interrupted`` with the cells that never ran, and
exit 2; merge of such a report fails and names those cells. A report path that cannot be written
is a usage error before anything is built. Real go and qemu, pytest as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import pytest
from gohelpers import processes_with_env, write_module
from stubs import sigint_default

SLOW = 20  # tests of module b, 1 s each on arm64 (one process runs them one after the other)
FAST = {
    "a_test.go": """
        package a

        import "testing"

        func TestA1(t *testing.T) {}

        func TestA2(t *testing.T) {}

        func TestA3(t *testing.T) {}
    """,
}
SLOW_MODULE = {
    "b_test.go": "\n".join(
        [
            "package b",
            "",
            'import (\n\t"runtime"\n\t"testing"\n\t"time"\n)',
            "",
            'func nap() {\n\tif runtime.GOARCH == "arm64" {\n\t\ttime.Sleep(time.Second)\n\t}\n}',
            "",
            *(f"func TestNap{i:02d}(t *testing.T) {{ nap() }}\n" for i in range(SLOW)),
        ]
    ),
}
ARCHES = ("amd64", "arm64")
# What runs before the interrupt: module a on both arches, then b's first test on amd64; the
# next item, TestNap00 on arm64, waits for the arm64 batch (20 s of naps): we interrupt it there.
FIRST = "b/go.mod::example.com/b::TestNap00[amd64] PASSED"
RAN = {(f"a/go.mod::example.com/a::TestA{i}", a) for i in (1, 2, 3) for a in ARCHES} | {
    ("b/go.mod::example.com/b::TestNap00", "amd64")
}
ALL = RAN | {(f"b/go.mod::example.com/b::TestNap{i:02d}", a) for i in range(SLOW) for a in ARCHES}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupt")
    write_module(root, "a", FAST)
    write_module(root, "b", SLOW_MODULE)
    return root


def _merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_multiarch", "merge", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _wait_for(what: str, path: Path, mark: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while what not in path.read_text(errors="replace") or not any(
        "qemu-" in p for p in processes_with_env(mark)
    ):
        assert proc.poll() is None, f"pytest ended before {what!r}:\n{path.read_text()}"
        assert time.monotonic() < deadline, (
            f"never saw {what!r} with an emulator running:\n{path.read_text()}"
        )
        time.sleep(0.1)


def _interrupted_run(
    project: Path, out: Path, env: Mapping[str, str], sig: int, *args: str, first: str = FIRST
) -> tuple[int, str, str]:
    """pytest in the background until ``first`` is in its output (b's first test passed on
    amd64) with an emulator running, then ``sig``: its exit status, its output and the mark its
    processes carry in their environment. Go's result cache is off: the project is shared by the
    module's tests, and a run that replays an earlier one's results would end before the signal."""
    mark = f"MULTIARCH_INTERRUPT_TEST={uuid.uuid4().hex}"
    name, value = mark.split("=")
    log = out / "pytest.out"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-v",
             "--arch=amd64,arm64", "--arch-test-cache=off", f"--multiarch-report={out / 'r.json'}",
             f"--multiarch-markdown={out / 'r.md'}", f"--multiarch-html={out / 'r.html'}",
             f"--junitxml={out / 'j.xml'}", "--multiarch-junit-per-arch", *args],
            cwd=project, env={**os.environ, **env, name: value}, stdout=f, stderr=subprocess.STDOUT,
            preexec_fn=sigint_default,  # a shell in the background hands SIGINT ignored
        )  # fmt: skip
    try:
        _wait_for(first, log, mark, proc, 180)
        time.sleep(0.5)
        proc.send_signal(sig)
        status = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return status, log.read_text(errors="replace"), mark


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_is_marked_and_merge_fails_on_it(
    project: Path, go_env: Mapping[str, str], tmp_path: Path, sig: signal.Signals
) -> None:
    status, output, mark = _interrupted_run(project, tmp_path, go_env, sig)
    assert status == 2, output  # pytest's "interrupted", not 143 (killed by SIGTERM)
    assert "multiarch: results per architecture" in output  # the summary was printed
    never = ALL - RAN
    said = f"multiarch: the run was interrupted: {len(never)} of {len(ALL)} selected cells never ran"
    assert said in output, output
    assert ("Terminated: SIGTERM" if sig == signal.SIGTERM else "KeyboardInterrupt") in output

    _nothing_left(mark)  # no emulator, no test binary, no watchdog of that run

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["version"] == 3 and report["interrupted"] is True
    assert {(r["base"], r["arch"]) for r in report["results"]} == RAN
    assert all(r["outcome"] == "passed" for r in report["results"])  # what ran, ran whole
    assert {(n["base"], n["arch"]) for n in report["not_run"]} == never
    for n in report["not_run"]:
        assert n["nodeid"] == f"{n['base']}[{n['arch']}]" and n["why"] == "interrupted"

    merged = tmp_path / "merged.json"
    res = _merge(tmp_path / "r.json", "--json", merged)
    assert res.returncode == 1, res.stdout  # nothing failed; the run was cut short
    for base, arch in never:
        assert f"not run (interrupted): {base} on {arch}\n" in res.stdout
    assert f"interrupted: {tmp_path / 'r.json'} is the report of a run that was cut short" in res.stdout
    data = json.loads(merged.read_text())
    assert data["interrupted"] is True and {(n["base"], n["arch"]) for n in data["not_run"]} == never
    assert data["missing"] == []  # said as not run, not as missing
    assert "**The run was cut short** (interrupted)" in (tmp_path / "r.md").read_text()
    said = "not run (interrupted): b/go.mod::example.com/b::TestNap19 on arm64"
    assert said in (tmp_path / "r.md").read_text()
    assert f"{len(never)} selected cells never ran" in (tmp_path / "r.html").read_text()
    suites = ET.parse(tmp_path / "j.xml").getroot().findall("testsuite")
    assert {x.get("name"): x.get("tests") for x in suites} == {"pytest[amd64]": "4", "pytest[arm64]": "3"}


CELL = {"nodeid": "t.py::f[arm64]", "base": "t.py::f", "arch": "arm64"}
PASSED = {**CELL, "outcome": "passed", "duration": 0.1}


def _nothing_left(mark: str) -> None:
    deadline = time.monotonic() + 5.0
    while processes_with_env(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with_env(mark) == [], "left running after the interrupted pytest ended"


def test_sigterm_to_the_xdist_controller_ends_the_workers_and_marks_the_report(
    project: Path, go_env: Mapping[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("xdist")
    status, output, mark = _interrupted_run(
        project, tmp_path, go_env, signal.SIGTERM, "-n", "2", first="PASSED a/go.mod::"
    )
    assert status == 2, output
    assert "Terminated: SIGTERM" in output and "multiarch: the run was interrupted: " in output
    _nothing_left(mark)  # the workers, their emulators and test binaries
    report = json.loads((tmp_path / "r.json").read_text())
    ran = {(r["base"], r["arch"]) for r in report["results"]}
    never = {(n["base"], n["arch"]) for n in report["not_run"]}
    assert report["interrupted"] is True and never and ran
    assert ran | never == ALL and not ran & never  # every cell is either reported or named
    assert _merge(tmp_path / "r.json").returncode == 1


def test_a_run_of_the_rest_covers_the_cells_an_interrupted_run_never_ran(tmp_path: Path) -> None:
    """A job run again after its first attempt was cancelled: no cell is left unrun, but merge
    still says, and fails, that one report is of a run cut short."""
    cut = {"version": 3, "interrupted": True, "arches": ["arm64"], "results": [],
           "not_run": [{**CELL, "why": "interrupted"}]}  # fmt: skip
    again = {"version": 3, "interrupted": False, "arches": ["arm64"], "not_run": [], "results": [PASSED]}
    (tmp_path / "cut.json").write_text(json.dumps(cut))
    (tmp_path / "again.json").write_text(json.dumps(again))
    res = _merge(tmp_path / "cut.json", tmp_path / "again.json")
    assert res.returncode == 1 and "not run (" not in res.stdout, res.stdout
    assert "cut.json is the report of a run that was cut short" in res.stdout
    assert _merge(tmp_path / "again.json").returncode == 0


def test_a_version_2_report_still_merges(tmp_path: Path) -> None:
    old = {"version": 2, "arches": ["arm64"], "results": [PASSED]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    res = _merge(tmp_path / "old.json", "--json", tmp_path / "out.json")
    assert res.returncode == 0, res.stdout
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["version"] == 3 and out["interrupted"] is False and out["not_run"] == []


# --- report paths checked at configure ---------------------------------------------------------


def _unwritable_dir() -> str:
    """A directory in which even root cannot create a file (sysfs)."""
    try:
        fd = os.open("/sys/.multiarch-probe", os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        return "/sys"
    os.close(fd)
    os.unlink("/sys/.multiarch-probe")
    pytest.skip("/sys takes new files here: no unwritable directory to try")


@pytest.mark.parametrize(
    ("option", "where", "why"),
    [
        ("--multiarch-report", "a-directory", "it is a directory; name a file in it"),
        ("--multiarch-report", "UNWRITABLE/r.json", "no file can be created in UNWRITABLE"),
        ("--multiarch-markdown", "a-file/sub/r.md", "a-file is not a directory"),
        ("--multiarch-html", "a-directory", "it is a directory"),
        ("--junitxml", "a-file/j.xml", "a-file is not a directory"),
    ],
)
def test_a_report_path_that_cannot_be_written_is_a_usage_error_before_any_build(
    gopytester: pytest.Pytester, option: str, where: str, why: str
) -> None:
    write_module(gopytester.path, "a", FAST)
    (gopytester.path / "a-directory").mkdir()
    (gopytester.path / "a-file").write_text("")
    if "UNWRITABLE" in where:
        unwritable = _unwritable_dir()
        where, why = where.replace("UNWRITABLE", unwritable), why.replace("UNWRITABLE", unwritable)
    cache = gopytester.path / "bin-cache"
    extra = ["--multiarch-junit-per-arch"] if option == "--junitxml" else []
    res = gopytester.runpytest_subprocess(
        "--arch=amd64,arm64", f"--arch-cache-dir={cache}", f"{option}={where}", *extra
    )
    assert res.ret == pytest.ExitCode.USAGE_ERROR, res.stdout.str()
    err = res.stderr.str()
    assert f"ERROR: {option}={where}: cannot write the report there: " in err and why in err, err
    assert "collected" not in res.stdout.str() and "TestA1" not in res.stdout.str() + err
    assert not cache.exists() or not any(cache.rglob("*")), "something was built"


def test_the_sigterm_handler_is_put_back_after_an_in_process_session(gopytester: pytest.Pytester) -> None:
    gopytester.makepyfile("def test_one(arch): pass")
    before = signal.getsignal(signal.SIGTERM)
    gopytester.runpytest("--arch=amd64", "-p", "no:randomly").assert_outcomes(passed=1)
    assert signal.getsignal(signal.SIGTERM) == before
    res = gopytester.runpytest("--arch=amd64", f"--multiarch-report={gopytester.path}")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert signal.getsignal(signal.SIGTERM) == before  # after a usage error at configure too


SLOW_START = """
import time
from pathlib import Path

def pytest_sessionstart(session):
    Path("started").write_text("")
    time.sleep(5)  # a slow plugin: the SIGTERM comes now, before collection
"""


def test_a_sigterm_while_the_session_starts_still_writes_the_report(pytester: pytest.Pytester) -> None:
    """Raised during another plugin's sessionstart, pytest would end without sessionfinish, so
    without any report: the plugin keeps the signal until collection starts."""
    pytester.makeconftest(SLOW_START)
    pytester.makepyfile("def test_one(arch): pass")
    with open(pytester.path / "out.txt", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
             "--arch=amd64", "--multiarch-report=r.json"],
            cwd=pytester.path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (pytester.path / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the session never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = (pytester.path / "out.txt").read_text()
    assert status == 2, output
    assert "Terminated: SIGTERM (while the session started)" in output
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["interrupted"] is True and report["results"] == []
