"""The per-architecture matrix as data: reading JSON reports, merging those of several CI jobs,
and what is missing or conflicting. Pure: no pytest, no terminal (``merge_cli.py`` prints).

A report (``--multiarch-report``, format version 1) holds one result per (test, architecture).
Jobs of a CI matrix each run some architectures (or shards of one); merged, they make one matrix
in which a test seen on one architecture but absent on another is a *missing* cell, and two
different outcomes for the same cell are a *conflict*, never silently resolved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import arch as archmod

VERSION = 1
OUTCOMES = ("passed", "failed", "skipped", "error")


class ReportError(Exception):
    """A report file that cannot be read: what is wrong, and where."""


@dataclass(frozen=True)
class Result:
    nodeid: str
    base: str
    arch: str
    outcome: str
    duration: float
    cached: bool = False


@dataclass
class Matrix:
    arches: list[str] = field(default_factory=list)
    results: dict[tuple[str, str], Result] = field(default_factory=dict)  # (base, arch) → result
    conflicts: list[tuple[Result, Result]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (test, arch) a report covering that arch knew the test but has no cell for: left out on
    # purpose there (the arch marker, build constraints), not missing.
    deliberate: set[tuple[str, str]] = field(default_factory=set)

    def counts(self) -> dict[str, dict[str, int]]:
        table = {a: dict.fromkeys(OUTCOMES, 0) for a in self.arches}
        for r in self.results.values():
            table.setdefault(r.arch, dict.fromkeys(OUTCOMES, 0))[r.outcome] += 1
        return table

    def bases(self) -> list[str]:
        return list(dict.fromkeys(base for base, _ in self.results))

    def missing(self) -> list[tuple[str, str]]:
        """(test, arch) cells that no job reported, for tests some job ran: the job that ran that
        arch did not have the test at all (a job or shard that never ran, or lost results)."""
        return [
            (b, a)
            for b in self.bases()
            for a in self.arches
            if (b, a) not in self.results and (b, a) not in self.deliberate
        ]

    def differing(self) -> dict[str, dict[str, str]]:
        """Tests whose outcome is not the same on every architecture they ran on."""
        rows: dict[str, dict[str, str]] = {}
        for (base, arch), r in self.results.items():
            rows.setdefault(base, {})[arch] = r.outcome
        return {b: o for b, o in rows.items() if len(set(o.values()) - {"skipped"}) > 1}

    def failed(self) -> bool:
        return any(r.outcome in ("failed", "error") for r in self.results.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "arches": self.arches,
            "counts": self.counts(),
            "results": [vars(r) for r in self.results.values()],
            "notes": self.notes,
            "missing": [{"base": b, "arch": a} for b, a in self.missing()],
            "conflicts": [
                {"base": x.base, "arch": x.arch, "outcomes": [x.outcome, y.outcome]}
                for x, y in self.conflicts
            ],
        }


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ReportError(f"{where}: `{key}` is missing or not a {getattr(kind, '__name__', kind)}")
    return value


Loaded = tuple[list[str], list[Result], list[str], dict[str, list[str]]]


def load(path: Path) -> Loaded:
    """(arches, results, notes, not applicable) of one report; ReportError when it is not a
    readable version 1."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON (truncated or corrupt?): {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not a pytest-multiarch report (a JSON object is expected)")
    if data.get("version") != VERSION:
        raise ReportError(
            f"{path}: report format version {data.get('version')!r}; this version reads {VERSION} "
            "(merge reports written by the same pytest-multiarch version)"
        )
    arches = [str(a) for a in _need(data, "arches", list, str(path))]
    results = []
    for i, r in enumerate(_need(data, "results", list, str(path))):
        where = f"{path}: results[{i}]"
        if not isinstance(r, dict):
            raise ReportError(f"{where}: not an object")
        outcome = _need(r, "outcome", str, where)
        if outcome not in OUTCOMES:
            raise ReportError(f"{where}: unknown outcome {outcome!r}")
        results.append(Result(
            _need(r, "nodeid", str, where), _need(r, "base", str, where), _need(r, "arch", str, where),
            outcome, float(_need(r, "duration", (int, float), where)), bool(r.get("cached", False)),
        ))  # fmt: skip
    notes = [str(n) for n in data.get("notes", []) if isinstance(n, str)]
    left_out = {str(e["test"]): [str(a) for a in e.get("arches", [])]
                for e in data.get("not_applicable", []) if isinstance(e, dict) and "test" in e}  # fmt: skip
    return arches, results, notes, left_out


