"""What Go and Rust test items share: one item per (test, architecture), run in batches."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import ExceptionInfo, TerminalRepr

from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import Executor, ExecutorUnavailable
from pytest_multiarch.outcome import TestOutcome, failure_headline
from pytest_multiarch.run import progress
from pytest_multiarch.run import xdist as distribution
from pytest_multiarch.session import get_state


class MultiarchFailure(Exception):
    """A test failed on an architecture; its output is the report."""


class ParamIdItem(pytest.Item):
    """An item named ``test[arch]`` whose node id pytest parses the way it parses its own.

    pytest 9 builds a child's structured id from its name as one opaque segment, while ids read
    back (``--lf``, ``--deselect``) are parsed with ``[arch]`` as parameters: the two must agree.
    """

    @classmethod
    def from_parent(cls, parent: pytest.Collector, **kw: Any) -> Any:
        kw.setdefault("nodeid", f"{parent.nodeid}::{kw['name']}")
        return super().from_parent(parent=parent, **kw)


class ArchItem(ParamIdItem):
    """A test of a compiled test binary, on one architecture.

    Subclasses say how to run a batch of tests (``run_batch``) and which batch they belong to
    (``batch_key``); every item of one batch shares one build and one process.
    """

    arch: Arch
    test_name: str
    batch_tests: list[str]
    outcome: TestOutcome | None = None
    batch_future: Future[object] | None = None  # shared by the items of a batch once scheduled
    source_path: Path | None = None  # where the test is defined, when the toolchain says
    source_line: int = 0  # 0-based, as pytest's reportinfo wants

    def setup_arch(self, arch: Arch, test_name: str) -> None:
        self.arch = arch
        self.test_name = test_name
        self.batch_tests = [test_name]
        self.user_properties.append(("arch", arch.name))
        self.keywords[arch.name] = True
        if self.config.pluginmanager.hasplugin("xdist"):
            # Marked at creation: xdist reads the groups in its own modifyitems hook, before ours.
            self.add_marker(pytest.mark.xdist_group(distribution.group_name(self.batch_key())))

    # --- what subclasses provide ---------------------------------------------------------
    def batch_key(self) -> Hashable:
        raise NotImplementedError

    def run_batch(self, tests: Sequence[str], executor: Executor) -> dict[str, TestOutcome]:
        raise NotImplementedError

    def selected(self) -> None:
        """Told once collection is final (after -k, --lf) that this item will run."""

    def prerequisite(self) -> Future[object] | None:
        """A build this item's batch needs first (started now if it is not yet), or None."""
        return None

    # --- shared behaviour ----------------------------------------------------------------
    def executor(self) -> Executor:
        return get_state(self.config).executor(self.arch)

    def runnable(self) -> bool:
        try:
            self.executor()
        except ExecutorUnavailable:
            return False
        return True

    def schedule(self) -> Future[object]:
        """Start this item's batch in the background (once per batch); its future."""
        if self.batch_future is not None:
            return self.batch_future
        state = get_state(self.config)
        executor = self.executor()
        tests = list(self.batch_tests)
        key = self.batch_key()

        def work() -> object:
            return self.run_batch(tests, executor)

        label = f"{self.parent.name if self.parent else self.path.name} on {self.arch.name}"
        return state.scheduler.submit(key, work, after=self.prerequisite(), label=label)

    def wait(self) -> Any:
        """The batch's results; a progress line every few seconds while they are not there."""
        fut = self.schedule()
        state = get_state(self.config)
        every = state.settings.progress_every
        if progress.reporter(self.config, every) is None:
            return fut.result()
        start = time.monotonic()
        while True:
            try:
                return fut.result(timeout=every)
            except concurrent.futures.TimeoutError:
                waited = time.monotonic() - start
                line = state.scheduler.progress.line(f"{self.test_name} on {self.arch.name}", waited)
                progress.say(self.config, line, every)

    def setup(self) -> None:
        try:
            self.executor()
        except ExecutorUnavailable as exc:
            skip_or_fail(self.config, str(exc), named=exc.named)

    def runtest(self) -> None:
        try:
            results: Any = self.wait()
        except ExecutorUnavailable as exc:  # e.g. a dynamic binary whose loader no sysroot holds
            skip_or_fail(self.config, str(exc), named=exc.named)
            raise
        outcome: TestOutcome | None = results.get(self.test_name)
        if outcome is None:
            raise MultiarchFailure(f"{self.test_name} on {self.arch.name}: no result was reported")
        self.outcome = outcome
        if outcome.cached:
            self.user_properties.append(("cached", True))
        if outcome.flaky:
            self.user_properties += [("flaky", outcome.flaky), ("flaky_first_failure", outcome.first_failure)]
            self.add_report_section("call", "first failure (flaky)", outcome.first_failure)
        if outcome.infra:
            self.user_properties.append(("infra_error", outcome.infra))
        if outcome.status == "skipped":
            # Reported at the item (file and test name), not at this line of the plugin.
            raise pytest.skip.Exception(outcome.message or "skipped", _use_item_location=True)
        if outcome.status == "failed":
            if outcome.log:
                self.user_properties.append(("log", outcome.log))
            text = outcome.output.rstrip("\n")
            if outcome.log:
                err = outcome.log.removesuffix(".out") + ".err"
                has_err = os.path.exists(err) and os.path.getsize(err) > 0
                text += f"\n(the whole output: {outcome.log}" + (f"; its stderr: {err})" if has_err else ")")
            # The parser's or the batch's one-line verdict leads; the test's own output follows.
            headline = outcome.message or failure_headline(outcome) or "failed"
            raise MultiarchFailure(f"{self.test_name} on {self.arch.name}: {headline}\n{text}")
        if outcome.output:
            self.add_report_section("call", "output", outcome.output)

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, MultiarchFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, BuildFailed):
            return f"build failed for {self.arch.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.source_path or self.path, self.source_line, f"{self.test_name} [{self.arch.name}]"


class BuildFailed(Exception):
    """The test binary for this item could not be built; the compiler's message says why."""


def skip_or_fail(config: pytest.Config, reason: str, *, named: bool = False) -> None:
    """A missing toolchain or emulator: a skip that says so, or an error under --arch-strict.

    ``named``: the user named the tool (MULTIARCH_GO, CARGO, RUSTC, multiarch_cargo,
    MULTIARCH_QEMU_<ARCH>) and it does not work: always a failure, whose reason names the setting.
    """
    if named:
        pytest.fail(reason, pytrace=False)
    if get_state(config).settings.strict:
        pytest.fail(f"{reason} (an error because of --arch-strict)", pytrace=False)
    raise pytest.skip.Exception(reason, _use_item_location=True)


class UnavailableItem(ParamIdItem):
    """Stands in for the tests of a module/crate we cannot even list (no toolchain): a skip, or
    a failure when the missing tool is one the user ``named`` (see skip_or_fail)."""

    def __init__(self, *, reason: str, arch: Arch, named: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason
        self.named = named
        self.user_properties.append(("arch", arch.name))

    def runtest(self) -> None:
        skip_or_fail(self.config, self.reason, named=self.named)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, self.name
