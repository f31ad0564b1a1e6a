"""Opt-in reuse of passed results (``--arch-reuse-passed``).

Go turns its test cache off under ``-exec`` (golang/go#27207); emulated runs are the slow part of
a re-run. A batch's result is remembered under a key of everything that decides it: the test
binary's contents, the architecture, the executor and its emulator (path and version), the exact
arguments (which tests), the working directory and the environment. When every test of a batch
passed (or skipped) last time under the same key, the batch is not run again.

What the key cannot see: files the tests read at run time (testdata, network, clocks). That is
why this is off by default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_multiarch.cache.store import BuildCache, key
from pytest_multiarch.executors.base import RunRequest
from pytest_multiarch.outcome import TestOutcome, kept_record, replayed

SCHEMA = 1
# Variables that change from one shell or run to the next without changing what a test does.
VOLATILE = ("PYTEST_", "PYTEST_XDIST_", "OLDPWD", "PWD", "SHLVL", "_", "TERM", "COLUMNS", "LINES",
            "SSH_", "DISPLAY", "WINDOWID", "XDG_SESSION", "XDG_RUNTIME_DIR", "TMUX", "STY", "LS_COLORS",
            "GITHUB_RUN", "GITHUB_JOB", "GITHUB_ACTION", "CI_JOB", "CI_PIPELINE", "RUNNER_")  # fmt: skip


def _stable(env: Mapping[str, str]) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in env.items() if not any(k == p or k.startswith(p) for p in VOLATILE))


@dataclass(frozen=True)
class ReuseStore:
    cache: BuildCache
    enabled: bool

    def key(self, r: RunRequest) -> str:
        """The request's key: its executor by its description (which names the emulator and
        its version), not its name."""
        return key("result", SCHEMA, self.cache.file_digest(r.binary), r.arch.name,
                   r.executor.describe(r.arch), list(r.args), _stable(r.env), os.fspath(r.cwd))  # fmt: skip

    def lookup(self, k: str, tests: Sequence[str]) -> dict[str, TestOutcome] | None:
        """The remembered outcomes of ``tests`` if they all passed or skipped."""
        return replayed(self.cache.read_record(k), tests)

    def remember(self, k: str, outcomes: Mapping[str, TestOutcome]) -> None:
        """Keep a batch's outcomes when none failed (a failure is always run again)."""
        if any(o.status == "failed" for o in outcomes.values()):
            return
        self.cache.write_record(k, kept_record(outcomes))
