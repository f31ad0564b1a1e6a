"""The one result type of the report: a cell, one (test, architecture) result, made once from
pytest's report of it and read by every output (terminal, JSON, Markdown, HTML, JUnit, merge).

Pure data and the rules that turn a pytest report into a cell; no terminal, no files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pytest

from pytest_multiarch.nodeid import base_id
from pytest_multiarch.outcome import CellProps, arch_of

# infra_error: the emulator or the machinery around the test failed (qemu aborted, exec format
# error, a loader missing), not the test: counted apart so that it is not taken for an arch bug.
# xfailed: a known failure (pytest's xfail, e.g. from the ini option multiarch_xfail) that still
# fails: neither passed nor failed. Once it passes, strict xfail makes it "failed" (XPASS(strict)).
OUTCOMES = ("passed", "failed", "skipped", "error", "infra_error", "xfailed")
BAD = ("failed", "error", "infra_error")
# Which of a test's phases (setup, call, teardown) decides its cell: the worst.
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "infra_error": 2, "failed": 3, "error": 4}
HEAD, TAIL = 2_000, 6_000  # characters of a failure's report kept in the JSON/HTML (head, tail)
MESSAGE = 300  # characters of a cell's one-line message
VERDICT_ATTR = "multiarch_verdict"  # the failure's one line, set on pytest's report (xdist carries it)


@dataclass(frozen=True)
class Result:
    """One (test, arch) cell; the JSON report's ``results[]`` entries, field for field."""

    nodeid: str
    base: str
    arch: str
    outcome: str
    duration: float
    cached: bool = False
    flaky: int = 0  # failed runs before the one that passed (--arch-reruns); 0 = not flaky
    message: str = ""  # one line: why it failed or was skipped; the evidence of an infra_error
    output: str = ""  # the failure's report, head and tail when long ("" when it passed)
    log: str = ""  # the file with the whole output of the test process, kept when it failed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def props(self) -> CellProps:
        """The cell's properties as its test item had them (for a JUnit file made from a matrix)."""
        infra = self.message if self.outcome == "infra_error" else ""
        return CellProps(self.cached, self.flaky, self.message if self.flaky else "", infra, self.log)


Cell = Result


@dataclass(frozen=True)
class NotRun:
    """A cell a run selected and never ran: its node id, and why ("interrupted", "stopped early")."""

    nodeid: str
    why: str


def cut(text: str, head: int = HEAD, tail: int = TAIL) -> str:
    """``text`` whole, or its head and tail with a line saying how much was left out."""
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"


def set_verdict(report: pytest.TestReport, verdict: str) -> None:
    """Carry a failure's one-line verdict on its report, so the cell need not read it back."""
    setattr(report, VERDICT_ATTR, verdict)


def _outcome(report: pytest.TestReport, props: CellProps) -> str | None:
    if report.failed:
        if report.when != "call":
            return "error"
        return "infra_error" if props.infra_error else "failed"
    if report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    return "passed" if report.when == "call" else None


def _message(report: pytest.TestReport, outcome: str, props: CellProps, output: str) -> str:
    if outcome == "infra_error":
        return props.infra_error
    if report.failed:
        verdict = getattr(report, VERDICT_ATTR, None)
        if isinstance(verdict, str):
            return verdict[:MESSAGE]
        return next((line for line in output.splitlines() if line.strip()), "")[:MESSAGE]
    if outcome == "xfailed":  # why it is expected to fail
        return f"xfail: {report.wasxfail}"[:MESSAGE]
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if props.flaky:
        return props.first_failure[:MESSAGE]
    if hasattr(report, "wasxfail"):  # a non-strict xfail that passed
        return f"XPASS: {report.wasxfail}"[:MESSAGE]
    return ""


def cell_from_report(report: pytest.TestReport, old: Result | None = None) -> Result | None:
    """The cell a phase's report makes, given the cell earlier phases made (``old``); None when
    it is no test of an architecture, or a phase that changes nothing (a setup that passed, a
    teardown after a failed call)."""
    if report.passed and report.when != "call":
        return None  # what _outcome says of it, without reading the properties (twice per test)
    arch = arch_of(report.user_properties)
    if arch is None:
        return None
    props = CellProps.from_properties(report.user_properties)
    outcome = _outcome(report, props)
    if outcome is None:
        return None  # a setup or teardown that passed: no result yet (Ctrl-C may come before the call)
    if old is not None and (
        _RANK[outcome] < _RANK[old.outcome] or (outcome == old.outcome and report.when != "call")
    ):
        return None
    duration = report.duration if report.when == "call" else (old.duration if old else 0.0)
    output = cut(report.longreprtext) if report.failed or outcome == "xfailed" else ""
    return Result(
        report.nodeid, base_id(report.nodeid, arch), arch, outcome, duration, cached=props.cached,
        flaky=props.flaky, message=_message(report, outcome, props, output), output=output, log=props.log,
    )  # fmt: skip
