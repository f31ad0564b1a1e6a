"""What long phases are doing, for pytest's terminal: builds and batches counted as the
scheduler runs them, and a line printed while a test waits for its batch (every
``MULTIARCH_PROGRESS_SECONDS``, default 10: the caller says), so that a cold build of many
architectures is never a silent minute. Quiet with ``-q``; xdist workers print nothing (their output is not
shown: the controller prints its own progress)."""

from __future__ import annotations

import threading
import time

import pytest
from _pytest.terminal import TerminalReporter  # pytest.TerminalReporter is pytest 8.4+


class Progress:
    """Counts of builds and batches, and what is running now (label → since), across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = {"build": [0, 0], "batch": [0, 0]}  # kind → [done, total]
        self.running: dict[tuple[str, str], float] = {}

    def queued(self, kind: str) -> None:
        with self._lock:
            self.counts[kind][1] += 1

    def started(self, kind: str, label: str) -> None:
        with self._lock:
            self.running[(kind, label)] = time.monotonic()

    def finished(self, kind: str, label: str) -> None:
        with self._lock:
            self.running.pop((kind, label), None)
            self.counts[kind][0] += 1

    def line(self, waiting: str, waited: float) -> str:
        """``multiarch: 12 s waiting for X; builds 2/8 (now: Y 9 s); batches 5/40 (now: ...)``."""
        now = time.monotonic()
        with self._lock:
            parts = [f"multiarch: {waited:.0f}s waiting for {waiting}"]
            for kind, (done, total) in self.counts.items():
                if not total:
                    continue
                current = [f"{label} {now - t:.0f}s" for (k, label), t in self.running.items() if k == kind]
                shown = ", ".join(current[:3]) + (", ..." if len(current) > 3 else "")
                noun = {"build": "builds", "batch": "batches"}[kind]
                parts.append(f"{noun} {done}/{total} done" + (f" (now: {shown})" if current else ""))
        return "; ".join(parts)


def reporter(config: pytest.Config, every: float) -> TerminalReporter | None:
    """pytest's terminal reporter when progress lines should be printed (``every``: seconds
    between them; 0 or less: none, as with -q and on xdist workers), else None."""
    if every <= 0:
        return None
    tr = config.pluginmanager.get_plugin("terminalreporter")
    return tr if isinstance(tr, TerminalReporter) else None


def say(config: pytest.Config, line: str, every: float) -> None:
    """Print ``line`` on the terminal now, past pytest's output capture (a test's, or
    collection's): as pytest's live logging does."""
    tr = reporter(config, every)
    if tr is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    if capman is None:
        tr.write_line(line)
        return
    with capman.global_and_fixture_disabled():
        tr.write_line(line)
