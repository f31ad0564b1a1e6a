"""The matrix as text: the terminal grid (tests by architectures), the per-architecture totals,
the diagnosis of what failing architectures share, and the Markdown summary. Pure functions of a
``Matrix``; callers decide where the lines go and whether they are coloured."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pytest_multiarch import arch as archmod
from pytest_multiarch.report.matrix import Matrix

Segment = tuple[str, str | None]  # text, colour name ("green", "red", "yellow") or None

SYMBOLS = {"passed": ".", "failed": "F", "error": "E", "skipped": "s", "infra_error": "!", "xfailed": "x"}
FLAKY, MISSING, NOT_RUN = "R", "?", "-"
LEGEND = ". passed F failed E error s skipped ! infra error R flaky ? missing - not run"
LEGEND_XFAILED = "x xfailed: a known failure (strict xfail) that still fails"  # when there are any
_COLOUR = {".": "green", "R": "yellow", "x": "yellow", "s": "yellow", "!": "yellow", "F": "red", "E": "red",
           "?": "red"}  # fmt: skip
XPASS_STRICT = "[XPASS(strict)]"  # how pytest's message starts for a strict xfail that passed
CELL = 3  # columns per architecture: 13 of them and a 40-column test name fit in 80


def symbol(m: Matrix, base: str, arch: str) -> str:
    r = m.results.get((base, arch))
    if r is None and (base, arch) in m.not_run:
        return MISSING  # selected, never ran (interrupted): not a deliberate "-"
    if r is None:
        return NOT_RUN if (base, arch) in m.deliberate or m.left_out(base, arch) else MISSING
    return FLAKY if r.flaky and r.outcome == "passed" else SYMBOLS[r.outcome]


def interesting(m: Matrix) -> list[str]:
    """The rows worth a look: outcome differs, flaky, an infra error or a missing cell."""
    differing = m.differing()
    odd = {r.base for r in m.results.values() if r.flaky or r.outcome in ("infra_error", "xfailed")}
    odd |= {b for b, _ in m.missing()}
    return [b for b in m.bases() if b in differing or b in odd]


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
    and flaky tests appear when there are any."""
    runs_on = m.runs_on if runs_on is None else runs_on
    counts, wall = m.counts(), m.wall()
    flaky = {a: sum(1 for r in m.flaky() if r.arch == a) for a in m.arches}
    extra = any(c["infra_error"] for c in counts.values()) or any(flaky.values())
    head = f"{'arch':<9} {'passed':>6} {'failed':>6} {'skipped':>7} {'errors':>6}"
    head += f" {'infra':>5} {'flaky':>5}" if extra else ""
    known = any(c["xfailed"] for c in counts.values())  # a column of its own when there are any
    head += f" {'xfailed':>7}" if known else ""
    head += f" {'time':>7} {'slowdown':>8}" + ("  runs on" if runs_on else "")
    rows: list[tuple[str, bool | None]] = [(head, None)]
    for a in m.arches:
        c = counts[a]
        line = f"{a:<9} {c['passed']:>6} {c['failed']:>6} {c['skipped']:>7} {c['error']:>6}"
        line += f" {c['infra_error']:>5} {flaky[a]:>5}" if extra else ""
        line += f" {c['xfailed']:>7}" if known else ""
        slow = m.slowdown(a)
        line += f" {wall.get(a, 0.0):>6.2f}s {f'{slow:.1f}x' if slow is not None else '-':>8}"
        line += f"  {runs_on.get(a, '')}" if runs_on else ""
        bad = bool(c["failed"] or c["error"] or c["infra_error"])
        rows.append((line.rstrip(), True if bad else (False if c["passed"] else None)))
    return rows


