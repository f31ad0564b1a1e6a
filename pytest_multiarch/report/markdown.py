"""The matrix as GitHub-flavoured Markdown (``--multiarch-markdown``, the step summary, merge)."""

from __future__ import annotations

from pytest_multiarch.report.diagnosis import diagnosis_lines, interesting, symbol
from pytest_multiarch.report.matrix import Matrix

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
