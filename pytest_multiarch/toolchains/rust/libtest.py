"""Rust: listing a libtest binary's tests, the arguments of a run, and turning libtest's JSON
events into per-test outcomes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_multiarch import executors, proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.outcome import DEFAULT_OUTPUT_LIMIT, Clip, ParsedRun, TestOutcome
from pytest_multiarch.toolchains.rust.model import LIST_TIMEOUT, RUN_ENV, ListedTest, RustError

# The prefix every libtest JSON line starts with; lets us split off uncaptured text before it.
_JSON_START = '{ "type": "'
_LONG_LINE = 1 << 20  # an event line is never longer: a test's captured output is, in its "stdout"
_PANIC_AT = re.compile(r"^thread '(?P<thread>[^']*)'(?: \(\d+\))? panicked at (?P<where>.*?):?$")


def list_tests_detailed(
    binary: str | os.PathLike[str],
    arch: Arch,
    executor: executors.Executor,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = LIST_TIMEOUT,
) -> list[ListedTest]:
    """Every test with its ignore reason and source line, from one emulated run when libtest
    can list as JSON (seen with 1.85), else from two terse listings (all, then ignored only)."""
    run_env = proc.base_env(RUN_ENV) if env is None else {**env, **RUN_ENV}
    where = Path(binary).parent if cwd is None else cwd

    def run(args: list[str]) -> str:
        request = executors.RunRequest(binary, tuple(args), arch, executor, run_env, where, timeout)
        res = executors.run(request)
        if not res.proc.ok:
            raise RustError(f"listing the tests of {binary} failed: {executors.RunFailed(res)}")
        return res.stdout

    # One emulated start gives names, ignore reasons and source lines; an older libtest that
    # cannot list as JSON errors out or prints plain text, and the terse listings follow.
    json_list = ("-Z", "unstable-options", "--format", "json", "--list")
    res = executors.run(executors.RunRequest(binary, json_list, arch, executor, run_env, where, timeout))
    listed = parse_json_list(res.stdout) if res.proc.ok else None
    if listed is not None:
        return listed
    ignored = set(parse_terse_list(run(["--list", "--format", "terse", "--ignored"])))
    return [
        ListedTest(name, name in ignored) for name in parse_terse_list(run(["--list", "--format", "terse"]))
    ]


def parse_terse_list(text: str) -> list[str]:
    """Test names from `--list --format terse` (`name: test` lines; benchmarks left out)."""
    return [line[: -len(": test")] for line in text.splitlines() if line.endswith(": test")]


def parse_json_list(text: str) -> list[ListedTest] | None:
    """Tests from `--format json --list` "discovered" events; None when the output has none of
    libtest's discovery events (an older libtest that printed the plain list instead)."""
    tests: list[ListedTest] = []
    seen_suite = False
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("type") == "suite" and ev.get("event") == "discovery":
            seen_suite = True
        elif ev.get("type") == "test" and ev.get("event") == "discovered":
            tests.append(
                ListedTest(
                    name=str(ev["name"]),
                    ignored=bool(ev.get("ignore")),
                    ignore_reason=str(ev.get("ignore_message") or ""),
                    source_path=str(ev.get("source_path") or ""),
                    line=int(ev.get("start_line") or 0),
                )
            )
    return tests if seen_suite else None


# ---------------------------------------------------------------------------------------------
# Running


def test_args(selected: Sequence[str], all_tests: Sequence[str], serial: bool = False) -> list[str]:
    """Arguments for one run of a libtest binary over ``selected`` of its tests.

    Test threads as under ``cargo test``: libtest's default (``RUST_TEST_THREADS``, else one per
    CPU), so that tests sharing state behave as they do there. ``serial`` (one thread) is for
    finding which test took a process down when several were running (see batch.py), and makes
    uncaptured output (child processes, raw fd writes) belong to the one running test. Panics in
    threads a test spawns land in that test's output either way: libtest's capture is inherited
    by spawned threads. Ignored tests are not forced to run: they are reported skipped.
    """
    args = ["-Z", "unstable-options", "--format", "json", "--report-time", "--show-output"]
    if serial:
        args.append("--test-threads=1")
    if set(selected) != set(all_tests):
        args += ["--exact", *selected]  # several filters: a test runs when it matches any
    return args


