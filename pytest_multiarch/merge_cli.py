"""``python -m pytest_multiarch merge REPORT.json... [--json OUT] [--markdown OUT] [--allow-missing]``:
one matrix from the reports of CI jobs that each ran some architectures."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from . import matrix


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("merge", help="merge --multiarch-report files of several jobs into one matrix")
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the merged report (same format)")
    p.add_argument("--markdown", type=Path, metavar="OUT.md", help="write the matrix as a Markdown table")
    p.add_argument(
        "--allow-missing", action="store_true", help="cells no job ran do not make the exit status non-zero"
    )


def run(args: argparse.Namespace) -> int:
    try:
        loaded = [matrix.load(p) for p in args.reports]
    except matrix.ReportError as exc:
        print(f"merge: {exc}; nothing written")
        return 2
    m = matrix.merge(loaded)
    for line in render(m):
        print(line)
    if args.json:
        _write(args.json, json.dumps(m.to_json(), indent=2) + "\n")
    if args.markdown:
        _write(args.markdown, matrix.markdown(m))
    bad = m.failed() or bool(m.conflicts) or (bool(m.missing()) and not args.allow_missing)
    return 1 if bad else 0


def render(m: matrix.Matrix) -> list[str]:
    """The terminal summary of a run's (totals, what differs and why), and what is missing."""
    lines = [line for line, _ in matrix.table_lines(m)] + matrix.diagnosis_lines(m)
    lines += [f"missing: {base} on {arch} (no report has it)" for base, arch in m.missing()]
    for x, y in m.conflicts:
        lines.append(f"conflict: {x.base} on {x.arch}: {x.outcome} in one report, {y.outcome} in another")
    return lines


def _write(path: Path, text: str) -> None:
    """Write whole or not at all (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
