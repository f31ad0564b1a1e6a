"""The in-process decoder of `-test.v=test2json` output gives the events `go tool test2json` gives.

A real test binary (tests/fixtures/t2j: subtests, parallel tests, skips, failures, fake framing
lines printed by a test, a ^V inside a line, lines longer than test2json's buffer, examples,
a panic) is run, and its raw output is decoded both ways: whole, and cut at many points as a
crash would cut it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pytest_multiarch.toolchains.go import test2json as gotest2json

FIXTURE = Path(__file__).parent / "fixtures" / "t2j"
Row = tuple[str, str, str, float | None]


def _merge(rows: list[Row]) -> list[Row]:
    """Join consecutive output events of one test (test2json splits long lines at 1 KiB)."""
    merged: list[Row] = []
    for row in rows:
        if merged and row[0] == "output" and merged[-1][0] == "output" and merged[-1][1] == row[1]:
            merged[-1] = ("output", row[1], merged[-1][2] + row[2], None)
        else:
            merged.append(row)
    return merged


def _go_tool(go: str, raw: bytes) -> list[Row]:
    res = subprocess.run(
        [go, "tool", "test2json", "-t", "-p", "example.com/t2j"],
        input=raw, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    rows: list[Row] = []
    for line in res.stdout.splitlines():
        ev = json.loads(line)
        action = ev["Action"]
        if action == "start" or (action in ("pass", "fail", "skip") and "Test" not in ev):
            continue  # the converter's own start and end events: not the test binary's
        elapsed = ev.get("Elapsed") if action != "output" else None
        rows.append((action, ev.get("Test", ""), ev.get("Output", ""), elapsed))
    return _merge(rows)


def _ours(raw: bytes) -> list[Row]:
    rows: list[Row] = []
    for e in gotest2json.events(raw):
        elapsed = e.elapsed if e.action != "output" else None
        rows.append((e.action, e.test, e.output.decode("utf-8", "replace"), elapsed))
    return _merge(rows)


@pytest.fixture(scope="module")
def outputs(go: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("t2j")
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    subprocess.run([go, "test", "-c", "-o", str(out / "t2j.test"), "."], cwd=FIXTURE, env=env,
                   check=True, timeout=300, capture_output=True)  # fmt: skip
    runs = {}
    for name, extra in (("normal", {}), ("crash", {"T2J_CRASH": "1"})):
        res = subprocess.run(
            [str(out / "t2j.test"), "-test.v=test2json", "-test.count=1"],
            env={**env, **extra}, cwd=out, capture_output=True, timeout=120,
        )  # fmt: skip
        runs[name] = res.stdout
    return runs


def test_whole_outputs_decode_like_go_tool_test2json(go: str, outputs: dict[str, bytes]) -> None:
    for raw in outputs.values():
        assert _ours(raw) == _go_tool(go, raw)
    rows = _ours(outputs["normal"])
    verdicts = {test: action for action, test, _, _ in rows if action in ("pass", "fail", "skip")}
    assert verdicts["TestFail"] == "fail" and verdicts["TestSubtests/bad/deeper"] == "fail"
    assert verdicts["TestFakeFraming"] == "pass" and "TestNotReal" not in verdicts
    assert verdicts["Example_wrong"] == "fail" and verdicts["Example_hello"] == "pass"


def test_outputs_cut_anywhere_decode_like_go_tool_test2json(go: str, outputs: dict[str, bytes]) -> None:
    raw = outputs["normal"]
    for c in range(0, len(raw), max(len(raw) // 30, 1)):
        assert _ours(raw[:c]) == _go_tool(go, raw[:c]), f"differs when cut at byte {c}"


def test_fold_gives_one_outcome_per_top_level_test(outputs: dict[str, bytes]) -> None:
    run = gotest2json.parse(outputs["normal"], b"")
    assert run.outcomes["TestSubtests"].status == "failed"
    assert "deep failure" in run.outcomes["TestSubtests"].output
    assert run.outcomes["TestSkip"].status == "skipped"
    assert run.outcomes["TestSkip"].message == "skipped for a reason"
    assert run.outcomes["TestPlain"].output.count("two lines") == 1
    crashed = gotest2json.parse(outputs["crash"], b"")
    assert crashed.unfinished() == ["TestZCrash"]
    assert "--- FAIL: TestZCrash" in crashed.partial["TestZCrash"]  # the panic itself went to stderr


@pytest.mark.parametrize("chunk", [1, 7, 100, 4097, 65536])
def test_output_fed_in_pieces_as_it_arrives_folds_the_same(outputs: dict[str, bytes], chunk: int) -> None:
    for raw in (outputs["normal"], outputs["crash"]):
        stream = gotest2json.GoStream()
        for i in range(0, len(raw), chunk):
            stream.feed(raw[i : i + chunk])
        assert stream.finish() == gotest2json.parse(raw, b"")


def test_a_huge_output_is_clipped_with_a_note_of_where_it_all_is() -> None:
    """100k lines (and one 1 MB line) printed by one test: its head and tail are kept."""
    lines = [b"\x16=== RUN   TestBig\n", *(f"    line {i}\n".encode() for i in range(100_000))]
    lines += [b"x" * 1_000_000 + b"\n", b"\x16--- PASS: TestBig (1.00s)\n", b"\x16PASS\n"]
    stream = gotest2json.GoStream(limit=10_000, log="/logs/b.out")
    for line in lines:
        stream.feed(line)
    out = stream.finish().outcomes["TestBig"]
    assert out.status == "passed" and len(out.output) < 10_200
    assert out.output.startswith("=== RUN   TestBig\n    line 0\n")
    assert "characters cut; the whole output is in /logs/b.out ...]" in out.output
    assert out.output.endswith("x" * 100 + "\n--- PASS: TestBig (1.00s)\n")
