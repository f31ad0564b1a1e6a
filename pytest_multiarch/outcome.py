"""Per-test results parsed from a test binary's output, whatever the language."""

from __future__ import annotations

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
