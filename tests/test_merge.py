"""`python -m pytest_multiarch merge`: the reports of jobs that each ran some architectures make
the same matrix as one run of all of them; missing cells, conflicts and bad files are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gohelpers import write_module

ARCHES = ("amd64", "arm64", "s390x", "386")

MODULE = {
    "m_test.go": """
        package m

        import (
        \t"testing"
        \t"unsafe"
        )

        func TestAlways(t *testing.T) {}

        func TestWordSize(t *testing.T) {
        \tif unsafe.Sizeof(uintptr(0)) != 8 {
        \t\tt.Skip("32-bit")
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


@pytest.fixture
def reports(gopytester: pytest.Pytester) -> dict[str, Path]:
    write_module(gopytester.path, "m", MODULE)
    gopytester.makepyfile(test_narrowed=PY_TEST)
    out = {}
    for name, arches in (("j1", "amd64"), ("j2", "arm64,s390x"), ("j3", "386"), ("all", ",".join(ARCHES))):
        out[name] = gopytester.path / f"{name}.json"
        report = f"--multiarch-report={out[name]}"
        res = gopytester.runpytest_subprocess(f"--arch={arches}", report, timeout=300)
        assert res.ret == 0, res.stdout.str()
    return out


def test_merged_jobs_equal_one_run(reports: dict[str, Path], tmp_path: Path) -> None:
    merged, md = tmp_path / "merged.json", tmp_path / "merged.md"
    res = _merge(reports["j1"], reports["j2"], reports["j3"], "--json", merged, "--markdown", md)
    assert res.returncode == 0, res.stdout
    assert _cells(merged) == _cells(reports["all"])
    assert json.loads(merged.read_text())["counts"] == json.loads(reports["all"].read_text())["counts"]
    # Left out on purpose (the marker, a build constraint) is not missing.
    assert "missing" not in res.stdout and json.loads(merged.read_text())["missing"] == []
    table = md.read_text().splitlines()
    assert table[0] == "| arch | passed | failed | skipped | errors |"
    assert table[1] == "|---|---:|---:|---:|---:|"
    assert all(line.count("|") == 6 for line in table[2:6])


def test_a_lost_result_is_named_missing(reports: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads(reports["j2"].read_text())
    lost = next(r for r in data["results"] if r["arch"] == "s390x" and "TestAlways" in r["base"])
    data["results"] = [r for r in data["results"] if r is not lost and r["base"] != lost["base"]]
    reports["j2"].write_text(json.dumps(data))
    res = _merge(reports["j1"], reports["j2"], reports["j3"])
    assert res.returncode == 1
    assert f"missing: {lost['base']} on s390x (no report has it)" in res.stdout
    assert f"missing: {lost['base']} on arm64 (no report has it)" in res.stdout
    assert _merge(reports["j1"], reports["j2"], reports["j3"], "--allow-missing").returncode == 0


def test_conflicting_duplicates_are_reported(reports: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads(reports["j1"].read_text())
    for r in data["results"]:
        r["outcome"] = "failed" if "TestAlways" in r["base"] else r["outcome"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    res = _merge(reports["j1"], other)
    assert res.returncode == 1
    said = "conflict: m/go.mod::example.com/m::TestAlways on amd64: passed in one report, failed in another"
    assert said in res.stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"version": 1, "arches": ["arm64"], "resu', "not JSON (truncated or corrupt?)"),
        ('{"version": 7, "arches": [], "results": []}', "report format version 7; this version reads 1"),
        ('{"version": 1, "arches": [], "results": [{"nodeid": 3}]}', "results[0]: `outcome` is missing"),
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