def merge(reports: Iterable[Loaded]) -> Matrix:
    """One matrix from several reports; the same cell twice with another outcome is a conflict."""
    m = Matrix()
    left_out: dict[str, set[str]] = {}
    for arches, results, notes, not_applicable in reports:
        for test, names in not_applicable.items():
            left_out.setdefault(test, set()).update(names)
        known = {r.base for r in results}
        present = {(r.base, r.arch) for r in results}
        m.deliberate.update((b, a) for b in known for a in arches if (b, a) not in present)
        m.arches.extend(a for a in arches if a not in m.arches)
        m.notes.extend(n for n in notes if n not in m.notes)
        for r in results:
            if r.arch not in m.arches:
                m.arches.append(r.arch)
            old = m.results.get((r.base, r.arch))
            if old is None:
                m.results[(r.base, r.arch)] = r
            elif old.outcome != r.outcome:
                m.conflicts.append((old, r))
    for base in m.bases():  # a test and its other parameters: `t.py::f` covers `t.py::f[1]`
        for test, arch_names in left_out.items():
            if base == test or base.startswith(test + "["):
                m.deliberate.update((base, a) for a in arch_names)
    return m


def table_lines(m: Matrix, runs_on: Mapping[str, str] | None = None) -> list[tuple[str, bool | None]]:
    """The per-architecture totals as lines, each with True (something failed), False (all
    passed) or None (nothing ran); a "runs on" column when ``runs_on`` is given."""
    head = f"{'arch':<10} {'passed':>7} {'failed':>7} {'skipped':>8} {'errors':>7}"
    rows: list[tuple[str, bool | None]] = [(head + ("  runs on" if runs_on is not None else ""), None)]
    for a, c in m.counts().items():
        line = f"{a:<10} {c['passed']:>7} {c['failed']:>7} {c['skipped']:>8} {c['error']:>7}"
        if runs_on is not None:
            line += f"  {runs_on.get(a, '')}"
        bad = bool(c["failed"] or c["error"])
        rows.append((line, True if bad else (False if c["passed"] else None)))
    return rows


def diagnosis_lines(m: Matrix) -> list[str]:
    """One line per test whose outcome differs: where it fails, and what those arches share."""
    lines = []
    for base, per_arch in sorted(m.differing().items()):
        failed = [a for a in m.arches if per_arch.get(a) in ("failed", "error")]
        ok = [a for a in m.arches if per_arch.get(a) == "passed"]
        lines.append(f"{base}: fails on {', '.join(failed)} (passes on {', '.join(ok) or 'none'})"
                     f"{shared_trait(failed, [*failed, *ok])}")  # fmt: skip
    return lines


def shared_trait(failed: list[str], ran: list[str]) -> str:
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
    return ""


def markdown(m: Matrix) -> str:
    """A GitHub-flavoured Markdown summary: totals per architecture, then the rows that differ."""
    counts = m.counts()
    lines = ["| arch | passed | failed | skipped | errors |", "|---|---:|---:|---:|---:|"]
    for a in m.arches:
        c = counts[a]
        lines.append(f"| {a} | {c['passed']} | {c['failed']} | {c['skipped']} | {c['error']} |")
    differing = m.differing()
    if differing:
        lines += ["", "| test | " + " | ".join(m.arches) + " |", "|---|" + "---|" * len(m.arches)]
        for base, per_arch in sorted(differing.items()):
            cells = [per_arch.get(a, "—") for a in m.arches]
            lines.append(f"| `{base}` | " + " | ".join(cells) + " |")
    for base, arch in m.missing():
        lines.append(f"\n- missing: `{base}` on {arch}")
    for x, y in m.conflicts:
        lines.append(f"\n- conflict: `{x.base}` on {x.arch}: {x.outcome} and {y.outcome}")
    return "\n".join(lines) + "\n"
