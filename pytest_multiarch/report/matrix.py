"""The per-architecture matrix as data: reading JSON reports, merging those of several CI jobs,
and what is missing or conflicting. Pure: no terminal (``text``, ``markdown``, ``html`` and
``junit`` render it).

A report (``--multiarch-report``, format version 3) holds one result per (test, architecture),
whether the run was interrupted, and the cells it selected but never ran.
Jobs of a CI matrix each run some architectures (or shards of one); merged, they make one matrix
in which a test seen on one architecture but absent on another is a *missing* cell, and two
different outcomes for the same cell are a *conflict*, never silently resolved. A cell an
interrupted (or stopped) run never ran is *not run* unless another report has it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_multiarch.errors import MultiarchError
from pytest_multiarch.report.model import BAD, OUTCOMES, NotRun, Result

VERSION = 3
READS = (2, 3)  # version 2 has no `interrupted` nor `not_run`: a complete run, as far as it says


class ReportError(MultiarchError):
    """A report file that cannot be read: what is wrong, and where."""

    becomes = "usage"  # a file given to `merge`


@dataclass
class Matrix:
    arches: list[str] = field(default_factory=list)
    results: dict[tuple[str, str], Result] = field(default_factory=dict)  # (base, arch) → result
    conflicts: list[tuple[Result, Result]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # (test, arch) a report covering that arch knew the test but has no cell for: left out on
    # purpose there (the arch marker, build constraints), not missing.
    deliberate: set[tuple[str, str]] = field(default_factory=set)
    # Tests the arch marker or build constraints leave out on some arches: test → arches.
    not_applicable: dict[str, list[str]] = field(default_factory=dict)
    runs_on: dict[str, str] = field(default_factory=dict)  # arch → "native", "qemu 10.0.2", ...
    host: str = ""  # the machine's own architecture (the reference for slowdowns)
    interrupted: bool = False  # a run (one report of a merge) was cut short: Ctrl-C, SIGTERM
    # (test, arch) → a cell a run selected and never ran, and why
    not_run: dict[tuple[str, str], NotRun] = field(default_factory=dict)

    def never_ran(self) -> dict[tuple[str, str], NotRun]:
        """The not-run cells no report has a result for (another job may have run one)."""
        return {cell: why for cell, why in self.not_run.items() if cell not in self.results}

    def not_run_lines(self) -> list[str]:
        """``interrupted: ...`` and ``not run (interrupted): <test> on <arch>`` lines."""
        cells = self.never_ran()
        said = f"interrupted: a run was cut short; {len(cells)} selected cells never ran, named below"
        lines = [said] if self.interrupted else []
        return lines + [f"not run ({n.why}): {base} on {arch}" for (base, arch), n in cells.items()]

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
            if (b, a) not in self.results and (b, a) not in self.deliberate and not self.left_out(b, a)
            and (b, a) not in self.not_run  # said apart: "not run (interrupted)"
        ]  # fmt: skip

    def left_out(self, base: str, arch: str) -> bool:
        """Is ``base`` not applicable on ``arch`` (``t.py::f`` covers ``t.py::f[1]`` too)?"""
        return any(
            arch in arches and (base == test or base.startswith(test + "["))
            for test, arches in self.not_applicable.items()
        )

    def rows(self) -> dict[str, dict[str, Result]]:
        """Test (without arch) → arch → result, tests in the order they first reported."""
        table: dict[str, dict[str, Result]] = {}
        for (base, arch), r in self.results.items():
            table.setdefault(base, {})[arch] = r
        return table

    def differing(self) -> dict[str, dict[str, str]]:
        """Tests whose outcome is not the same on every architecture they ran on."""
        rows = {b: {a: r.outcome for a, r in cells.items()} for b, cells in self.rows().items()}
        return {b: o for b, o in rows.items() if len(set(o.values()) - {"skipped"}) > 1}

    def flaky(self) -> list[Result]:
        return [r for r in self.results.values() if r.flaky]

    def infra_errors(self) -> list[Result]:
        return [r for r in self.results.values() if r.outcome == "infra_error"]

    def xfailed(self) -> list[Result]:
        return [r for r in self.results.values() if r.outcome == "xfailed"]

    def wall(self) -> dict[str, float]:
        """Seconds the tests of each architecture took, summed."""
        total = dict.fromkeys(self.arches, 0.0)
        for r in self.results.values():
            total[r.arch] = total.get(r.arch, 0.0) + r.duration
        return total

    def reference(self) -> str | None:
        """The natively run architecture slowdowns are measured against (the host's own first)."""
        native = [a for a in self.arches if self.runs_on.get(a) == "native"]
        return self.host if self.host in native else (native[0] if native else None)

    def slowdown(self, arch: str, min_seconds: float = 0.05) -> float | None:
        """How many times longer the tests that passed both here and natively took on ``arch``;
        None when there is no native reference or it ran too briefly to compare."""
        ref = self.reference()
        if ref is None or ref == arch:
            return None
        both = [
            (r.duration, self.results[(b, ref)].duration)
            for (b, a), r in self.results.items()
            if a == arch and r.outcome == "passed" and self.results.get((b, ref), r).outcome == "passed"
            and (b, ref) in self.results
        ]  # fmt: skip
        native = sum(n for _, n in both)
        return sum(e for e, _ in both) / native if native >= min_seconds else None

    def failed(self) -> bool:
        return any(r.outcome in BAD for r in self.results.values())

    @staticmethod
    def _not_run_json(base: str, arch: str, n: NotRun) -> dict[str, str]:
        return {"nodeid": n.nodeid, "base": base, "arch": arch, "why": n.why}

    def to_json(self, merged: bool = True) -> dict[str, Any]:
        """The report (``--multiarch-report``); a ``merged`` one adds what is missing or conflicting
        (a merge's findings: one run has neither)."""
        data = {
            "version": VERSION,
            "interrupted": self.interrupted,
            "arches": self.arches,
            "host": self.host,
            "runs_on": self.runs_on,
            "counts": self.counts(),
            "results": [r.to_json() for r in self.results.values()],
            "notes": self.notes,
            "not_applicable": [{"test": t, "arches": a} for t, a in self.not_applicable.items()],
            "not_run": [self._not_run_json(b, a, n) for (b, a), n in self.never_ran().items()],
            "missing": [{"base": b, "arch": a} for b, a in self.missing()],
            "conflicts": [
                {"base": x.base, "arch": x.arch, "outcomes": [x.outcome, y.outcome]}
                for x, y in self.conflicts
            ],
        }
        if not merged:
            del data["missing"], data["conflicts"]
        return data


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise ReportError(f"{where}: `{key}` is missing or not a {getattr(kind, '__name__', kind)}")
    return value


@dataclass
class Loaded:
    """One report file, read and checked."""

    arches: list[str]
    results: list[Result]
    notes: list[str] = field(default_factory=list)
    not_applicable: dict[str, list[str]] = field(default_factory=dict)  # test → arches
    runs_on: dict[str, str] = field(default_factory=dict)
    host: str = ""
    interrupted: bool = False
    not_run: dict[tuple[str, str], NotRun] = field(default_factory=dict)


def load(path: Path) -> Loaded:
    """One report; ReportError when it is not a readable report of this version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON (truncated or corrupt?): {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not a pytest-multiarch report (a JSON object is expected)")
    if data.get("version") not in READS:
        raise ReportError(
            f"{path}: report format version {data.get('version')!r}; this version reads "
            f"{' and '.join(map(str, READS))} "
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
            int(r.get("flaky", 0)), str(r.get("message", "")), str(r.get("output", "")),
            str(r.get("log", "")),
        ))  # fmt: skip
    notes = [str(n) for n in data.get("notes", []) if isinstance(n, str)]
    left_out = {str(e["test"]): [str(a) for a in e.get("arches", [])]
                for e in data.get("not_applicable", []) if isinstance(e, dict) and "test" in e}  # fmt: skip
    runs_on = data.get("runs_on")
    runs_on = runs_on if isinstance(runs_on, dict) else {}
    interrupted = data.get("interrupted", False)
    if not isinstance(interrupted, bool):
        raise ReportError(f"{path}: `interrupted` is not true or false")
    not_run = {}
    for i, e in enumerate(data.get("not_run", [])):
        where = f"{path}: not_run[{i}]"
        if not isinstance(e, dict):
            raise ReportError(f"{where}: not an object")
        cell = (_need(e, "base", str, where), _need(e, "arch", str, where))
        not_run[cell] = NotRun(str(e.get("nodeid", cell[0])), str(e.get("why", "not run")))
    return Loaded(arches, results, notes, left_out, {str(k): str(v) for k, v in runs_on.items()},
                  str(data.get("host", "")), interrupted, not_run)  # fmt: skip


def merge(reports: Iterable[Loaded]) -> Matrix:
    """One matrix from several reports; the same cell twice with another outcome is a conflict."""
    m = Matrix()
    for rep in reports:
        for test, names in rep.not_applicable.items():
            have = m.not_applicable.setdefault(test, [])
            have.extend(a for a in names if a not in have)
        known = {r.base for r in rep.results}
        present = {(r.base, r.arch) for r in rep.results}
        m.deliberate.update((b, a) for b in known for a in rep.arches if (b, a) not in present)
        m.arches.extend(a for a in rep.arches if a not in m.arches)
        m.notes.extend(n for n in rep.notes if n not in m.notes)
        for a, how in rep.runs_on.items():
            m.runs_on.setdefault(a, how)
        m.host = m.host or rep.host
        m.interrupted = m.interrupted or rep.interrupted
        for cell, why in rep.not_run.items():
            m.not_run.setdefault(cell, why)
        for r in rep.results:
            if r.arch not in m.arches:
                m.arches.append(r.arch)
            old = m.results.get((r.base, r.arch))
            if old is None:
                m.results[(r.base, r.arch)] = r
            elif old.outcome != r.outcome:
                m.conflicts.append((old, r))
    return m
