"""`python -m pytest_multiarch merge`: the reports of jobs that each ran some architectures make
the same matrix as one run of all of them; missing cells, conflicts and bad files are named."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import pytest
from gohelpers import write_module

from pytest_multiarch.report.text import LEGEND

ARCHES = ("arm64", "s390x", "386", "arm")
# The CI matrix of the issue: three jobs; s390x's job in two shards (-k), as a big suite would be.
JOBS = (
    ("j1", "arm64", ()),
    ("j2a", "s390x", ("-k", "TestAlways or TestEndian")),
    ("j2b", "s390x", ("-k", "not (TestAlways or TestEndian)")),
    ("j3", "386,arm", ("-n", "2")),  # under xdist: the controller learns what workers left out
)

MODULE = {
    "m_test.go": """
        package m

        import (
        \t"encoding/binary"
        \t"testing"
        \t"unsafe"
        )

        func TestAlways(t *testing.T) {}

        func TestWordSize(t *testing.T) {
        \tif unsafe.Sizeof(uintptr(0)) != 8 {
        \t\tt.Skip("32-bit")
        \t}
        }

        func TestEndian(t *testing.T) {
        \tx := uint32(1)
        \tb := (*[4]byte)(unsafe.Pointer(&x))
        \tif binary.LittleEndian.Uint32(b[:]) != 1 {
        \t\tt.Fatal("assumes a little-endian CPU")
        \t}
        }
    """,
    "only64_test.go": """
        //go:build amd64 || arm64 || s390x

        package m

        import "testing"

        func TestOnly64(t *testing.T) {}
    """,
}
PY_TEST = """
import pytest

@pytest.mark.arch("arm64", "s390x")
def test_narrowed(arch):
    assert arch.name in ("arm64", "s390x")
"""


def _merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_multiarch", "merge", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _cells(report: Path) -> set[tuple[str, str, str]]:
    return {(r["base"], r["arch"], r["outcome"]) for r in json.loads(report.read_text())["results"]}


def _junit_cells(path: Path) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    """(classname, name) → (what it holds: failure/error/skipped/passed, its properties)."""
    cells = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kind = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        if "log" in props:  # the failed process's log file: a path of that run
            props["log"] = Path(props["log"]).parent.name
        cells[(case.get("classname", ""), case.get("name", ""))] = (kind, props)
    return cells


def _summary(text: str) -> list[str]:
    """The matrix grid and the diagnosis of a run's or merge's output (times left out: they vary)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("a  s  3  a"))
    grid = lines[start : lines.index(LEGEND, start) + 1]
    return [line.rstrip() for line in grid] + sorted(line for line in lines if ": fails on " in line)


def _pytest(project: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A run in ``project``, Go's result cache off: the jobs share one directory here, unlike CI
    jobs on separate machines, and the one run must not replay (``cached``) what the jobs ran."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "--arch-test-cache=off", *args],
        cwd=project, env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, go_env: Mapping[str, str]) -> Path:
    """The jobs' reports and the one run's, made once for this module's tests (read-only)."""
    root = tmp_path_factory.mktemp("merge")
    write_module(root, "m", MODULE)
    (root / "test_narrowed.py").write_text(PY_TEST)
    for name, arches, extra in (*JOBS, ("all", ",".join(ARCHES), ("--junitxml=all.xml",))):
        res = _pytest(root, go_env, f"--arch={arches}", f"--multiarch-report={name}.json", *extra)
        assert res.returncode == (1 if name in ("j2a", "all") else 0), res.stdout  # s390x: TestEndian
        (root / f"{name}.out").write_text(res.stdout)
    return root


@pytest.fixture
def reports(project: Path, tmp_path: Path) -> dict[str, Path]:
    """A copy of the reports each test may change: job name → JSON report, "all.xml" → JUnit."""
    for path in project.glob("*.*"):
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    out = {path.stem: path for path in tmp_path.glob("*.json")}
    return {**out, "all.xml": tmp_path / "all.xml"}


def test_merged_jobs_equal_one_run(reports: dict[str, Path], tmp_path: Path) -> None:
    merged, md, xml = tmp_path / "merged.json", tmp_path / "merged.md", tmp_path / "merged.xml"
    jobs = [reports[name] for name, _, _ in JOBS]
    res = _merge(*jobs, "--json", merged, "--markdown", md, "--junit", xml)
    assert res.returncode == 1, res.stdout  # TestEndian fails on s390x
    assert _cells(merged) == _cells(reports["all"])
    assert json.loads(merged.read_text())["counts"] == json.loads(reports["all"].read_text())["counts"]
    # Left out on purpose (the marker, a build constraint, the other shard) is not missing.
    assert "missing:" not in res.stdout and json.loads(merged.read_text())["missing"] == []
    # The same terminal matrix and diagnosis as the one run printed.
    one_run = _summary(reports["all"].with_suffix(".out").read_text())
    assert _summary(res.stdout) == one_run
    endian = "m/go.mod::example.com/m::TestEndian: fails on s390x (passes on arm64, 386, arm)"
    assert f"{endian} — exactly the big-endian ones" in one_run
    # The merged JUnit is the one run's, cell for cell.
    assert _junit_cells(xml) == _junit_cells(reports["all.xml"])
    assert len(_junit_cells(xml)) == len(_cells(reports["all"]))
    # The Markdown is GitHub tables: a header, a separator of as many columns, rows alike.
    lines = md.read_text().splitlines()
    assert lines[0] == "| arch | passed | failed | skipped | errors | infra | time | runs on |"
    for table in _md_tables(lines):
        assert re.fullmatch(r"\|(:?-+:?\|)+", table[1]), table[1]
        assert {_md_columns(row) for row in table} == {_md_columns(table[0])}
    assert "| `m/go.mod::example.com/m::TestEndian` | passed | **failed** | passed | passed |" in lines


