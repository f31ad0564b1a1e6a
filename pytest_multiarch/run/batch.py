"""Running many tests of one binary in one (emulated) process, and surviving its death.

Emulated start-up costs 60-90 ms, so each test binary runs once per architecture for all its
selected tests. If that process hangs or crashes, the tests that finished keep their results,
the test(s) running at the time are blamed, and the rest run again in a fresh process.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pytest_multiarch import executors
from pytest_multiarch.outcome import TestOutcome, failure_headline
from pytest_multiarch.run import blame as infra
from pytest_multiarch.run.progress import Progress
from pytest_multiarch.run.reuse import ReuseStore
from pytest_multiarch.run.supervise import Attempt, Limits, NewParser, attempt
from pytest_multiarch.run.testcache import GoTestCache

T = TypeVar("T")
TESTLOG_ARG = "-test.testlogfile="

ArgsFor = Callable[[Sequence[str], bool], list[str]]  # (tests, serial) → arguments
# Why a process that exited with status 0 left tests without a result (see run_tests).
ENDED_THE_PROCESS = (
    "the test (or code it calls) ended the process (os.Exit or syscall.Exit in Go, "
    "std::process::exit in Rust), or closed its standard output so that its result was lost"
)
NEVER_STARTED = (
    "(it never started: the process ended before running it, e.g. a Go TestMain that calls "
    "os.Exit without m.Run)"
)


@dataclass(frozen=True)
class Batch:
    """One test binary on one architecture, and how to run and read it."""

    request: executors.RunRequest  # binary, arch, executor, env, cwd; args from args_for
    args_for: ArgsFor
    new_parser: NewParser
    limits: Limits = field(default_factory=Limits)

    def run_request(self, tests: Sequence[str], serial: bool) -> executors.RunRequest:
        """The request that runs ``tests`` (one at a time with ``serial``)."""
        return self.request.with_args(self.args_for(tests, serial))


def run_tests(
    b: Batch,
    tests: Sequence[str],
    *,
    reuse: ReuseStore | None = None,
    testcache: GoTestCache | None = None,
    serial: bool = False,
    reruns: int = 0,
) -> dict[str, TestOutcome]:
    """Run ``tests`` of the batch's binary; every name in ``tests`` gets an outcome.

    With ``testcache`` (Go), a batch whose run passed before and whose logged inputs are unchanged
    is not run (see run/testcache.py); each process writes a test log, and a batch that passed in
    one process is kept with it. With ``reuse`` enabled (--arch-reuse-passed), a batch whose
    identical run passed before is not run (see run/reuse.py), and a batch run without failures
    is remembered. ``serial`` asks the binary to run one test at a time.
    A test that fails runs again alone up to ``reruns`` times; if it then passes, it is flaky.
    The log files of processes whose tests all passed are removed; the others are named in the
    failed outcomes (``TestOutcome.log``).
    """
    remembered = None
    if reuse is not None and reuse.enabled:  # hashing the binary is for --arch-reuse-passed only
        remembered = reuse.key(b.run_request(tests, False))
        found = reuse.lookup(remembered, tests)
        if found is not None:
            return found
    if testcache is not None:
        found = testcache.lookup(b.run_request(tests, serial), tests)
        if found is not None:
            return found
    results: dict[str, TestOutcome] = {}
    attempts: list[Attempt] = []
    testlogs: list[Path] = []
    started = time.time()
    remaining = list(tests)
    while remaining:
        request = b.run_request(remaining, serial)
        if testcache is not None:
            testlogs.append(testcache.log_path())
            request = request.with_args([f"{TESTLOG_ARG}{testlogs[-1]}", *request.args])
            request = request.writing(testlogs[-1].parent)
        att = attempt(request, limits=b.limits, new_parser=b.new_parser)
        attempts.append(att)
        run, parsed = att.run, att.parsed
        for name in remaining:
            if name in parsed.outcomes:
                results[name] = parsed.outcomes[name]
                results[name].log = att.out_log
        rest = [n for n in remaining if n not in results]
        if not rest:
            break
        how = run.proc.describe_exit()
        reproduce = _without_testlog(run.invocation).shell_line()
        culprits = [n for n in parsed.unfinished() if n in rest]

        def fail(name: str, message: str, duration: float = run.duration, att: Attempt = att) -> None:
            stacks = att.stderr_blocks(name)
            out = att.parsed.partial.get(name, "")
            out += f"{stacks}\n\n[... the end of stderr: ...]\n" if stacks else ""
            out += _tail(att.parsed.output + att.stderr)
            results[name] = TestOutcome(name, "failed", duration, out, message, log=att.out_log)

        blame = "" if run.proc.timed_out else infra.evidence(parsed.output + att.stderr)
        if blame:  # the emulator or what runs it failed, not these tests
            for name in rest:
                fail(name, f"infra error, not a test failure: {blame} (reproduce: {reproduce})")
                results[name].infra = blame
            break
        if att.expired in rest:  # over the per-test limit: that test is blamed, the others run again
            under = b.request.executor.describe(b.request.arch)
            fail(att.expired, f"timed out after {b.limits.test:.0f} s under {under} "
                 f"({b.limits.explain or 'per-test limit'}); the test process was stopped "
                 f"(reproduce: {reproduce})")  # fmt: skip
            remaining = [n for n in rest if n != att.expired]
            continue
        if len(culprits) > 1 and not run.proc.timed_out:
            # Several tests were running in parallel when the process died: each runs again alone,
            # so that the one that takes the process down is the one blamed.
            alone = {name: run_tests(b, [name], serial=True)[name] for name in culprits}
            if any(o.status == "failed" for o in alone.values()):
                results.update(alone)
            else:  # only together do they crash: no single culprit, say so
                together = ", ".join(culprits)
                for name in culprits:
                    fail(name, f"the test process {how} while {together} were running in parallel; "
                         f"each passes alone (reproduce: {reproduce})")  # fmt: skip
            remaining = [n for n in rest if n not in culprits]
            continue
        exited_ok = run.proc.returncode == 0 and not run.proc.timed_out
        if not culprits:
            # Died before any of these started (or exited early without a word about them): even
            # an exit with status 0 is no verdict (a TestMain that never calls m.Run does that).
            why = f" {NEVER_STARTED}" if exited_ok else ""
            for name in rest:
                fail(name, f"the test process {how} before this test reported a result{why} "
                     f"(reproduce: {reproduce})", duration=0.0)  # fmt: skip
            break
        # A test that started and never reported is never passed, whatever the exit status: with
        # status 0, the test (or code it calls) ended the process (Go's os.Exit(0) panics under
        # -test.paniconexit0, but syscall.Exit(0) does not; Rust's std::process::exit(0) exits).
        why = f", before it reported a result: {ENDED_THE_PROCESS}" if exited_ok else ""
        for name in culprits:
            fail(name, f"the test process {how} while this test was running{why} (reproduce: {reproduce})")
        remaining = [n for n in rest if n not in culprits]  # a fresh process for the rest
    failed = [n for n in tests if results[n].status == "failed" and not results[n].infra]
    for name in failed if reruns else []:
        first = results[name]
        for count in range(1, reruns + 1):
            again = run_tests(b, [name], serial=True)[name]
            if again.status == "passed":
                again.flaky = count
                again.first_failure = first.message or failure_headline(first) or _first_line(first.output)
                results[name] = again
                break
    kept = {o.log for o in results.values() if o.status == "failed"}
    for att in attempts:
        if att.out_log not in kept:
            att.remove_log()
    for o in results.values():
        o.log = o.log if o.status == "failed" else ""
    if reuse is not None and remembered is not None and not any(o.flaky for o in results.values()):
        reuse.remember(remembered, results)
    if testcache is not None and len(testlogs) == 1:  # one process ran them all: its log says what they read
        testcache.remember(b.run_request(tests, serial), results, testlogs[0], started)
    for log in testlogs:
        log.unlink(missing_ok=True)
    return results


def _without_testlog(invocation: executors.Invocation) -> executors.Invocation:
    """The invocation as a user would paste it: without the test log argument, which only feeds
    Go's result cache (run/testcache.py)."""
    def keep(args: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a for a in args if not a.startswith(TESTLOG_ARG))

    return dataclasses.replace(invocation, argv=keep(invocation.argv), command=keep(invocation.command))


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


