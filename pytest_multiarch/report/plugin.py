"""The run's matrix: one cell per (test, architecture) from pytest's reports, printed at the end
(grid, totals, diagnosis) and written as JSON, Markdown, HTML or the GitHub step summary."""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Sequence
from pathlib import Path

import pytest
from _pytest import junitxml
from _pytest.terminal import TerminalReporter  # pytest.TerminalReporter is pytest 8.4+

from pytest_multiarch.nodeid import arch_in_nodeid, base_id
from pytest_multiarch.outcome import INFRA_ERROR, CellProps, MultiarchFailure, arch_of
from pytest_multiarch.outfile import why_unwritable, write_atomic
from pytest_multiarch.report import html as matrix_html
from pytest_multiarch.report.diagnosis import diagnosis_lines, interesting
from pytest_multiarch.report.junit import regroup_per_arch
from pytest_multiarch.report.markdown import markdown
from pytest_multiarch.report.matrix import VERSION, Matrix
from pytest_multiarch.report.model import Cell, NotRun, cell_from_report, set_verdict
from pytest_multiarch.report.text import LEGEND, LEGEND_XFAILED, grid_lines, table_lines
from pytest_multiarch.settings import Outputs

REPORT_VERSION = VERSION  # the format matrix.load reads back


class MatrixReport:
    """Collects one cell per (test, arch) from reports and prints the matrix at the end."""

    def __init__(
        self, config: pytest.Config, arches: list[str], outputs: Outputs | Path | None, notes: list[str]
    ) -> None:
        self.config = config
        self.arches = arches
        self.outputs = outputs if isinstance(outputs, Outputs) else Outputs(json=outputs)
        self.cells: dict[str, Cell] = {}
        self.notes = notes  # one-off remarks for the summary (e.g. doc tests not run), shared
        self.runs_on: dict[str, str] = {}  # arch → how it runs ("native", "qemu 10.0.2")
        self.host = ""
        self.not_applicable: dict[str, list[str]] = {}  # test → arches it is left out on, on purpose
        self.selected: dict[str, str] = {}  # node id → arch: the cells this session means to run
        self.interrupted = False  # Ctrl-C, SIGTERM, pytest.exit: cut short

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.config.option.collectonly:
            return  # nothing is meant to run
        for item in session.items:  # after deselection (-k, -m, --lf)
            arch = arch_of(item.user_properties)
            if arch is not None:
                self.selected[item.nodeid] = arch

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        """The xdist controller collects nothing: the cells are in the workers' node ids."""
        if self.config.option.collectonly:
            return
        for nodeid in ids:
            arch = arch_in_nodeid(nodeid, self.arches)
            if arch is not None:
                self.selected.setdefault(nodeid, arch)

    @pytest.hookimpl
    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    @property
    def report_path(self) -> Path | None:
        return self.outputs.json

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.excinfo is not None and isinstance(call.excinfo.value, MultiarchFailure):
            set_verdict(report, call.excinfo.value.verdict)
        return report

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cell = cell_from_report(report, self.cells.get(report.nodeid))
        if cell is not None:
            self.cells[report.nodeid] = cell

    def not_run(self) -> dict[tuple[str, str], NotRun]:
        """(test, arch) cells selected for this session that have no result, and why."""
        why = "interrupted" if self.interrupted else "stopped early"  # -x, --maxfail
        return {(base_id(n, a), a): NotRun(n, why) for n, a in self.selected.items() if n not in self.cells}

    def matrix(self) -> Matrix:
        results = {(c.base, c.arch): c for c in self.cells.values()}
        bases = {c.base for c in self.cells.values()}
        not_run = self.not_run()
        return Matrix(
            arches=list(self.arches),
            results=results,
            # Else one run misses nothing: a cell it has not is deselected, left out or unavailable.
            deliberate={(b, a) for b in bases for a in self.arches if (b, a) not in results} - set(not_run),
            interrupted=self.interrupted,
            not_run=not_run,
            notes=self.notes,
            not_applicable=self.not_applicable,
            runs_on=self.runs_on,
            host=self.host,
        )

    def counts(self) -> dict[str, dict[str, int]]:
        return self.matrix().counts()

    def differing(self) -> dict[str, dict[str, str]]:
        """Tests whose outcome is not the same on every architecture they ran on."""
        return self.matrix().differing()

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: TerminalReporter, exitstatus: int) -> None:
        self.interrupted = self.interrupted or exitstatus == pytest.ExitCode.INTERRUPTED
        tr = terminalreporter
        m = self.matrix()
        if not self.cells:
            if self.interrupted:  # nothing ran: no table, but no doubt either
                tr.write_sep("=", "multiarch: results per architecture")
                cells = f"{len(m.not_run)} selected cells never ran" if self.selected else (
                    "collection had not ended: which cells would have run is not known")  # fmt: skip
                tr.write_line(f"multiarch: the run was interrupted before any result; {cells}", red=True)
            return  # nothing ran (e.g. --collect-only): no table
        rows = {"all": m.bases(), "differing": interesting(m), "none": []}[self.outputs.rows]
        tr.write_sep("=", "multiarch: results per architecture")
        if rows:
            for segments in grid_lines(m, rows, tr._tw.fullwidth):
                for text, colour in segments:
                    tr.write(text, **({colour: True} if colour else {}))
                tr.line("")
            tr.write_line(LEGEND)
            if m.xfailed():
                tr.write_line(LEGEND_XFAILED)
            tr.write_line("")
        for line, bad in table_lines(m):
            tr.write_line(line, red=bad is True, green=bad is False)
        diagnosis = diagnosis_lines(m)
        if diagnosis:
            tr.write_sep("-", "diagnosis: what differs across architectures, and why")
            for line in diagnosis:
                tr.write_line(line)
        for text in self.notes:
            tr.write_line(f"note: {text}")
        if m.not_run or self.interrupted:
            how = "the run was interrupted" if self.interrupted else "the run stopped early"
            total = len(m.not_run) + len(self.cells)
            said = f"multiarch: {how}: {len(m.not_run)} of {total} selected cells never ran"
            tr.write_line(said + " (the report lists them; merge fails on them)", red=True)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # xdist workers send their reports to the controller, which writes the files
        status = getattr(session, "exitstatus", None)
        self.interrupted = self.interrupted or status == pytest.ExitCode.INTERRUPTED
        out = self.outputs
        m = self.matrix()
        if out.json is not None:
            write_atomic(out.json, json.dumps(m.to_json(merged=False), indent=2) + "\n")
        text = markdown(m, all_rows=out.rows == "all") if out.markdown or out.step_summary else ""
        if out.markdown is not None:
            write_atomic(out.markdown, text)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if out.step_summary and summary:
            with open(summary, "a", encoding="utf-8") as f:
                f.write("## pytest-multiarch\n\n" + text + "\n")
        if out.html is not None:
            write_atomic(out.html, matrix_html.render(m))


