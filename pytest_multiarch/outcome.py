"""Per-test results parsed from a test binary's output, whatever the language."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["passed", "failed", "skipped"]


@dataclass
class TestOutcome:
    """One test's result inside a batch run (one process running many tests)."""

    name: str
    status: Status
    duration: float = 0.0
    output: str = ""  # what the test printed, subtests' lines included
    message: str = ""  # skip reason, or a one-line failure summary
    cached: bool = False  # reused from an earlier identical run (--arch-reuse-passed)
    flaky: int = 0  # failed runs before this passing one (--arch-reruns)
    first_failure: str = ""  # what the first failed run said, when flaky
    infra: str = ""  # the evidence that the emulator/infrastructure failed, not the test
    __test__ = False  # not a pytest test class, despite the name


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