class LibtestStream:
    """A StreamParser (outcome.py) for libtest JSON events (`-Z unstable-options --format
    json`), folded into per-test outcomes as the lines arrive.

    Text that is not a JSON event (printed past libtest's capture: raw writes to fd 1, child
    processes) joins the output of the one test running at the time, else ``ParsedRun.output``;
    both are clipped (outcome.Clip). stderr is not read here: batch.py adds the process's stderr
    to crash reports itself.
    """

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT, log: str = "") -> None:
        self.run = ParsedRun()
        self.limit, self.log = limit, log
        self._running: list[str] = []
        self._raw: dict[str, Clip] = {}
        self._loose = Clip(limit)
        self._pending = b""
        self._huge: _Ends | None = None

    def _uncaptured(self, text: str) -> None:
        if len(self._running) == 1:
            self._raw.setdefault(self._running[0], Clip(self.limit)).add(text)
        else:
            self._loose.add(text)

    def _line(self, line: str) -> None:
        start = line.find(_JSON_START)
        if start > 0:  # uncaptured text without a newline, then an event
            self._uncaptured(line[:start])
            line = line[start:]
        ev = _event(line) if start >= 0 else None
        if ev is None:
            self._uncaptured(line)
        else:
            self._event(ev)

    def _event(self, ev: Mapping[str, Any]) -> None:
        if ev.get("type") != "test" or not isinstance(ev.get("name"), str):
            return  # suite and bench events
        name, event = ev["name"], ev.get("event")
        if event == "started":
            if name not in self.run.started:
                self.run.started.append(name)
            self._running.append(name)
            return
        if event not in ("ok", "failed", "ignored"):
            return  # "timeout" is libtest's "running for over 60 s" note, not a result
        if name in self._running:
            self._running.remove(name)
        raw = self._raw.pop(name, None)
        self.run.outcomes[name] = _outcome(name, event, ev, raw.text(self.log) if raw else "")

    def feed(self, data: bytes) -> None:
        if self._huge is not None:  # inside an event line too long to hold: only its ends are kept
            end = data.find(b"\n") + 1
            self._huge.add(data[: end or len(data)])
            if not end:
                return
            self._huge_event(self._huge)
            self._huge, data = None, data[end:]
        buf = self._pending + data
        end = buf.rfind(b"\n") + 1
        for line in buf[:end].decode("utf-8", "replace").splitlines(keepends=True):
            self._line(line)
        self._pending = buf[end:]
        if len(self._pending) > _LONG_LINE:
            if self._pending.startswith(_JSON_START.encode()):  # a test's huge captured output
                self._huge = _Ends(self.limit)
                self._huge.add(self._pending)
            else:  # no event: uncaptured text, in pieces
                self._uncaptured(self._pending.decode("utf-8", "replace"))
            self._pending = b""

    def _huge_event(self, ends: _Ends) -> None:
        """An event whose ``"stdout"`` held more than we keep: its result, and the ends of it."""
        head, tail = ends.head.decode("utf-8", "replace"), ends.tail.decode("utf-8", "replace")
        name, event = _field(head, "name"), _field(head, "event")
        start = head.find('"stdout": "')
        stop = tail.rfind('" }')
        if name is None or event is None or start < 0 or stop < 0:
            self._uncaptured(head + f"[... {ends.cut} bytes cut ...]" + tail)
            return
        clip = Clip(self.limit)
        clip.add(_decode_fragment(head[start + len('"stdout": "') :], trim_end=True))
        clip.cut = ends.cut
        clip.add(_decode_fragment(tail[:stop], trim_end=False))
        exec_time = re.search(r'"exec_time": ([0-9.]+)', head)
        self._event({"type": "test", "name": name, "event": event,
                     "exec_time": float(exec_time[1]) if exec_time else 0.0})  # fmt: skip
        outcome = self.run.outcomes.get(name)
        if outcome is not None:
            outcome.output += clip.text(self.log)
            if outcome.status == "failed" and outcome.message == "failed":  # the panic is in the output
                outcome.message = panic_summary(outcome.output)

    def running(self) -> list[str]:
        return self.run.unfinished()

    def finish(self) -> ParsedRun:
        if self._pending:
            self._line(self._pending.decode("utf-8", "replace"))
            self._pending = b""
        for name in self.run.unfinished():
            raw = self._raw.get(name)
            self.run.partial[name] = raw.text(self.log) if raw else ""
        self.run.output = self._loose.text(self.log)
        return self.run


