"""The per-architecture matrix: terminal summary and a versioned JSON report."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from .matrix import VERSION, Matrix, Result, diagnosis_lines, table_lines

REPORT_VERSION = VERSION  # the format matrix.load reads back
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


Cell = Result  # one (test, arch) result; the JSON report's `results[]` entries


def base_id(nodeid: str, arch: str) -> str:
    """``pkg::TestX[arm64]`` → ``pkg::TestX``; ``t.py::f[arm64-1]`` → ``t.py::f[1]``."""
    # Only the parameters, from the first "[" after the path: a directory may hold "-arm64-" too.
    start = nodeid.find("[", max(nodeid.find("::"), 0))
    if start < 0:
        return nodeid
    head, params = nodeid[:start], nodeid[start:]
    for old, new in ((f"[{arch}]", ""), (f"[{arch}-", "["), (f"-{arch}]", "]"), (f"-{arch}-", "-")):
        if old in params:
            return head + params.replace(old, new, 1)
    return nodeid


class MatrixReport:
    """Collects one cell per (test, arch) from reports and prints the matrix at the end."""

    def __init__(
        self, config: pytest.Config, arches: list[str], report_path: Path | None, notes: list[str]
    ) -> None:
        self.config = config
        self.arches = arches
        self.report_path = report_path
        self.cells: dict[str, Cell] = {}
        self.notes = notes  # one-off remarks for the summary (e.g. doc tests not run), shared
        self.runs_on: dict[str, str] = {}  # arch → how it runs ("native", "qemu 10.0.2")
        self.not_applicable: dict[str, list[str]] = {}  # test → arches it is left out on, on purpose

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        arch = dict(report.user_properties).get("arch")
        if not isinstance(arch, str):
            return
        if report.failed:
            outcome = "failed" if report.when == "call" else "error"
        elif report.skipped:
            outcome = "skipped"
        elif report.when == "call":
            outcome = "passed"
        else:
            outcome = "passed" if report.nodeid not in self.cells else self.cells[report.nodeid].outcome
        old = self.cells.get(report.nodeid)
        duration = report.duration if report.when == "call" else (old.duration if old else 0.0)
        if old is None or _RANK[outcome] >= _RANK[old.outcome]:
            cached = ("cached", True) in report.user_properties
            self.cells[report.nodeid] = Cell(
                report.nodeid, base_id(report.nodeid, arch), arch, outcome, duration, cached
            )

    def matrix(self) -> Matrix:
        return Matrix(arches=list(self.arches), results={(c.base, c.arch): c for c in self.cells.values()})

    def counts(self) -> dict[str, dict[str, int]]:
        return self.matrix().counts()

    def differing(self) -> dict[str, dict[str, str]]:
        """Tests whose outcome is not the same on every architecture they ran on."""
        return self.matrix().differing()

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.cells:
            return  # nothing ran (e.g. --collect-only): no table
        tr = terminalreporter
        m = self.matrix()
        tr.write_sep("=", "multiarch: results per architecture")
        for line, bad in table_lines(m, self.runs_on):
            tr.write_line(line, red=bad is True, green=bad is False)
        diagnosis = diagnosis_lines(m)
        if diagnosis:
            tr.write_sep("-", "outcome differs across architectures")
            for line in diagnosis:
                tr.write_line(line)
        for text in self.notes:
            tr.write_line(f"note: {text}")

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report_path is None or hasattr(self.config, "workerinput"):
            return  # xdist workers send their reports to the controller, which writes the file
        data = {
            "version": REPORT_VERSION,
            "arches": self.arches,
            "counts": self.counts(),
            "results": [asdict(c) for c in self.cells.values()],
            "notes": self.notes,
            "not_applicable": [{"test": t, "arches": a} for t, a in self.not_applicable.items()],
        }
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        self.report_path.write_text(json.dumps(data, indent=2) + "\n")
