"""The one cell type: the property keys a cell's item sets, and the verdict carried as data."""

from __future__ import annotations

import pytest

from pytest_multiarch.outcome import CellProps, MultiarchFailure, TestOutcome, add_arch, arch_of
from pytest_multiarch.report.model import Result, cell_from_report, set_verdict


def test_properties_round_trip_in_the_junit_order() -> None:
    outcome = TestOutcome("TestX", "failed", cached=True, flaky=2, first_failure="boom",
                          infra="qemu: uncaught signal 11", log="/l/x.out")  # fmt: skip
    props = CellProps.from_outcome(outcome)
    assert props.to_properties() == [
        ("cached", True), ("flaky", 2), ("flaky_first_failure", "boom"),
        ("infra_error", "qemu: uncaught signal 11"), ("log", "/l/x.out"),
    ]  # fmt: skip
    assert CellProps.from_properties([("arch", "arm64"), *props.to_properties()]) == props


def test_a_plain_pass_has_no_properties_and_the_log_is_kept_only_on_failure() -> None:
    assert CellProps.from_outcome(TestOutcome("TestX", "passed", log="/l/x.out")).to_properties() == []
    assert CellProps.from_properties([]) == CellProps()


def test_the_arch_property() -> None:
    props: list[tuple[str, object]] = []
    add_arch(props, "s390x")
    assert props == [("arch", "s390x")] and arch_of(props) == "s390x"
    assert arch_of([("arch", 3)]) is None and arch_of([]) is None


@pytest.mark.parametrize(("verdict", "details", "expected"), [
    ("TestX on arm64: x_test.go:3: wrong", "=== RUN   TestX\n", "TestX on arm64: x_test.go:3: wrong"),
    ("TestX on arm64: no result was reported", None, "TestX on arm64: no result was reported"),
    ("TestX on arm64: first\nsecond", "", "TestX on arm64: first"),
])  # fmt: skip
def test_the_verdict_is_the_first_line_of_the_failure(
    verdict: str, details: str | None, expected: str
) -> None:
    exc = MultiarchFailure(verdict, details)
    assert exc.verdict == expected
    assert exc.verdict == str(exc).strip().splitlines()[0]


def _failed(longrepr: str) -> pytest.TestReport:
    return pytest.TestReport("m::TestX[arm64]", ("f", 0, "TestX"), {}, "failed", longrepr, "call",
                             user_properties=[("arch", "arm64"), ("log", "/l/x.out")])  # fmt: skip


def test_a_cell_takes_the_verdict_as_data() -> None:
    report = _failed("[gw1] linux -- Python 3\nTestX on arm64: wrong\noutput")  # as xdist shows it
    set_verdict(report, "TestX on arm64: wrong")
    cell = cell_from_report(report)
    assert cell == Result(
        "m::TestX[arm64]", "m::TestX", "arm64", "failed", 0.0, message="TestX on arm64: wrong",
        output="[gw1] linux -- Python 3\nTestX on arm64: wrong\noutput", log="/l/x.out",
    )  # fmt: skip


def test_a_failure_without_a_verdict_says_its_first_line() -> None:
    cell = cell_from_report(_failed("\nbuild failed for arm64: boom\nmore"))
    assert cell is not None and cell.message == "build failed for arm64: boom"


def test_a_merged_cell_gives_back_the_properties_of_its_item() -> None:
    cell = Result("n", "b", "arm64", "infra_error", 1.0, cached=False, flaky=0, message="qemu died", log="/l")
    assert cell.props() == CellProps(infra_error="qemu died", log="/l")
    flaky = Result("n", "b", "arm64", "passed", 1.0, flaky=1, message="first run: boom")
    assert flaky.props().to_properties() == [("flaky", 1), ("flaky_first_failure", "first run: boom")]
