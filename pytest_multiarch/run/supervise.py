"""One process of a test binary, supervised: its output streamed to log files and decoded as it
arrives (memory stays bounded whatever it prints), each running test timed against the per-test
limit, and the process stopped (SIGQUIT first for Go: the goroutine dump) when a limit expires."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pytest_multiarch import executors, proc
from pytest_multiarch.outcome import DEFAULT_OUTPUT_LIMIT, Clip, ParsedRun, StreamParser

NewParser = Callable[[int, str], StreamParser]  # (characters kept per test, log path) → parser
STDERR_KEPT = 16_000  # characters of a process's stderr kept for crash reports (its tail)
_serial = itertools.count(1)


class PlainStream:
    """A StreamParser for a program that is one test (a Rust ``harness = false`` target): its
    output clipped, and itself running as ``name`` for the per-test limit."""

    def __init__(self, name: str, limit: int = DEFAULT_OUTPUT_LIMIT, log: str = "") -> None:
        self.name, self.log, self.clip = name, log, Clip(limit)

    def feed(self, data: bytes) -> None:
        self.clip.add(data.decode("utf-8", "replace"))

    def running(self) -> list[str]:
        return [self.name]

    def finish(self) -> ParsedRun:
        return ParsedRun(output=self.clip.text(self.log))


@dataclass(frozen=True)
class Limits:
    """What one batch of tests may use: seconds (already scaled for its executor and arch; 0:
    no limit), characters of output kept per test, and where the whole output goes."""

    batch: float = 0.0
    test: float = 0.0
    quit_first: bool = False  # Go binaries: SIGQUIT first, so the report has every goroutine
    output: int = DEFAULT_OUTPUT_LIMIT
    logs: Path | None = None  # None: output in memory (short runs such as listings)
    explain: str = ""  # how the limits were reached, e.g. "--arch-test-timeout 10 s x 14 for arm64"


@dataclass
class Attempt:
    """What one process of the binary left: its result, its decoded output, the tail of its
    stderr, the test the per-test limit stopped ("" if none) and its log files' stem."""

    run: executors.RunResult
    parsed: ParsedRun
    stderr: str
    expired: str = ""
    log: str = ""  # "<stem>.out" holds stdout, "<stem>.err" stderr; "" when not on disk

    @property
    def out_log(self) -> str:
        """The file with the process's whole stdout ("" when it was not on disk)."""
        return f"{self.log}.out" if self.log else ""

    def stderr_blocks(self, name: str, limit: int = STDERR_KEPT) -> str:
        """From the whole of stderr (read from its log file in pieces, so any size): its first
        block (Go's ``fatal error: ...``, ``SIGQUIT: quit``, ``panic: ...``) and the blocks that
        mention ``name`` as a function (the test's own goroutine in a dump of thousands); ""
        when none does."""
        header, mine, size = "", [], 0
        blocks = _blocks(Path(self.log + ".err")) if self.log else iter(self.stderr.split("\n\n"))
        for i, block in enumerate(blocks):
            if i == 0:
                header = block[:2000]
            elif f".{name}(" in block and size < limit:
                mine.append(block[: limit - size])
                size += len(mine[-1])
        return "\n\n".join([header.strip(), *mine]) if mine else ""

    def remove_log(self) -> None:
        if not self.log:
            return
        for suffix in (".out", ".err"):
            Path(self.log + suffix).unlink(missing_ok=True)


class _Follower:
    """Reads a growing output file into the parser; reports a test over the per-test limit."""

    def __init__(self, path: Path, parser: StreamParser, limit: float) -> None:
        self.path, self.parser, self.limit = path, parser, limit
        self.file: BinaryIO | None = None
        self.started: dict[str, float] = {}  # running test → when we first saw it running
        self.expired = ""

    def read(self, budget: int = 8 << 20) -> bool:
        """Feed what was written since the last call (at most ``budget`` bytes); more left?"""
        if self.file is None:
            try:
                self.file = open(self.path, "rb")  # noqa: SIM115 (closed in read_all)
            except FileNotFoundError:
                return False
        taken = 0
        while taken < budget:
            data = self.file.read(1 << 20)
            if not data:
                return False
            self.parser.feed(data)
            taken += len(data)
        return True

    def check(self) -> str | None:
        self.read()
        if not self.limit:
            return None
        now = time.monotonic()
        running = self.parser.running()
        self.started = {name: self.started.get(name, now) for name in running}
        for name, since in self.started.items():
            if now - since > self.limit:
                self.expired = name
                return f"{name} ran for more than {self.limit:.0f} s"
        return None

    def read_all(self) -> None:
        while self.read():
            pass
        if self.file is not None:
            self.file.close()


def attempt(request: executors.RunRequest, *, limits: Limits, new_parser: NewParser) -> Attempt:
    """Run ``request`` once within ``limits`` (its own timeout and supervision are replaced)."""
    if limits.logs is None:
        run = executors.run(dataclasses.replace(request, timeout=limits.batch, supervision=None))
        parser = new_parser(limits.output, "")
        parser.feed(run.stdout_bytes)
        return Attempt(run, parser.finish(), run.stderr[-STDERR_KEPT:])
    limits.logs.mkdir(parents=True, exist_ok=True)
    stem = str(limits.logs / f"{Path(request.binary).name}-{request.arch.name}-{os.getpid()}-{next(_serial)}")
    capture = proc.Capture(Path(stem + ".out"), Path(stem + ".err"))
    parser = new_parser(limits.output, str(capture.stdout))
    follower = _Follower(capture.stdout, parser, limits.test)
    first = signal.SIGQUIT if limits.quit_first else signal.SIGTERM
    supervision = proc.Supervision(capture, follower.check, first)
    run = executors.run(dataclasses.replace(request, timeout=limits.batch, supervision=supervision))
    follower.read_all()
    return Attempt(run, parser.finish(), _tail(capture.stderr), follower.expired, stem)


def _tail(path: Path) -> str:
    """The last STDERR_KEPT characters of a file (with a note when there was more)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(size - STDERR_KEPT, 0))
            data = f.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace")
    cut = size - len(data)
    return f"[... {cut} bytes of stderr before this; all of it is in {path} ...]\n{text}" if cut else text


def _blocks(path: Path, piece: int = 1 << 16, longest: int = 1 << 16) -> Iterator[str]:
    """The blank-line separated blocks of a file, read in pieces (a block longer than
    ``longest`` characters is cut there)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return
    with f:
        pending = ""
        while data := f.read(piece):
            pending += data.decode("utf-8", "replace")
            *done, pending = pending.split("\n\n")
            yield from done
            pending = pending[-longest:]
        if pending:
            yield pending

