"""Rust tests whose failure aborted the whole process (panic=abort, as on wasm32-wasip1): what
the test said, recovered by running it once more alone without capture.

With panic=abort the first failing test takes the process down: libtest never reports it, and
the output it captured (its panic message included) is lost. The batch's crash recovery blames
that test and runs the rest again (run/batch.py); here each blamed test runs once more alone
with ``--nocapture``, so its panic message and output go straight to the process's stderr and
stdout, and into the failure's report. The test stays failed whatever that run does: the run
that counted is the first.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping

from pytest_multiarch.outcome import TestOutcome
from pytest_multiarch.run import batch, supervise
from pytest_multiarch.toolchains.rust.libtest import panic_summary

WHILE_RUNNING = "while this test was running"  # batch.py's words for the test a crash blames
IGNORED = "ignored (#[ignore])"  # libtest.py's message for an "ignored" event without a reason
SHOULD_PANIC = (
    "ignored by libtest: a #[should_panic] test cannot run where a panic aborts the process "
    "(panic=abort, as on wasm32-wasip1); cargo test says `should panic ... ignored` too"
)


def explain_ignored(outcomes: Mapping[str, TestOutcome], listed_ignored: Collection[str]) -> None:
    """Say why libtest ignored at run time a test it did not list as ignored: under panic=abort
    it skips the ``#[should_panic]`` ones (it cannot catch their panic)."""
    for name, outcome in outcomes.items():
        if outcome.status == "skipped" and outcome.message == IGNORED and name not in listed_ignored:
            outcome.message = SHOULD_PANIC


def aborted(outcome: TestOutcome) -> bool:
    """A test the process died under, with no panic message of its own in the report."""
    return (
        outcome.status == "failed" and not outcome.infra and WHILE_RUNNING in outcome.message
        and "panicked at" not in outcome.output
    )  # fmt: skip


def explain(b: batch.Batch, outcomes: Mapping[str, TestOutcome]) -> None:
    """Run each aborted test of ``outcomes`` alone with ``--nocapture``, and put what it printed
    and its panic's first line into its (still failed) outcome."""
    for name, outcome in outcomes.items():
        if not aborted(outcome):
            continue
        request = b.request.with_args(["--exact", name, "--nocapture", "--test-threads=1"])
        parser = functools.partial(supervise.PlainStream, name)
        att = supervise.attempt(request, limits=b.limits, new_parser=parser)
        said = (att.parsed.output + att.stderr).strip()
        att.remove_log()  # what it said goes into the report; the first run's log stays named there
        if not said:
            continue
        panic = panic_summary(said)
        if panic != "failed":
            outcome.message = f"{panic} (the process aborted: panic=abort; {outcome.message})"
        again = att.run.invocation.shell_line()
        outcome.output = f"{said}\n\n[... the test alone, uncaptured: {again} ...]\n\n{outcome.output}"