class _Ends:
    """The first and last bytes of a stream too long to keep, and how many were dropped."""

    def __init__(self, limit: int) -> None:
        self.head, self.tail, self.cut = b"", b"", 0
        self.head_limit, self.tail_limit = limit // 4, limit - limit // 4

    def add(self, data: bytes) -> None:
        room = self.head_limit - len(self.head)
        self.head, data = self.head + data[:room], data[max(room, 0) :]
        self.tail += data
        if len(self.tail) > self.tail_limit:
            self.cut += len(self.tail) - self.tail_limit
            self.tail = self.tail[-self.tail_limit :]


def _field(head: str, key: str) -> str | None:
    found = re.search(rf'"{key}": "((?:[^"\\]|\\.)*)"', head)
    return json.loads(f'"{found[1]}"') if found else None


def _decode_fragment(text: str, *, trim_end: bool) -> str:
    """A piece of a JSON string cut anywhere: decoded, less the escape sequence the cut split."""
    for drop in range(7):
        piece = text[: len(text) - drop] if trim_end else text[drop:]
        try:
            return str(json.loads(f'"{piece}"'))
        except ValueError:
            continue
    return text


def parse_libtest_json(stdout: bytes, stderr: bytes = b"") -> ParsedRun:
    """libtest JSON events → per-test outcomes, in one go (LibtestStream does it as it arrives)."""
    stream = LibtestStream()
    stream.feed(stdout)
    return stream.finish()


def _event(line: str) -> dict[str, Any] | None:
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None


def _outcome(name: str, event: str, ev: Mapping[str, Any], uncaptured: str) -> TestOutcome:
    duration = float(ev.get("exec_time") or 0.0)
    if event == "ignored":
        reason = str(ev.get("message") or "") or "ignored (#[ignore])"
        return TestOutcome(name, "skipped", duration, uncaptured, reason)
    output = uncaptured + str(ev.get("stdout") or "")
    if event == "ok":
        return TestOutcome(name, "passed", duration, output)
    # "message": a should_panic mismatch; "reason": e.g. "time limit exceeded" (--ensure-time).
    extra = [str(ev[k]) for k in ("message", "reason") if ev.get(k)]
    if extra:
        output = (output.rstrip("\n") + "\n" if output.strip() else "") + "\n".join(extra) + "\n"
    summary = extra[0].splitlines()[0] if extra else panic_summary(output)
    return TestOutcome(name, "failed", duration, output, summary)


def panic_summary(output: str) -> str:
    """`thread 'x' panicked at src/lib.rs:3:5: message` for the first panic: the root cause
    when a spawned thread's panic made the test's own join().unwrap() panic later."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _PANIC_AT.match(line)
        if m:
            if m["where"].startswith("'"):  # before Rust 1.73: `panicked at 'msg', file:line:col`
                return line.strip()
            message = lines[i + 1].strip() if i + 1 < len(lines) else ""
            head = f"thread '{m['thread']}' panicked at {m['where']}"
            return f"{head}: {message}" if message else head
    return "failed"
