"""The per-architecture matrix: lining up one test across arches, and what failing arches share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch.nodeid import base_id
from pytest_multiarch.report.diagnosis import shared_trait
from pytest_multiarch.report.matrix import Matrix
from pytest_multiarch.report.model import Result
from pytest_multiarch.report.plugin import REPORT_VERSION, MatrixReport
from pytest_multiarch.report.text import LEGEND, grid_lines, table_lines


@pytest.mark.parametrize(("nodeid", "arch", "expected"), [
    ("mod/go.mod::example.com/m::TestX[arm64]", "arm64", "mod/go.mod::example.com/m::TestX"),
    ("mod/go.mod::pkg/sub::TestX[386]", "386", "mod/go.mod::pkg/sub::TestX"),
    ("crate/Cargo.toml::tests::it_works[s390x]", "s390x", "crate/Cargo.toml::tests::it_works"),
    ("t.py::f[arm64-1]", "arm64", "t.py::f[1]"),
    ("t.py::f[1-arm64]", "arm64", "t.py::f[1]"),
    ("t.py::f[1-arm64-2]", "arm64", "t.py::f[1-2]"),
    ("t.py::C::f[mips]", "mips", "t.py::C::f"),
    # a name that merely contains the arch is not the arch
    ("t.py::f[arm64]", "arm", "t.py::f[arm64]"),
    ("t.py::f[mips64le]", "mips64", "t.py::f[mips64le]"),
    ("t.py::f[x386]", "386", "t.py::f[x386]"),
    ("t.py::f", "arm64", "t.py::f"),
    # a parameter equal to an arch name: only the first (the arch's own) occurrence goes
    ("t.py::f[arm64-arm64]", "arm64", "t.py::f[arm64]"),
    ("t.py::f[s390x-arm64]", "arm64", "t.py::f[s390x]"),
])  # fmt: skip
def test_base_id(nodeid: str, arch: str, expected: str) -> None:
    assert base_id(nodeid, arch) == expected


@pytest.mark.parametrize(("nodeid", "expected"), [
    ("tests/linux-arm64-only/t.py::f[1-arm64-2]", "tests/linux-arm64-only/t.py::f[1-2]"),
    ("tests/build[arm64]/t.py::f[arm64]", "tests/build[arm64]/t.py::f"),
])  # fmt: skip
def test_base_id_leaves_the_path_alone(nodeid: str, expected: str) -> None:
    assert base_id(nodeid, "arm64") == expected


def test_base_id_lines_up_one_test_across_arches() -> None:
    ids = {a: f"mod/go.mod::m::TestX[{a}]" for a in ("amd64", "386", "arm64", "s390x")}
    assert {base_id(n, a) for a, n in ids.items()} == {"mod/go.mod::m::TestX"}
    py = {a: f"t.py::f[{a}-x]" for a in ("amd64", "arm64")}
    assert {base_id(n, a) for a, n in py.items()} == {"t.py::f[x]"}


# --- what failing architectures share -------------------------------------------------------------


@pytest.mark.parametrize(("failed", "ran", "trait"), [
    (["s390x"], ["amd64", "arm64", "s390x"], "big-endian"),
    (["s390x", "mips"], ["amd64", "s390x", "386", "mips", "arm64"], "big-endian"),
    (["386"], ["amd64", "386", "arm64"], "32-bit"),
    (["386", "arm", "mipsle"], ["amd64", "386", "arm", "mipsle", "s390x"], "32-bit"),
    (["amd64", "arm64"], ["amd64", "arm64", "386"], "64-bit"),
    (["amd64", "arm64"], ["amd64", "arm64", "s390x"], "little-endian"),
])  # fmt: skip
def testshared_trait_named(failed: list[str], ran: list[str], trait: str) -> None:
    assert shared_trait(failed, ran) == f" — exactly the {trait} ones"


@pytest.mark.parametrize(("failed", "ran"), [
    ([], ["amd64", "s390x"]),  # nothing failed
    (["s390x", "386"], ["amd64", "s390x", "386"]),  # big-endian and 32-bit: nothing in common alone
    (["amd64", "386"], ["amd64", "386"]),  # everything failed: no trait separates them
    (["arm", "s390x"], ["amd64", "arm", "s390x", "arm64"]),  # 32-bit LE and 64-bit BE
])  # fmt: skip
def testshared_trait_none(failed: list[str], ran: list[str]) -> None:
    assert shared_trait(failed, ran) == ""


@pytest.mark.parametrize(("failed", "ran"), [
    (["mips"], ["amd64", "386", "s390x", "mips"]),  # big-endian 32-bit, but s390x and 386 pass
    (["amd64"], ["amd64", "arm64"]),  # both little-endian 64-bit
    (["s390x"], ["amd64", "s390x", "sparc64"]),  # an arch we do not know: no trait claimed
])  # fmt: skip
def test_one_failing_arch_is_named_alone(failed: list[str], ran: list[str]) -> None:
    assert shared_trait(failed, ran) == f" — {failed[0]} only"


def test_failing_arches_sharing_an_executor() -> None:
    runs_on = {
        "amd64": "native",
        "arm64": "docker debian:12",
        "arm": "docker debian:12",
        "riscv64": "qemu 10",
    }
    ran = ["amd64", "arm64", "arm", "riscv64"]
    assert shared_trait(["arm64", "arm"], ran, runs_on) == " — exactly the ones run by docker debian:12"
    assert shared_trait(["arm64", "riscv64"], ran, runs_on) == ""


# --- the matrix from real TestReports -------------------------------------------------------------


def rep(nodeid: str, when: str, outcome: str, arch: str | None, duration: float = 0.5) -> pytest.TestReport:
    props = [("arch", arch)] if arch else []
    longrepr: Any = (
        ("f.py", 1, "skipped") if outcome == "skipped" else ("boom" if outcome == "failed" else None)
    )
    return pytest.TestReport(
        nodeid,
        ("f.py", 0, nodeid),
        {},
        cast(Literal["passed", "failed", "skipped"], outcome),
        longrepr,
        cast(Literal["setup", "call", "teardown"], when),
        duration=duration,
        user_properties=props,
    )


def feed(report: MatrixReport, nodeid: str, arch: str | None, *phases: tuple[str, str]) -> None:
    for when, outcome in phases:
        report.pytest_runtest_logreport(rep(nodeid, when, outcome, arch, 0.25 if when == "call" else 0.01))


@pytest.fixture
def matrix(tmp_path: Path, pytestconfig: pytest.Config) -> MatrixReport:
    m = MatrixReport(
        pytestconfig, ["amd64", "386", "s390x"], tmp_path / "out" / "r.json", notes=["something worth saying"]
    )
    ok = (("setup", "passed"), ("call", "passed"), ("teardown", "passed"))
    for a in ("amd64", "386", "s390x"):
        feed(m, f"m::TestPlain[{a}]", a, *ok)
    feed(m, "m::TestEndian[amd64]", "amd64", *ok)
    feed(m, "m::TestEndian[386]", "386", *ok)
    feed(m, "m::TestEndian[s390x]", "s390x", ("setup", "passed"), ("call", "failed"), ("teardown", "passed"))
    feed(m, "m::TestSkip[s390x]", "s390x", ("setup", "skipped"), ("teardown", "passed"))
    feed(m, "m::TestTeardown[386]", "386", ("setup", "passed"), ("call", "passed"), ("teardown", "failed"))
    feed(m, "m::TestSetupErr[amd64]", "amd64", ("setup", "failed"), ("teardown", "passed"))
    feed(m, "t.py::test_no_arch", None, *ok)  # not an arch test: not in the matrix
    return m


def test_one_cell_per_test_and_arch_with_the_worst_phase(matrix: MatrixReport) -> None:
    cells = {c.nodeid: (c.base, c.arch, c.outcome) for c in matrix.cells.values()}
    assert cells == {
        "m::TestPlain[amd64]": ("m::TestPlain", "amd64", "passed"),
        "m::TestPlain[386]": ("m::TestPlain", "386", "passed"),
        "m::TestPlain[s390x]": ("m::TestPlain", "s390x", "passed"),
        "m::TestEndian[amd64]": ("m::TestEndian", "amd64", "passed"),
        "m::TestEndian[386]": ("m::TestEndian", "386", "passed"),
        "m::TestEndian[s390x]": ("m::TestEndian", "s390x", "failed"),
        "m::TestSkip[s390x]": ("m::TestSkip", "s390x", "skipped"),
        "m::TestTeardown[386]": ("m::TestTeardown", "386", "error"),
        "m::TestSetupErr[amd64]": ("m::TestSetupErr", "amd64", "error"),
    }
    assert matrix.cells["m::TestEndian[s390x]"].duration == 0.25  # the call's time, not setup's


def test_counts_and_differing(matrix: MatrixReport) -> None:
    assert matrix.counts() == {
        "amd64": {"passed": 2, "skipped": 0, "failed": 0, "error": 1, "infra_error": 0, "xfailed": 0},
        "386": {"passed": 2, "skipped": 0, "failed": 0, "error": 1, "infra_error": 0, "xfailed": 0},
        "s390x": {"passed": 1, "skipped": 1, "failed": 1, "error": 0, "infra_error": 0, "xfailed": 0},
    }
    assert matrix.differing() == {"m::TestEndian": {"amd64": "passed", "386": "passed", "s390x": "failed"}}


def test_json_report(matrix: MatrixReport) -> None:
    matrix.pytest_sessionfinish(session=None)  # type: ignore[arg-type]  # the hook getattr()s it
    assert matrix.report_path is not None
    data = json.loads(matrix.report_path.read_text())
    assert data["version"] == REPORT_VERSION == 3
    assert data["interrupted"] is False and data["not_run"] == []
    assert data["arches"] == ["amd64", "386", "s390x"]
    assert data["counts"] == matrix.counts()
    assert data["notes"] == ["something worth saying"]
    assert len(data["results"]) == 9
    assert {(r["base"], r["arch"]) for r in data["results"]} == {
        (c.base, c.arch) for c in matrix.cells.values()
    }
    assert set(data["results"][0]) == {
        "nodeid", "base", "arch", "outcome", "duration", "cached", "flaky", "message", "output", "log"
    }  # fmt: skip
    endian = next(r for r in data["results"] if r["nodeid"] == "m::TestEndian[s390x]")
    assert (endian["message"], endian["output"]) == ("boom", "boom")  # the call's, not the teardown's


@pytest.mark.parametrize("selected", ["all", "all,musl"])
def test_the_matrix_of_all_13_arches_fits_80_columns(selected: str) -> None:
    names = [a.name for a in archmod.parse_list([selected])]
    assert len(names) == (14 if selected == "all" else 17)  # the 13 CPUs and wasm (+ 3 musl)
    base = "very/long/path/to/a/module/go.mod::example.com/some/deeply/nested/package::TestSomethingLong"
    outcome = {a: "failed" if a == "s390x" else "passed" for a in names}
    results = {
        (f"{base}{i}", a): Result(f"{base}{i}[{a}]", f"{base}{i}", a, outcome[a], 0.1)
        for i in range(3) for a in names
    }  # fmt: skip
    m = Matrix(arches=names, results=results, runs_on=dict.fromkeys(names, "qemu 10.0.2"), host="amd64")
    lines = ["".join(text for text, _ in segments) for segments in grid_lines(m, m.bases(), 80)]
    assert all(len(line) <= 80 for line in [*lines, LEGEND, *(t for t, _ in table_lines(m))])
    rows = lines[max(len(n) for n in names) :]
    assert len(rows) == 3 and all(row.startswith("…") for row in rows)  # names cut on the left
    assert rows[0].split()[1:] == ["F" if a == "s390x" else "." for a in names]
    header = lines[: max(len(n) for n in names)]
    columns = ["".join(line[i] if i < len(line) else " " for line in header).strip() for i in range(81)]
    assert [c for c in columns if c] == names  # the arch names, written downwards, in order


def test_an_item_interrupted_after_its_setup_has_no_cell(matrix: MatrixReport) -> None:
    """Ctrl-C during a call: pytest reports the setup only and says "no tests ran" for it."""
    feed(matrix, "m::TestInterrupted[amd64]", "amd64", ("setup", "passed"))
    assert "m::TestInterrupted[amd64]" not in matrix.cells
    assert matrix.counts()["amd64"]["passed"] == 2
