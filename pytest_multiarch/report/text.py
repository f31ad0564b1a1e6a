"""The matrix as terminal text: the grid (tests by architectures) and the per-architecture
totals. Pure functions of a ``Matrix``; callers decide where the lines go and whether they are
coloured."""

from __future__ import annotations

from collections.abc import Mapping

from pytest_multiarch.report.diagnosis import symbol
from pytest_multiarch.report.matrix import Matrix

Segment = tuple[str, str | None]  # text, colour name ("green", "red", "yellow") or None

LEGEND = ". passed F failed E error s skipped ! infra error R flaky ? missing - not run"
LEGEND_XFAILED = "x xfailed: a known failure (strict xfail) that still fails"  # when there are any
_COLOUR = {".": "green", "R": "yellow", "x": "yellow", "s": "yellow", "!": "yellow", "F": "red", "E": "red",
           "?": "red"}  # fmt: skip
CELL = 3  # columns per architecture: 13 of them and a 40-column test name fit in 80


def short_name(base: str, width: int) -> str:
    """The test's last two node id parts (package and test), cut on the left to ``width``."""
    name = "::".join([part for part in base.split("::") if part][-2:])
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def grid_lines(m: Matrix, bases: list[str], width: int = 80) -> list[list[Segment]]:
    """Rows = tests, columns = architectures (names written downwards), one symbol per cell."""
    if not bases:
        return []
    name_w = max(12, min(max(len(short_name(b, 10_000)) for b in bases), width - CELL * len(m.arches) - 1))
    tall = max(len(a) for a in m.arches)
    lines: list[list[Segment]] = []
    for i in range(tall):
        head = "".join(f"{a[i] if i < len(a) else ' ':^{CELL}}" for a in m.arches)
        lines.append([(" " * name_w + " " + head.rstrip(), None)])
    for base in bases:
        row: list[Segment] = [(f"{short_name(base, name_w):<{name_w}} ", None)]
        for a in m.arches:
            s = symbol(m, base, a)
            row.append((f"{s:^{CELL}}", _COLOUR.get(s)))
        row[-1] = (row[-1][0].rstrip(), row[-1][1])
        lines.append(row)
    return lines


def table_lines(m: Matrix, runs_on: Mapping[str, str] | None = None) -> list[tuple[str, bool | None]]:
    """The per-architecture totals, wall time and slowdown against the native run, each line with
    True (something failed), False (all passed) or None (nothing ran). Columns for infra errors
    and flaky tests, known failures and cached results appear when there are any."""
    runs_on = m.runs_on if runs_on is None else runs_on
    counts, wall = m.counts(), m.wall()
    flaky = {a: sum(1 for r in m.flaky() if r.arch == a) for a in m.arches}
    extra = any(c["infra_error"] for c in counts.values()) or any(flaky.values())
    width = max(9, *(len(a) for a in m.arches))  # 9, or wider for a longer name (amd64-musl)
    head = f"{'arch':<{width}} {'passed':>6} {'failed':>6} {'skipped':>7} {'errors':>6}"
    head += f" {'infra':>5} {'flaky':>5}" if extra else ""
    known = any(c["xfailed"] for c in counts.values())  # a column of its own when there are any
    head += f" {'xfailed':>7}" if known else ""
    cached = {a: sum(1 for r in m.results.values() if r.arch == a and r.cached) for a in m.arches}
    replayed = any(cached.values())  # results replayed from the test-result cache, when there are any
    head += f" {'cached':>6}" if replayed else ""
    head += f" {'time':>7} {'slowdown':>8}" + ("  runs on" if runs_on else "")
    rows: list[tuple[str, bool | None]] = [(head, None)]
    for a in m.arches:
        c = counts[a]
        line = f"{a:<{width}} {c['passed']:>6} {c['failed']:>6} {c['skipped']:>7} {c['error']:>6}"
        line += f" {c['infra_error']:>5} {flaky[a]:>5}" if extra else ""
        line += f" {c['xfailed']:>7}" if known else ""
        line += f" {cached[a]:>6}" if replayed else ""
        slow = m.slowdown(a)
        line += f" {wall.get(a, 0.0):>6.2f}s {f'{slow:.1f}x' if slow is not None else '-':>8}"
        line += f"  {runs_on.get(a, '')}" if runs_on else ""
        bad = bool(c["failed"] or c["error"] or c["infra_error"])
        rows.append((line.rstrip(), True if bad else (False if c["passed"] else None)))
    return rows
