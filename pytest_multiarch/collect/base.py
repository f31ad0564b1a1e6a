"""What Go and Rust test items share: one item per (test, architecture), run in batches."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, NoReturn

import pytest
from _pytest._code.code import ExceptionInfo, TerminalRepr

from pytest_multiarch import errors
from pytest_multiarch.arch import Arch
from pytest_multiarch.errors import MultiarchError
from pytest_multiarch.executors import Executor, ExecutorUnavailable
from pytest_multiarch.outcome import CellProps, MultiarchFailure, TestOutcome, add_arch, failure_headline
from pytest_multiarch.run import progress
from pytest_multiarch.run import xdist as distribution
from pytest_multiarch.state import get_state


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
        add_arch(self.user_properties, arch.name)
        self.keywords[arch.name] = True
        if get_state(self.config).settings.xdist_worker:
            # Marked at creation: xdist reads the groups in its own modifyitems hook, before ours,
            # on its workers only (the one kind of process that collects under -n).
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

    def why_not_runnable(self) -> ExecutorUnavailable | None:
        """Why ``arch`` cannot run here (no executor), or None when it can."""
        found = get_state(self.config).choose_executor(self.arch)
        return found if isinstance(found, ExecutorUnavailable) else None

    def runnable(self) -> bool:
        return self.why_not_runnable() is None

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

    def cannot_run(self, exc: ExecutorUnavailable) -> BaseException:
        """What ``arch`` not running here becomes (errors.py): raise it ``from None``, so that the
        report shows the reason alone, not also the exception it replaces."""
        return errors.verdict(exc, strict=get_state(self.config).settings.strict).exception()

    def setup(self) -> None:
        unavailable = self.why_not_runnable()
        if unavailable is not None:
            raise self.cannot_run(unavailable)

    def runtest(self) -> None:
        try:
            results: Any = self.wait()
        except ExecutorUnavailable as exc:  # e.g. a dynamic binary whose loader no sysroot holds
            raise self.cannot_run(exc) from None
        outcome: TestOutcome | None = results.get(self.test_name)
        if outcome is None:
            raise MultiarchFailure(f"{self.test_name} on {self.arch.name}: no result was reported")
        self.outcome = outcome
        self.user_properties += CellProps.from_outcome(outcome).to_properties()
        if outcome.flaky:
            self.add_report_section("call", "first failure (flaky)", outcome.first_failure)
        if outcome.status == "skipped":
            # Reported at the item (file and test name), not at this line of the plugin.
            raise pytest.skip.Exception(outcome.message or "skipped", _use_item_location=True)
        if outcome.status == "failed":
            text = outcome.output.rstrip("\n")
            if outcome.log:
                err = outcome.log.removesuffix(".out") + ".err"
                has_err = os.path.exists(err) and os.path.getsize(err) > 0
                text += f"\n(the whole output: {outcome.log}" + (f"; its stderr: {err})" if has_err else ")")
            # The parser's or the batch's one-line verdict leads; the test's own output follows.
            headline = outcome.message or failure_headline(outcome) or "failed"
            raise MultiarchFailure(f"{self.test_name} on {self.arch.name}: {headline}", text)
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


class BuildFailed(MultiarchError):
    """The test binary for this item could not be built; the compiler's message says why."""


def skip_or_fail(config: pytest.Config, reason: str, *, named: bool = False) -> NoReturn:
    """A missing toolchain or emulator: a skip that says so, or an error under --arch-strict.

    ``named``: the user named the tool (MULTIARCH_GO, CARGO, RUSTC, multiarch_cargo,
    MULTIARCH_QEMU_<ARCH>) and it does not work: always a failure, whose reason names the setting.
    """
    raise errors.unavailable(reason, strict=get_state(config).settings.strict, named=named).exception()


class UnavailableItem(ParamIdItem):
    """Stands in for the tests of a module/crate we cannot even list (no toolchain): a skip, or
    a failure when the missing tool is one the user ``named`` (see skip_or_fail)."""

    def __init__(self, *, reason: str, arch: Arch, named: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason
        self.named = named
        add_arch(self.user_properties, arch.name)

    def runtest(self) -> None:
        skip_or_fail(self.config, self.reason, named=self.named)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, self.name


class ErrorItem(ParamIdItem):
    """Stands in for the tests of a module, crate or package that cannot be listed or built for
    an architecture: fails with the cause (and the fix). A collection error instead would stop the
    whole run; this way the rest runs. ``in_setup``: an error in setup (it cannot be listed: a
    go.mod or Cargo.toml that does not parse); else a failed test (it did not build)."""

    def __init__(self, *, arch: Arch, message: str, in_setup: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arch = arch
        self.message = message
        self.in_setup = in_setup
        add_arch(self.user_properties, arch.name)

    def setup(self) -> None:
        if self.in_setup:
            pytest.fail(self.message, pytrace=False)

    def runtest(self) -> None:
        pytest.fail(self.message, pytrace=False)  # reached only when not in_setup

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, self.name
