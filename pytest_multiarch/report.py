"""The per-architecture matrix: terminal summary and a versioned JSON report."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import pytest

from . import arch as archmod

Outcome = Literal["passed", "failed", "skipped", "error"]
REPORT_VERSION = 1
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


@dataclass
class Cell:
    nodeid: str
    base: str  # nodeid without the architecture, to line up one test across arches
    arch: str
    outcome: Outcome
    duration: float
    cached: bool = False  # reused from an identical earlier run that passed (--arch-reuse-passed)


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
            outcome: Outcome = "failed" if report.when == "call" else "error"
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

    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {a: dict.fromkeys(_RANK, 0) for a in self.arches}
        for cell in self.cells.values():
            table.setdefault(cell.arch, dict.fromkeys(_RANK, 0))[cell.outcome] += 1
        return table

    def differing(self) -> dict[str, dict[str, Outcome]]:
        """Tests whose outcome is not the same on every architecture they ran on."""
        by_base: dict[str, dict[str, Outcome]] = defaultdict(dict)
        for cell in self.cells.values():
            by_base[cell.base][cell.arch] = cell.outcome
        return {b: o for b, o in by_base.items() if len(set(o.values()) - {"skipped"}) > 1}

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.cells:
            return  # nothing ran (e.g. --collect-only): no table
        tr = terminalreporter
        tr.write_sep("=", "multiarch: results per architecture")
        tr.write_line(f"{'arch':<10} {'passed':>7} {'failed':>7} {'skipped':>8} {'errors':>7}  runs on")
        for a, c in self.counts().items():
            line = f"{a:<10} {c['passed']:>7} {c['failed']:>7} {c['skipped']:>8} {c['error']:>7}"
            line += f"  {self.runs_on.get(a, '')}"
            bad = c["failed"] or c["error"]
            tr.write_line(line, red=bool(bad), green=not bad and bool(c["passed"]))
        differing = self.differing()
        if differing:
            tr.write_sep("-", "outcome differs across architectures")
            for base, per_arch in sorted(differing.items()):
                failed = [a for a in self.arches if per_arch.get(a) in ("failed", "error")]
                ok = [a for a in self.arches if per_arch.get(a) == "passed"]
                tr.write_line(
                    f"{base}: fails on {', '.join(failed)} (passes on {', '.join(ok) or 'none'})"
                    f"{shared_trait(failed, [*failed, *ok])}"
                )
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


def shared_trait(failed: list[str], ran: list[str]) -> str:
    """Name what the failing architectures, and only they, have in common."""
    if not failed or set(failed) >= set(ran):
        return ""  # nothing failed, or nothing passed: no trait separates the failing ones
    arches = {a.name: a for a in archmod.ARCHES}
    traits: dict[str, Callable[[archmod.Arch], bool]] = {
        "big-endian": lambda a: a.endian == "big",
        "32-bit": lambda a: a.bits == 32,
        "64-bit": lambda a: a.bits == 64,
        "little-endian": lambda a: a.endian == "little",
    }
    for label, has in traits.items():
        if all(n in arches for n in ran) and {n for n in ran if has(arches[n])} == set(failed):
            return f" — exactly the {label} ones"
    return ""