class Once(Generic[T]):
    """Compute a value per key at most once, across threads (builds shared by batches)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Hashable, Future[T]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            fut = self._futures.get(key)
            owner = fut is None
            if fut is None:
                fut = self._futures[key] = Future()
        if owner:
            try:
                fut.set_result(compute())
            except BaseException as exc:
                fut.set_exception(exc)
        return fut.result()


class Scheduler:
    """Runs builds and batches ahead of pytest's item-by-item reporting, on every core.

    Builds run one at a time on a lane of their own (the compilers use every core themselves);
    a batch that needs a build is queued only once that build is done, so batch workers never
    sit waiting on a compiler while another batch could run.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=workers or os.cpu_count() or 2, thread_name_prefix="multiarch"
        )
        self._build_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="multiarch-build")
        self._futures: dict[Hashable, Future[object]] = {}
        self._lock = threading.Lock()
        self.progress = Progress()

    def build(self, key: Hashable, work: Callable[[], object], label: str = "") -> Future[object]:
        """Run ``work`` on the build lane, once per key; its future."""
        with self._lock:
            fut = self._futures.get(("build", key))
            if fut is None:
                fut = self._futures[("build", key)] = self._build_lane.submit(
                    self._tracked("build", label or str(key), work)
                )
            return fut

    def _tracked(self, kind: str, label: str, work: Callable[[], object]) -> Callable[[], object]:
        self.progress.queued(kind)

        def run() -> object:
            self.progress.started(kind, label)
            try:
                return work()
            finally:
                self.progress.finished(kind, label)

        return run

    def submit(
        self, key: Hashable, work: Callable[[], object], after: Future[object] | None = None, label: str = ""
    ) -> Future[object]:
        """Run ``work`` once per key on the pool, once ``after`` (a build) is done."""
        with self._lock:
            fut = self._futures.get(key)
            if fut is not None:
                return fut
            work = self._tracked("batch", label or str(key), work)
            if after is None:
                fut = self._futures[key] = self._pool.submit(work)
                return fut
            fut = self._futures[key] = Future()
        proxy = fut

        def start(_: Future[object]) -> None:
            try:
                inner = self._pool.submit(work)
            except RuntimeError as exc:  # the pool was shut down: the session is over
                proxy.set_exception(exc)
                return
            inner.add_done_callback(lambda done: _copy(done, proxy))

        after.add_done_callback(start)
        return fut

    def finish_builds(self) -> None:
        """Let the build that is running end, and drop the queued ones: at the normal end of an
        xdist worker's session, the build it started still serves the other workers (they wait
        on its lock, then reuse what it built)."""
        self._build_lane.shutdown(wait=True, cancel_futures=True)

    def shutdown(self) -> None:
        self._build_lane.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _copy(source: Future[object], target: Future[object]) -> None:
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())
