"""Per-test results parsed from a test binary's output, whatever the language."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pytest_multiarch.errors import MultiarchError

Status = Literal["passed", "failed", "skipped"]


@dataclass
class TestOutcome:
    """One test's result inside a batch run (one process running many tests)."""

    name: str
    status: Status
    duration: float = 0.0
    output: str = ""  # what the test printed, subtests' lines included
    message: str = ""  # skip reason, or a one-line failure summary
    cached: bool = False  # replayed from an earlier run (Go's test-result cache, --arch-reuse-passed)
    flaky: int = 0  # failed runs before this passing one (--arch-reruns)
    first_failure: str = ""  # what the first failed run said, when flaky
    infra: str = ""  # the evidence that the emulator/infrastructure failed, not the test
    log: str = ""  # the file holding the whole output of the process this came from, when kept
    __test__ = False  # not a pytest test class, despite the name


KEPT = ("status", "duration", "output", "message")  # what a kept (cached) outcome records


def kept_record(outcomes: Mapping[str, TestOutcome]) -> dict[str, dict[str, object]]:
    """Outcomes as a result cache keeps them (JSON), for ``replayed``."""
    return {n: {k: getattr(o, k) for k in KEPT} for n, o in outcomes.items()}


def replayed(record: object, tests: Sequence[str]) -> dict[str, TestOutcome] | None:
    """The kept outcomes of ``tests`` from a ``kept_record``, marked cached, when every one of
    them passed or skipped; None otherwise (a failure, a test not kept, a damaged record)."""
    if not isinstance(record, dict):
        return None
    found = {}
    for name in tests:
        o = record.get(name)
        if not isinstance(o, dict) or o.get("status") not in ("passed", "skipped"):
            return None
        status: Status = "passed" if o["status"] == "passed" else "skipped"
        output, message = str(o.get("output", "")), str(o.get("message", ""))
        found[name] = TestOutcome(name, status, float(o.get("duration", 0.0)), output, message, cached=True)
    return found


DEFAULT_OUTPUT_LIMIT = 1 << 20  # characters of output kept per test (head and tail); the rest on disk


class Clip:
    """Text kept whole up to ``limit`` characters; beyond that its head (a quarter of the limit)
    and tail (the rest), and how much was cut between them. Memory stays bounded whatever is
    added: a test printing 100 MB keeps ``limit`` characters here (the log file has it all)."""

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.head_limit, self.tail_limit = limit // 4, limit - limit // 4
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self.cut = 0  # characters dropped between head and tail

    def add(self, text: str) -> None:
        if self._head_len < self.head_limit:
            take = text[: self.head_limit - self._head_len]
            self._head.append(take)
            self._head_len += len(take)
            text = text[len(take) :]
        if not text:
            return
        self._tail.append(text)
        self._tail_len += len(text)
        while self._tail_len > self.tail_limit:
            extra = self._tail_len - self.tail_limit
            first = self._tail[0]
            if len(first) <= extra:
                self._tail.popleft()
                self._tail_len -= len(first)
                self.cut += len(first)
            else:
                self._tail[0] = first[extra:]
                self._tail_len -= extra
                self.cut += extra

    def text(self, where: str = "") -> str:
        """The kept text, with a line saying what was cut (and where the whole of it is)."""
        head, tail = "".join(self._head), "".join(self._tail)
        if not self.cut:
            return head + tail
        note = f"[... {self.cut} characters cut{f'; the whole output is in {where}' if where else ''} ...]"
        return f"{head}{'' if head.endswith(chr(10)) else chr(10)}{note}\n{tail}"


class StreamParser(Protocol):
    """Turns a test binary's stdout into outcomes as it arrives (any chunking), in bounded
    memory: ``feed`` while it runs, ``running`` for the tests started and not finished (for
    per-test timeouts), ``finish`` once the process is gone."""

    def feed(self, data: bytes) -> None: ...

    def running(self) -> list[str]: ...

    def finish(self) -> ParsedRun: ...