def diagnosis_lines(m: Matrix) -> list[str]:
    """What differs and why: per test where it fails and what those arches share; then flaky
    tests and emulator/infrastructure errors, which are not architecture bugs."""
    lines = []
    for base, per_arch in sorted(m.differing().items()):
        failed = [a for a in m.arches if per_arch.get(a) in ("failed", "error")]
        ok = [a for a in m.arches if per_arch.get(a) == "passed"]
        fixed = [a for a in failed if m.results[(base, a)].message.startswith(XPASS_STRICT)]
        if fixed:  # failed because it passes: not an architecture difference to explain
            lines.append(f"{base}: passes on {', '.join(fixed)}, where it is marked as a known failure "
                         f"({XPASS_STRICT}): remove the mark")  # fmt: skip
            failed = [a for a in failed if a not in fixed]
            ok += fixed
        if failed:
            lines.append(f"{base}: fails on {', '.join(failed)} (passes on {', '.join(ok) or 'none'})"
                         f"{shared_trait(failed, [*failed, *ok], m.runs_on)}")  # fmt: skip
    for r in m.flaky():
        lines.append(f"{r.base}: flaky on {r.arch} (failed {r.flaky}x, then passed on a re-run; "
                     "not counted as an architecture difference)")  # fmt: skip
    for r in m.infra_errors():
        lines.append(f"{r.base}: infra error on {r.arch}, not a test failure: {r.message}")
    for r in m.xfailed():
        lines.append(f"{r.base}: known failure on {r.arch}, still failing ({r.message})")
    return lines


def shared_trait(failed: list[str], ran: list[str], runs_on: Mapping[str, str] | None = None) -> str:
    """Name what the failing architectures, and only they, have in common."""
    if not failed or set(failed) >= set(ran):
        return ""  # nothing failed, or nothing passed: no trait separates the failing ones
    arches = {a.name: a for a in archmod.ARCHES}
    traits: dict[str, Callable[[archmod.Arch], bool]] = {
        "big-endian": lambda a: a.endian == "big",
        "32-bit": lambda a: a.bits == 32,
        "64-bit": lambda a: a.bits == 64,
        "little-endian": lambda a: a.endian == "little",
    }
    for label, has in traits.items():
        if all(n in arches for n in ran) and {n for n in ran if has(arches[n])} == set(failed):
            return f" — exactly the {label} ones"
    how = {runs_on.get(a, "") for a in failed} if runs_on else set()
    if len(how) == 1 and "" not in how:
        (one,) = how
        if {a for a in ran if runs_on and runs_on.get(a) == one} == set(failed):
            return f" — exactly the ones run by {one}"
    if len(failed) == 1:
        return f" — {failed[0]} only"
    return ""


_MD_CELL = {".": "passed", "F": "**failed**", "E": "**error**", "s": "skipped", "!": "*infra error*",
            "R": "passed (flaky)", "?": "**missing**", "-": "—", "x": "xfailed (known)"}  # fmt: skip


def markdown(m: Matrix, all_rows: bool = False) -> str:
    """A GitHub-flavoured Markdown summary: totals per architecture, the rows that differ (all
    rows with ``all_rows``), then the diagnosis, missing cells and conflicts."""
    counts, wall = m.counts(), m.wall()
    lines = ["| arch | passed | failed | skipped | errors | infra | time | runs on |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    known = any(c["xfailed"] for c in counts.values())  # a column of its own when there are any
    if known:
        lines = ["| arch | passed | failed | skipped | errors | infra | xfailed | time | runs on |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for a in m.arches:
        c = counts[a]
        xfailed = f"{c['xfailed']} | " if known else ""
        lines.append(f"| {a} | {c['passed']} | {c['failed']} | {c['skipped']} | {c['error']} | "
                     f"{c['infra_error']} | {xfailed}{wall.get(a, 0.0):.2f}s | "
                     f"{m.runs_on.get(a, '')} |")  # fmt: skip
    rows = m.bases() if all_rows else interesting(m)
    if rows:
        lines += ["", "| test | " + " | ".join(m.arches) + " |", "|---|" + ":---:|" * len(m.arches)]
        for base in rows:
            cells = [_MD_CELL[symbol(m, base, a)] for a in m.arches]
            lines.append(f"| `{_md_escape(base)}` | " + " | ".join(cells) + " |")
    head = ["**The run was cut short** (interrupted): the results below are not complete.", ""] if (
        m.interrupted) else []  # fmt: skip
    notes = [*diagnosis_lines(m), *(f"missing: {b} on {a} (no report has it)" for b, a in m.missing())]
    notes += m.not_run_lines()
    notes += [f"conflict: {x.base} on {x.arch}: {x.outcome} and {y.outcome}" for x, y in m.conflicts]
    if notes:
        lines += ["", *(f"- {_md_escape(n)}" for n in notes)]
    return "\n".join(head + lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")
