"""Concurrency: two pytest processes on one project at once both succeed with the same outcomes
and share the cache (each listing and build made once); `-n 2` gives exactly the cells `-n 0`
gives. Real go, cargo and qemu; mixed outcomes (passes, failures, skips) on two arches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from gohelpers import write_module
from rusthelpers import write_crate
from stubs import write_executable

ARCHES = "--arch=amd64,s390x"
GO_MODULE = {
    "p/p_test.go": """
        package p

        import (
        \t"encoding/binary"
        \t"testing"
        \t"unsafe"
        )

        func TestPlain(t *testing.T) {}

        func TestLittleEndian(t *testing.T) {
        \tx := uint16(1)
        \tif binary.LittleEndian.Uint16((*[2]byte)(unsafe.Pointer(&x))[:]) != 1 {
        \t\tt.Fatal("big-endian")
        \t}
        }

        func TestSkipped(t *testing.T) { t.Skip("not here") }
    """,
    "q/q_test.go": "package q\n\nimport \"testing\"\n\nfunc TestQ(t *testing.T) {}\n",
}
CRATE = {
    "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            #[test]
            fn little() { assert_eq!(1u16.to_ne_bytes()[0], 1, "big-endian"); }
            #[test]
            fn plain() {}
            #[test]
            #[ignore]
            fn ignored() {}
        }
    """,
}
PY_TEST = "def test_py(arch):\n    assert arch.bits == 64\n"


@pytest.fixture
def project(tmp_path: Path, go: str) -> Path:
    write_module(tmp_path, "m", GO_MODULE)
    write_crate(tmp_path / "crate", CRATE, name="concur")
    (tmp_path / "test_py.py").write_text(PY_TEST)
    (tmp_path / "go-wrapper").mkdir()
    log = tmp_path / "go-calls.log"
    write_executable(tmp_path / "go-wrapper" / "go", f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{go}" "$@"\n')
    return tmp_path


def _env(project: Path, go_env: Mapping[str, str], rust_env: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **go_env, **rust_env, "MULTIARCH_GO": str(project / "go-wrapper" / "go")}


def _pytest(project: Path, env: Mapping[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", ARCHES, *args],
        cwd=project, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _cells(report: Path) -> set[tuple[str, str, str]]:
    return {(r["base"], r["arch"], r["outcome"]) for r in json.loads(report.read_text())["results"]}


def test_two_runs_at_once_agree_and_share_the_cache(
    project: Path, go_env: Mapping[str, str], rust_env: Mapping[str, str]
) -> None:
    env = _env(project, go_env, rust_env)
    runs = [_pytest(project, env, f"--multiarch-report=r{i}.json") for i in (1, 2)]
    outputs = [p.communicate(timeout=600)[0] for p in runs]
    assert [p.returncode for p in runs] == [1, 1], outputs  # the big-endian failures, nothing else
    assert _cells(project / "r1.json") == _cells(project / "r2.json")
    cells = _cells(project / "r1.json")
    failed = {(b.rsplit("::", 1)[-1], a) for b, a, o in cells if o == "failed"}
    assert failed == {("TestLittleEndian", "s390x"), ("little", "s390x")}
    assert len(cells) == 2 * (4 + 3 + 1)  # Go, Rust and Python tests on both arches
    calls = (project / "go-calls.log").read_text().splitlines()
    assert sum(c.startswith("list ") for c in calls) == 2  # per arch, once for both runs
    assert sum(c.startswith("test -c") for c in calls) == 2  # per arch, once for both runs


def test_xdist_gives_the_cells_a_serial_run_gives(
    project: Path, go_env: Mapping[str, str], rust_env: Mapping[str, str]
) -> None:
    pytest.importorskip("xdist")
    env = _env(project, go_env, rust_env)
    serial = _pytest(project, env, "-n", "0", "--multiarch-report=serial.json")
    assert serial.communicate(timeout=600)[0] and serial.returncode == 1
    parallel = _pytest(project, env, "-n", "2", "--multiarch-report=xdist.json")
    out = parallel.communicate(timeout=600)[0]
    assert parallel.returncode == 1, out
    assert _cells(project / "xdist.json") == _cells(project / "serial.json")
    assert json.loads((project / "xdist.json").read_text())["counts"] == json.loads(
        (project / "serial.json").read_text()
    )["counts"]
