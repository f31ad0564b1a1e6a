"""``python -m pytest_multiarch merge REPORT.json... [--json OUT] [--junit OUT] [--markdown OUT]
[--html OUT] [--allow-missing]``: one matrix from the reports of CI jobs that each ran some
architectures (or shards of one)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch.outfile import write_atomic
from pytest_multiarch.report import html as matrix_html
from pytest_multiarch.report import junit, matrix
from pytest_multiarch.report.diagnosis import diagnosis_lines, interesting
from pytest_multiarch.report.markdown import markdown
from pytest_multiarch.report.text import LEGEND, grid_lines, table_lines

_ANSI = {"green": "\x1b[32m", "red": "\x1b[31m", "yellow": "\x1b[33m"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("merge", help="merge --multiarch-report files of several jobs into one matrix")
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the merged report (same format)")
    p.add_argument("--junit", type=Path, metavar="OUT.xml", help="write the merged results as JUnit XML")
    p.add_argument("--junit-per-arch", action="store_true", help="one <testsuite> per architecture")
    p.add_argument("--markdown", type=Path, metavar="OUT.md", help="write the matrix as Markdown tables")
    p.add_argument("--html", type=Path, metavar="OUT.html", help="write the matrix as one HTML page")
    p.add_argument("--all-rows", action="store_true", help="show every test, not only those that differ")
    p.add_argument(
        "--allow-missing", action="store_true", help="cells no job ran do not make the exit status non-zero"
    )
    p.add_argument(
        "--expect-arches",
        metavar="LIST",
        help="architectures some report must cover (comma list): one no report has (a job that died "
        "before writing its report) makes every test missing there",
    )


def run(args: argparse.Namespace) -> int:
    try:
        loaded = [matrix.load(p) for p in args.reports]
    except matrix.ReportError as exc:
        print(f"merge: {exc}; nothing written")
        return 2
    m = matrix.merge(loaded)
    if args.expect_arches:
        try:
            expected = archmod.parse_list([args.expect_arches], all_arches=list(archmod.ARCHES))
        except archmod.ArchError as exc:
            print(f"merge: --expect-arches: {exc}")
            return 2
        m.arches.extend(a.name for a in expected if a.name not in m.arches)
    for path, rep in zip(args.reports, loaded, strict=True):
        if rep.interrupted:
            print(f"interrupted: {path} is the report of a run that was cut short (Ctrl-C, SIGTERM)")
    colour = sys.stdout.isatty()
    for line in render(m, args.all_rows, shutil.get_terminal_size().columns, colour):
        print(line)
    if args.json:
        write_atomic(args.json, json.dumps(m.to_json(), indent=2) + "\n")
    if args.junit:
        write_atomic(args.junit, junit.from_matrix(m, per_arch=args.junit_per_arch))
    if args.markdown:
        write_atomic(args.markdown, markdown(m, all_rows=args.all_rows))
    if args.html:
        write_atomic(args.html, matrix_html.render(m))
    bad = m.failed() or bool(m.conflicts) or (bool(m.missing()) and not args.allow_missing)
    bad = bad or m.interrupted or bool(m.never_ran())  # a run cut short is never a green one
    return 1 if bad else 0


def render(m: matrix.Matrix, all_rows: bool = False, width: int = 80, colour: bool = False) -> list[str]:
    """What a run prints at its end (grid, totals, diagnosis), and what is missing or conflicting."""
    lines = []
    rows = m.bases() if all_rows else interesting(m)
    for segments in grid_lines(m, rows, width):
        lines.append("".join(f"{_ANSI[c]}{t}\x1b[0m" if colour and c else t for t, c in segments).rstrip())
    if rows:
        lines += [LEGEND, ""]
    lines += [line for line, _ in table_lines(m)] + diagnosis_lines(m)
    lines += [f"missing: {base} on {arch} (no report has it)" for base, arch in m.missing()]
    lines += m.not_run_lines()
    for x, y in m.conflicts:
        lines.append(f"conflict: {x.base} on {x.arch}: {x.outcome} in one report, {y.outcome} in another")
    return lines