# Example file names for the fix, by option.
_EXAMPLES = {"--multiarch-report": "multiarch.json", "--multiarch-markdown": "multiarch.md",
             "--multiarch-html": "multiarch.html", "--junitxml": "junit.xml"}  # fmt: skip


def check_report_files(files: Sequence[tuple[str, str]]) -> None:
    """Every report file this session will write, as (option, value), can be written, or a usage
    error now (before any build), naming the option, the path and why, instead of a traceback at
    the end."""
    for option, value in files:
        why = why_unwritable(Path(value))
        if why is None:
            continue
        example = _EXAMPLES.get(option, "report")
        fix = (f"name a file in it, e.g. {option}={Path(value) / example}" if Path(value).is_dir()
               else f"name a file in a directory you can write, e.g. {option}={example}")  # fmt: skip
        raise pytest.UsageError(f"{option}={value}: cannot write the report there: {why}; {fix}")


def regroup_junit(config: pytest.Config, per_arch: bool) -> None:
    """With --junit-per-arch, rewrite the file pytest's junitxml wrote (on the xdist controller
    only) as one test suite per architecture. Call it after junitxml has written the file."""
    xml = config.stash.get(junitxml.xml_key, None)  # set on the controller only
    if xml is not None and per_arch and os.path.exists(xml.logfile):
        regroup_per_arch(Path(xml.logfile))


def adjust_test_report(report: pytest.TestReport, when: str, duration: float | None) -> None:
    """What the plugin changes in a test's report: the duration is the test's own (not the
    batch's wait), and an infra error is a failure even where an xfail was expected."""
    if when == "call" and duration is not None:
        report.duration = duration
    if report.skipped and hasattr(report, "wasxfail") and INFRA_ERROR in dict(report.user_properties):
        report.outcome = "failed"  # the emulator failed, not the known failure: never hidden by xfail
        del report.wasxfail


def terminal_status(report: pytest.TestReport) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """How the terminal shows a cell that passed when re-run or reused, or hit an infra error."""
    if report.when != "call":
        return None
    props = CellProps.from_properties(report.user_properties)
    if report.passed and props.flaky:
        return "passed", "R", ("PASSED (flaky)", {"yellow": True})  # --arch-reruns
    if report.passed and props.cached:
        return "passed", ".", ("PASSED (cached)", {"green": True})  # --arch-reuse-passed
    if report.failed and props.infra_error:
        return "failed", "!", ("INFRA ERROR", {"red": True})  # the emulator failed, not the test
    return None
