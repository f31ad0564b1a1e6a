"""Go test output (``-test.v=test2json``) to per-test outcomes, decoded in this process.

A Go test binary run with ``-test.v=test2json`` marks each framing line (``=== RUN``,
``--- PASS``, the final ``PASS``) with a leading ^V byte, so that a test printing such text
cannot be mistaken for the framing. ``go tool test2json`` turns that stream into JSON events;
this module follows the same rules to produce the same events (the test suite compares the two
on real binaries), without starting a ``go`` process per batch (~70 ms each with Go 1.24+,
which builds the tool on demand). :func:`test_args` is how a test binary is asked to run
in that mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_multiarch.outcome import DEFAULT_OUTPUT_LIMIT, Clip, ParsedRun, TestOutcome

MARKER = b"\x16"
_UPDATES = (b"=== RUN   ", b"=== PAUSE ", b"=== CONT  ", b"=== NAME  ", b"=== PASS  ", b"=== FAIL  ",
            b"=== SKIP  ", b"=== ATTR  ", b"=== ARTIFACTS ")  # fmt: skip
_REPORTS = (b"--- PASS: ", b"--- FAIL: ", b"--- SKIP: ", b"--- BENCH: ")
RunOrder = Mapping[str, Sequence[str]]  # Go name → the item of each of its top-level runs
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


class _Folder:
    """Events to one outcome per top-level test, as they come: subtests fold into their parent
    (lines and verdict); each test's output is clipped (see outcome.Clip)."""

    def __init__(self, limit: int, log: str, run_order: RunOrder | None = None) -> None:
        self.run = ParsedRun()
        self.limit, self.log = limit, log
        self.outputs: dict[str, Clip] = {}
        self.package_output = Clip(limit)
        # Go runs a package's TestDup and then its external test package's TestDup under one
        # name: the n-th top-level run of such a name is the n-th item listed for it.
        self.run_order = run_order or {}
        self.runs: dict[str, int] = {}  # top-level runs seen so far of each name in run_order
        self.current: dict[str, str] = {}  # the item the events of such a name belong to now

    def item(self, ev: Event, top: str) -> str:
        """The item an event of top-level test ``top`` belongs to."""
        order = self.run_order.get(top)
        if not order:
            return top
        if ev.action == "run" and ev.test == top:
            n = self.runs.get(top, 0)
            self.runs[top] = n + 1
            self.current[top] = order[min(n, len(order) - 1)]
        return self.current.get(top, order[0])

    def add(self, ev: Event) -> None:
        run = self.run
        if not ev.test:
            if ev.action == "output":
                self.package_output.add(ev.output.decode("utf-8", "replace"))
            return
        top = ev.test.split("/", 1)[0]
        is_top = top == ev.test
        top = self.item(ev, top)
        if ev.action in ("run", "cont") and is_top and top not in run.started:
            run.started.append(top)
        elif ev.action == "pause" and is_top and top in run.started:
            # A paused t.Parallel test is not running: if the process dies before it continues,
            # it is not to blame (it runs again in a fresh process).
            run.started.remove(top)
        elif ev.action == "output":
            if top not in self.outputs:
                self.outputs[top] = Clip(self.limit)
            self.outputs[top].add(ev.output.decode("utf-8", "replace"))
        elif ev.action in ("pass", "fail", "skip") and is_top:
            clip = self.outputs.pop(top, None)
            text = clip.text(self.log) if clip else ""
            status = {"pass": "passed", "fail": "failed", "skip": "skipped"}[ev.action]
            run.outcomes[top] = TestOutcome(
                top, status,  # type: ignore[arg-type]
                duration=ev.elapsed or 0.0,
                output=text,
                message=skip_reason(text) if status == "skipped" else "",
            )  # fmt: skip

    def result(self) -> ParsedRun:
        run = self.run
        for name in run.unfinished():
            clip = self.outputs.get(name)
            run.partial[name] = clip.text(self.log) if clip else ""
        run.output = self.package_output.text(self.log)
        return run


def fold(evs: Iterable[Event]) -> ParsedRun:
    """One outcome per top-level test: subtests fold into their parent (lines and verdict)."""
    folder = _Folder(DEFAULT_OUTPUT_LIMIT, "")
    for ev in evs:
        folder.add(ev)
    return folder.result()


class GoStream:
    """A StreamParser (outcome.py) for ``-test.v=test2json`` output: converted and folded line
    by line as it arrives; a line longer than test2json's buffer is output, in pieces.
    ``run_order`` names the items of Go names that run more than once, or under another item
    name (see discover.run_order)."""

    def __init__(
        self, limit: int = DEFAULT_OUTPUT_LIMIT, log: str = "", *, run_order: RunOrder | None = None
    ) -> None:
        self._conv = _Converter()
        self._folder = _Folder(limit, log, run_order)
        self._pending = b""  # the start of a line whose end has not arrived

    def _piece(self, piece: bytes, whole: bool) -> None:
        if whole and len(piece) <= _LINE_LIMIT:
            self._conv.line(piece)
        else:
            self._conv.output(piece)
        self._drain()

    def _drain(self) -> None:
        for ev in self._conv.events:
            self._folder.add(ev)
        self._conv.events.clear()

    def feed(self, data: bytes) -> None:
        buf = self._pending + data
        end = buf.rfind(b"\n") + 1
        for piece, whole in _lines(buf[:end]):
            self._piece(piece, whole)
        self._pending = buf[end:]
        if len(self._pending) > _LINE_LIMIT:  # too long to be framing: output now, in pieces
            self._piece(self._pending, False)
            self._pending = b""

    def running(self) -> list[str]:
        return self._folder.run.unfinished()

    def finish(self) -> ParsedRun:
        """The outcomes; a ``--- PASS``/``--- SKIP`` still pending when the output ended (the
        process died before the next framing line) counts, a pending ``--- FAIL`` does not (that
        test is the one the process died in: batch.py blames it with the process's last words)."""
        if self._pending:
            self._piece(self._pending, False)
            self._pending = b""
        self._conv.report = [e for e in self._conv.report if e.action in ("pass", "skip")]
        self._conv.flush_report(0)
        self._drain()
        return self._folder.result()


def parse(stdout: bytes, stderr: bytes) -> ParsedRun:
    """Raw test binary output → per-test outcomes, in one go (GoStream does it as it arrives)."""
    stream = GoStream()
    stream.feed(stdout)
    return stream.finish()


def skip_reason(text: str) -> str:
    """The message given to t.Skip: the lines after `--- SKIP`, or before it."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("=== ")]
    reason = [ln for ln in lines if not ln.startswith("--- SKIP")]
    # The item's location already names file and line: keep just t.Skip's words.
    return re.sub(r"^\S+_test\.go:\d+: ", "", reason[-1]) if reason else "skipped by the Go test"


def test_args(selected: Sequence[str], serial: bool = False) -> list[str]:
    """Arguments for one run of a Go test binary over ``selected`` of its tests.

    Always a -test.run filter, even for all of them: nothing runs that no item reports on.
    ``serial`` runs t.Parallel tests one at a time (to find which one took a process down).
    ``-test.paniconexit0`` as ``go test`` passes it: os.Exit(0) inside a test panics ("unexpected
    call to os.Exit(0) during test") instead of ending the process as if all was well.
    """
    run = "-test.run=^(" + "|".join(re.escape(t) for t in selected) + ")$"
    return ["-test.paniconexit0", "-test.v=test2json", "-test.count=1", run,
            *(["-test.parallel=1"] if serial else [])]  # fmt: skip
