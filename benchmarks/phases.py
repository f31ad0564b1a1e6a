"""Where a pytest run's time goes, phase by phase: a pytest plugin and the program that runs it.

    python benchmarks/phases.py [--runs 5] [--cpu] [--tree DIR ...] -- PYTEST-ARGS...

runs ``pytest PYTEST-ARGS`` (in the current directory) --runs times with this file loaded as a
plugin (``-p phases``), which notes the clock at the edges of pytest's hooks: configure,
sessionstart, collection, modifyitems, runtestloop (and the time spent inside each item's call,
which for a multiarch item is the wait for its batch), sessionfinish, the terminal summary,
unconfigure, and process exit. It prints the median of each phase. ``--cpu`` uses the process's
CPU time (every thread of pytest's process, not its children) instead of the wall clock: steadier
on a shared machine. Each ``--tree DIR`` is a checkout whose ``pytest_multiarch`` is put first on
PYTHONPATH (e.g. ``git archive REV pytest_multiarch | tar -x -C DIR``); the trees' runs alternate
and get one column each. Nothing is asserted; a run that fails stops the program.
"""

from __future__ import annotations

import argparse
import atexit
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

import pytest

OUT_VAR = "MULTIARCH_PHASES_OUT"
CPU_VAR = "MULTIARCH_PHASES_CPU"
CLOCK: Callable[[], float] = time.process_time if os.environ.get(CPU_VAR) else time.perf_counter
MARKS: list[tuple[str, float]] = [("start", CLOCK())]
_in_call = [0.0]


def mark(name: str) -> None:
    MARKS.append((name, CLOCK()))


# ---------------------------------------------------------------------------------------------
# The plugin (loaded in the measured pytest by -p phases)


class _First:
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self) -> None:
        mark("configure")

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(self) -> None:
        mark("unconfigure")


class _Last:
    @pytest.hookimpl(trylast=True)
    def pytest_configure(self) -> None:
        mark("configure end")

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        mark("unconfigure end")


def pytest_addoption(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.register(_First(), "phases-first")
    pluginmanager.register(_Last(), "phases-last")
    mark("plugins")


def _wrap(name: str) -> Generator[None, object, object]:
    mark(name)
    try:
        return (yield)
    finally:
        mark(name + " end")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionstart() -> Generator[None, object, object]:
    return (yield from _wrap("sessionstart"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection() -> Generator[None, object, object]:
    return (yield from _wrap("collection"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems() -> Generator[None, object, object]:
    return (yield from _wrap("modifyitems"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop() -> Generator[None, object, object]:
    return (yield from _wrap("runtestloop"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call() -> Generator[None, object, object]:
    start = CLOCK()
    try:
        return (yield)
    finally:
        _in_call[0] += CLOCK() - start


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish() -> Generator[None, object, object]:
    return (yield from _wrap("sessionfinish"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary() -> Generator[None, object, object]:
    return (yield from _wrap("summary"))


def _write() -> None:
    mark("exit")
    out = os.environ.get(OUT_VAR)
    if out:
        lines = [f"{name}\t{t}" for name, t in MARKS] + [f"in call\t{_in_call[0]}"]
        Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if os.environ.get(OUT_VAR):
    atexit.register(_write)


# ---------------------------------------------------------------------------------------------
# The program

# The measured process: the clock at its very start (before `import pytest`), then pytest.
RUNNER = (
    f"import os, sys, time; c = time.process_time if os.environ.get({CPU_VAR!r}) else time.perf_counter; "
    f"t0 = c(); import pytest; t1 = c(); "
    f"open(os.environ[{OUT_VAR!r}] + '.pre', 'w').write(f'{{t0}}\\t{{t1}}'); "
    "sys.exit(pytest.main(['-p', 'phases', *sys.argv[1:]]))"
)


def phases(marks: dict[str, float], pre: tuple[float, float], wall: float, cpu: bool) -> dict[str, float]:
    """Milliseconds per phase of one run."""

    def span(a: str, b: str) -> float:
        return (marks[b] - marks[a]) * 1000

    loop, in_call = span("runtestloop", "runtestloop end"), marks["in call"] * 1000
    summary = span("summary", "summary end")
    # CPU: what the process used before this plugin was imported; wall: before it, and after exit.
    before = marks["start"] * 1000 if cpu else wall - span("start", "exit")
    return {
        "interpreter start-up, import pytest, argument pre-parse": before,
        "  of which import pytest": (pre[1] - pre[0]) * 1000,
        "plugin loading (entry points, multiarch's import), ini, options": span("plugins", "configure"),
        "pytest_configure, every plugin": span("configure", "configure end"),
        "sessionstart (header, fixture manager)": span("sessionstart", "sessionstart end"),
        "collection (listing, items)": span("collection", "modifyitems"),
        "modifyitems, collection_finish (batches scheduled)": span("modifyitems", "collection end"),
        "run loop": loop,
        "  inside the items' call (waiting for their batches)": in_call,
        "  per-item protocol outside the call (reports, capture, hooks)": loop - in_call,
        "sessionfinish (cache prune, report files), without the summary": span(
            "sessionfinish", "sessionfinish end"
        )
        - summary,
        "terminal summary (the matrix)": summary,
        "unconfigure": span("unconfigure", "unconfigure end"),
        "unconfigure end to process exit": span("unconfigure end", "exit"),
        "total": wall if not cpu else marks["exit"] * 1000,
    }


def run_once(pytest_args: Sequence[str], tree: str, cpu: bool) -> dict[str, float]:
    here = str(Path(__file__).resolve().parent)
    with tempfile.TemporaryDirectory(prefix="phases-") as tmp:
        out = str(Path(tmp) / "marks")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, here) if p)
        env[OUT_VAR] = out
        env.pop(CPU_VAR, None)
        if cpu:
            env[CPU_VAR] = "1"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, *pytest_args], env=env, capture_output=True, text=True, check=False
        )
        wall = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            sys.exit(f"pytest exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        marks = {}
        for line in Path(out).read_text(encoding="utf-8").splitlines():
            name, value = line.split("\t")
            marks[name] = float(value)
        t0, t1 = (float(v) for v in Path(out + ".pre").read_text(encoding="utf-8").split("\t"))
    return phases(marks, (t0, t1), wall, cpu)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="runs per tree (default 5)")
    p.add_argument("--cpu", action="store_true", help="CPU time of pytest's process, not wall time")
    p.add_argument("--tree", action="append", default=[], help="a checkout to measure (default: installed)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then pytest's arguments")
    opts = p.parse_args(argv)
    args = opts.pytest_args[1:] if opts.pytest_args[:1] == ["--"] else opts.pytest_args
    trees = opts.tree or [""]
    results: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
    for _ in range(opts.runs):
        for t in trees:  # alternating
            results[t].append(run_once(args, t, opts.cpu))
    clock = "CPU ms of pytest's process" if opts.cpu else "wall ms"
    names = [t or "installed" for t in trees]
    print(
        f"{'phase (' + clock + ', median of ' + str(opts.runs) + ')':68s}"
        + "".join(f"{n[-14:]:>16s}" for n in names)
    )
    for key in results[trees[0]][0]:
        row = "".join(f"{statistics.median(r[key] for r in results[t]):16.1f}" for t in trees)
        total = statistics.median(r["total"] for r in results[trees[0]])
        share = statistics.median(r[key] for r in results[trees[0]]) / total * 100
        print(f"{key:68s}{row}   {share:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