def _md_tables(lines: list[str]) -> list[list[str]]:
    tables: list[list[str]] = []
    for prev, line in zip(["", *lines], lines, strict=False):
        if line.startswith("|"):
            if not prev.startswith("|"):
                tables.append([])
            tables[-1].append(line)
    return tables


def _md_columns(row: str) -> int:
    return len(re.split(r"(?<!\\)\|", row)) - 2


def test_junit_per_arch_groups_suites_as_a_run_does(
    reports: dict[str, Path], project: Path, go_env: Mapping[str, str], tmp_path: Path
) -> None:
    xml, run_xml = tmp_path / "merged.xml", tmp_path / "per-arch.xml"
    assert _merge(*[reports[n] for n, _, _ in JOBS], "--junit", xml, "--junit-per-arch").returncode == 1
    args = (f"--arch={','.join(ARCHES)}", f"--junitxml={run_xml}", "--multiarch-junit-per-arch")
    assert _pytest(project, go_env, *args).returncode == 1
    for path in (xml, run_xml):
        root = ET.parse(path).getroot()
        suites = {s.get("name"): s for s in root.iter("testsuite")}
        assert set(suites) == {f"pytest[{a}]" for a in ARCHES}, path
        for arch, suite in ((a, suites[f"pytest[{a}]"]) for a in ARCHES):
            cases = suite.findall("testcase")
            assert {c.find("properties/property[@name='arch']").get("value") for c in cases} == {arch}  # type: ignore[union-attr]  # None fails
            assert int(suite.get("tests", -1)) == len(cases)
            assert int(suite.get("failures", -1)) == sum(c.find("failure") is not None for c in cases)
            assert int(suite.get("skipped", -1)) == sum(c.find("skipped") is not None for c in cases)
        assert suites["pytest[s390x]"].get("failures") == "1"
    assert _junit_cells(xml) == _junit_cells(run_xml) == _junit_cells(reports["all.xml"])


def test_a_lost_result_is_named_missing(reports: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads(reports["j1"].read_text())
    lost = next(r for r in data["results"] if "TestAlways" in r["base"])
    data["results"] = [r for r in data["results"] if r is not lost]
    reports["j1"].write_text(json.dumps(data))
    res = _merge(reports["j1"], reports["j3"])
    assert res.returncode == 1, res.stdout  # nothing failed: the missing cell alone
    assert f"missing: {lost['base']} on arm64 (no report has it)" in res.stdout
    assert res.stdout.count("missing: ") == 1
    assert " ?" in next(
        line for line in res.stdout.splitlines() if line.startswith("example.com/m::TestAlways")
    )
    assert _merge(reports["j1"], reports["j3"], "--allow-missing").returncode == 0


def test_conflicting_duplicates_are_reported(reports: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads(reports["j1"].read_text())
    for r in data["results"]:
        r["outcome"] = "failed" if "TestAlways" in r["base"] else r["outcome"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    res = _merge(reports["j1"], other)
    assert res.returncode == 1
    said = "conflict: m/go.mod::example.com/m::TestAlways on arm64: passed in one report, failed in another"
    assert said in res.stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"version": 3, "arches": ["arm64"], "resu', "not JSON (truncated or corrupt?)"),
        ('{"version": 1, "arches": [], "results": []}', "format version 1; this version reads 2 and 3"),
        ('{"version": 3, "arches": [], "results": [{"nodeid": 3}]}', "results[0]: `outcome` is missing"),
    ],
)
def test_a_bad_report_is_an_error_and_nothing_is_written(
    reports: dict[str, Path], tmp_path: Path, content: str, says: str
) -> None:
    bad, out = tmp_path / "bad.json", tmp_path / "out.json"
    bad.write_text(content)
    res = _merge(reports["j1"], bad, "--json", out)
    assert res.returncode == 2
    assert says in res.stdout and "nothing written" in res.stdout
    assert not out.exists()


def test_a_run_writes_markdown_and_the_step_summary_only_when_asked(
    project: Path, go_env: Mapping[str, str], tmp_path: Path
) -> None:
    summary, md = tmp_path / "summary.md", tmp_path / "run.md"
    summary.write_text("earlier step\n")
    env = {**go_env, "GITHUB_STEP_SUMMARY": str(summary)}
    assert _pytest(project, env, "--arch=arm64,s390x", f"--multiarch-markdown={md}").returncode == 1
    assert summary.read_text() == "earlier step\n"  # not asked: untouched
    assert _pytest(project, env, "--arch=arm64,s390x", "--multiarch-step-summary").returncode == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n## pytest-multiarch\n\n")
    same = re.sub(r"\d+\.\d\ds", "<time>", md.read_text())  # two runs: the times differ
    assert same in re.sub(r"\d+\.\d\ds", "<time>", text)
    assert "| `m/go.mod::example.com/m::TestEndian` | passed | **failed** |" in text
    said = "- m/go.mod::example.com/m::TestEndian: fails on s390x (passes on arm64)"
    assert f"{said} — exactly the big-endian ones" in text


def test_an_expected_arch_no_report_covers_makes_its_cells_missing(reports: dict[str, Path]) -> None:
    """The job for s390x died before writing its report: only --expect-arches can tell."""
    jobs = [reports["j1"], reports["j3"]]
    assert _merge(*jobs).returncode == 0
    res = _merge(*jobs, "--expect-arches=arm64,s390x,386,arm")
    assert res.returncode == 1
    assert "missing: m/go.mod::example.com/m::TestAlways on s390x (no report has it)" in res.stdout
    assert "on arm64 (no report has it)" not in res.stdout
    assert _merge(*jobs, "--expect-arches=sparc").returncode == 2

