"""Go test output (``-test.v=test2json``) to per-test outcomes, decoded in this process.

A Go test binary run with ``-test.v=test2json`` marks each framing line (``=== RUN``,
``--- PASS``, the final ``PASS``) with a leading ^V byte, so that a test printing such text
cannot be mistaken for the framing. ``go tool test2json`` turns that stream into JSON events;
this module follows the same rules to produce the same events (the test suite compares the two
on real binaries), without starting a ``go`` process per batch (~70 ms each with Go 1.24+,
which builds the tool on demand).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..outcome import ParsedRun, TestOutcome

MARKER = b"\x16"
_UPDATES = (b"=== RUN   ", b"=== PAUSE ", b"=== CONT  ", b"=== NAME  ", b"=== PASS  ", b"=== FAIL  ",
            b"=== SKIP  ", b"=== ATTR  ", b"=== ARTIFACTS ")  # fmt: skip
_REPORTS = (b"--- PASS: ", b"--- FAIL: ", b"--- SKIP: ", b"--- BENCH: ")
_LINE_LIMIT = 4096  # test2json's input buffer: longer lines are never framing


@dataclass
class Event:
    action: str
    test: str = ""
    output: bytes = b""
    elapsed: float | None = None


@dataclass
class _Converter:
    """The state of one stream's conversion (the current test, pending reports)."""

    events: list[Event] = field(default_factory=list)
    test_name: str = ""
    report: list[Event] = field(default_factory=list)  # pending --- reports, nested for subtests
    need_marker: bool = False

    def emit(self, ev: Event) -> None:
        if not ev.test:
            ev.test = self.test_name
        self.events.append(ev)

    def output(self, line: bytes) -> None:
        self.emit(Event("output", output=line))

    def flush_report(self, depth: int) -> None:
        self.test_name = ""
        while len(self.report) > depth:
            self.emit(self.report.pop())

    def line(self, line: bytes) -> None:
        saw_marker = False
        if self.need_marker and not line.startswith(MARKER):
            self.output(line)
            return
        if line.startswith(MARKER):
            saw_marker = True
            line = line[1:]
        trim = line.rstrip(b"\n").removesuffix(b"\r") if line.endswith(b"\n") else line
        if trim == b"=== NAME":
            line, trim = b"=== NAME  \n", b"=== NAME  "
        if trim in (b"PASS", b"FAIL") or trim.startswith(b"FAIL\t"):  # the binary's final word
            self.flush_report(0)
            self.test_name = ""
            self.need_marker = saw_marker
            self.output(line)
            return
        original = line
        indent = 0
        framing = line.startswith(_UPDATES)
        if not framing:
            while line.startswith(b"    "):
                line = line[4:]
                indent += 1
            framing = line.startswith(_REPORTS)
        if not framing:
            # Output belongs to the subtest whose report indentation it shares, if any.
            if 0 < indent <= len(self.report):
                self.test_name = self.report[indent - 1].test
            self.output(original)
            return
        text = line[4:].decode("utf-8", "replace")
        action, _, name = text.partition(" ")
        action = action.removesuffix(":").lower()
        name = name.strip()
        if line.startswith(b"-"):  # a --- PASS/FAIL/SKIP report, possibly indented
            elapsed = None
            if (i := name.find(" (")) >= 0:
                if name.endswith("s)"):
                    try:
                        elapsed = float(name[i + 2 : -2])
                    except ValueError:
                        elapsed = None
                name = name[:i]
            if len(self.report) < indent:
                self.output(original)  # nested deeper than any running test: plain output
                return
            self.need_marker = saw_marker
            self.flush_report(indent)
            self.test_name = name
            self.report.append(Event(action, test=name, elapsed=elapsed))
            self.output(original)
            return
        if action in ("artifacts", "attr"):
            name = name.split(" ", 1)[0]
        self.need_marker = saw_marker
        self.flush_report(0)
        self.test_name = name
        if action == "name":
            return  # only says whose output follows
        if action == "pause":
            self.output(original)
            self.emit(Event(action, test=name))
            return
        self.emit(Event(action, test=name))
        self.output(original)


def _lines(data: bytes) -> Iterator[tuple[bytes, bool]]:
    """(piece, whole) pairs: lines with their ``\\n``, where a ^V not starting a line also
    starts a new one; a last piece without ``\\n`` is not whole (test2json calls it output)."""
    i, size = 0, len(data)
    while i < size:
        nl = data.find(b"\n", i)
        end = size if nl < 0 else nl + 1
        mk = data.find(MARKER, i + 1, end)
        if mk >= 0:
            yield data[i:mk], True
            i = mk
        else:
            yield data[i:end], nl >= 0
            i = end


def events(stdout: bytes, *, flush_pending: bool = False) -> list[Event]:
    """The events ``go tool test2json`` prints for this output (without start and the end).

    Like it, a line longer than its 4 KiB input buffer is plain output, never framing; and
    reports still pending when the output ends (the process died before the next framing line)
    are not emitted, unless ``flush_pending``: a ``--- PASS`` or ``--- SKIP`` the binary printed
    is a result then. (A pending ``--- FAIL`` stays unreported: that test is the one the process
    died in, and batch.py blames it with the process's last words.)
    """
    conv = _Converter()
    for piece, whole in _lines(stdout):
        if whole and len(piece) <= _LINE_LIMIT:
            conv.line(piece)
        else:
            conv.output(piece)
    if flush_pending:
        conv.report = [e for e in conv.report if e.action in ("pass", "skip")]
        conv.flush_report(0)
    return conv.events


def fold(evs: Iterable[Event]) -> ParsedRun:
    """One outcome per top-level test: subtests fold into their parent (lines and verdict)."""
    run = ParsedRun()
    outputs: dict[str, list[str]] = {}
    package_output: list[str] = []
    for ev in evs:
        if not ev.test:
            if ev.action == "output":
                package_output.append(ev.output.decode("utf-8", "replace"))
            continue
        top = ev.test.split("/", 1)[0]
        if ev.action in ("run", "cont") and top == ev.test and top not in run.started:
            run.started.append(top)
        elif ev.action == "pause" and top == ev.test and top in run.started:
            # A paused t.Parallel test is not running: if the process dies before it continues,
            # it is not to blame (it runs again in a fresh process).
            run.started.remove(top)
        elif ev.action == "output":
            outputs.setdefault(top, []).append(ev.output.decode("utf-8", "replace"))
        elif ev.action in ("pass", "fail", "skip") and ev.test == top:
            text = "".join(outputs.get(top, []))
            status = {"pass": "passed", "fail": "failed", "skip": "skipped"}[ev.action]
            run.outcomes[top] = TestOutcome(
                top, status,  # type: ignore[arg-type]
                duration=ev.elapsed or 0.0,
                output=text,
                message=skip_reason(text) if status == "skipped" else "",
            )  # fmt: skip
    for name in run.unfinished():
        run.partial[name] = "".join(outputs.get(name, []))
    run.output = "".join(package_output)
    return run


def parse(stdout: bytes, stderr: bytes) -> ParsedRun:
    """A batch parser (see batch.run_tests): raw test binary output → per-test outcomes."""
    return fold(events(stdout, flush_pending=True))  # batch.py adds stderr to crash reports itself


def skip_reason(text: str) -> str:
    """The message given to t.Skip: the lines after `--- SKIP`, or before it."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("=== ")]
    reason = [ln for ln in lines if not ln.startswith("--- SKIP")]
    # The item's location already names file and line: keep just t.Skip's words.
    return re.sub(r"^\S+_test\.go:\d+: ", "", reason[-1]) if reason else "skipped by the Go test"