@dataclass
class ParsedRun:
    """What one process of a test binary told us."""

    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)  # started, in order, finished or not
    partial: dict[str, str] = field(default_factory=dict)  # output of tests that never finished
    output: str = ""  # everything that belongs to no test (package-level lines, panics)

    def unfinished(self) -> list[str]:
        return [name for name in self.started if name not in self.outcomes]


# The line that says why a test failed: Go's `file_test.go:12: message`, a Go panic, or where a
# Rust test panicked (its message follows on the next line).
_GO_LOG = re.compile(r"^\s+(\S+_test\.go:\d+: .*)$")
_PANIC = re.compile(r"^(panic: .*)$|^thread '.*' panicked at (.*)$")


def failure_headline(outcome: TestOutcome) -> str:
    """The first line in a test's output that says why it failed ("" when none does)."""
    lines = outcome.output.splitlines()
    for i, line in enumerate(lines):
        if m := _GO_LOG.match(line):
            return m.group(1)
        if m := _PANIC.match(line):
            if m.group(1):
                return m.group(1)
            follow = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return f"panicked at {m.group(2)} {follow}".strip()
    return ""


# What a cell tells its report besides passed/failed/skipped travels as pytest's user_properties:
# pytest writes them to the JUnit XML and xdist carries them to the controller. Their keys, named
# here once; the report reads them back with CellProps.from_properties.
ARCH = "arch"
CACHED = "cached"
FLAKY = "flaky"
FLAKY_FIRST_FAILURE = "flaky_first_failure"
INFRA_ERROR = "infra_error"
LOG = "log"

Properties = list[tuple[str, object]]


def add_arch(properties: Properties, arch: str) -> None:
    """Say which architecture a test item runs for: the report's column, JUnit's ``arch``."""
    properties.append((ARCH, arch))


def arch_of(properties: Iterable[tuple[str, object]]) -> str | None:
    """The architecture ``add_arch`` gave an item or its report, or None."""
    value = dict(properties).get(ARCH)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class CellProps:
    """A cell's facts beyond its status: reused, flaky, an infra error, where its log is."""

    cached: bool = False
    flaky: int = 0  # failed runs before the one that passed; 0 = not flaky
    first_failure: str = ""  # what the first failed run said, when flaky
    infra_error: str = ""  # the evidence that the emulator failed, not the test
    log: str = ""  # the whole output of a failed test's process

    @classmethod
    def from_outcome(cls, outcome: TestOutcome) -> CellProps:
        log = outcome.log if outcome.status == "failed" else ""
        return cls(outcome.cached, outcome.flaky, outcome.first_failure, outcome.infra, log)

    def to_properties(self) -> Properties:
        """The user_properties, in the order the JUnit XML has always listed them."""
        props: Properties = [(CACHED, True)] if self.cached else []
        if self.flaky:
            props += [(FLAKY, self.flaky), (FLAKY_FIRST_FAILURE, self.first_failure)]
        if self.infra_error:
            props.append((INFRA_ERROR, self.infra_error))
        if self.log:
            props.append((LOG, self.log))
        return props

    @classmethod
    def from_properties(cls, properties: Iterable[tuple[str, object]]) -> CellProps:
        props = dict(properties)
        flaky, first, infra = props.get(FLAKY, 0), props.get(FLAKY_FIRST_FAILURE), props.get(INFRA_ERROR)
        return cls(
            cached=props.get(CACHED) is True,
            flaky=flaky if isinstance(flaky, int) else 0,
            first_failure=first if isinstance(first, str) else "",
            infra_error=infra if isinstance(infra, str) else "",
            log=str(props.get(LOG, "")),
        )


class MultiarchFailure(MultiarchError):
    """A test failed on an architecture: its ``verdict`` (the one line its report cell says) and
    the test's output, which together are the failure's report."""

    def __init__(self, verdict: str, details: str | None = None) -> None:
        text = verdict if details is None else f"{verdict}\n{details}"
        super().__init__(text)
        # The first line of the report pytest prints (it strips the text), carried as data.
        self.verdict = (text.strip().splitlines() or [""])[0]
