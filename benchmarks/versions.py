"""Two versions of pytest-multiarch side by side on the same warm workloads: is the new one slower?

    python benchmarks/versions.py OLD_PYTHON NEW_PYTHON [--rounds 5] [--tests 1000] [--arch arm64]

OLD_PYTHON and NEW_PYTHON are the interpreters of two virtual environments, each with its own
checkout installed (``pip install -e``), e.g. a worktree of the commit before a change. Both run
the same workloads, generated once in a temporary directory: W1, one Go package of --tests trivial
tests on one emulated architecture (the per-item cost dominates), and W2, a Go module of 4
packages x 25 tests on arm64 and s390x (a warm re-run: listing, cached builds, batches). Each
workload gets one untimed warm-up run per side (it fills the build cache), then the sides
alternate for --rounds rounds. Printed per workload: the medians of wall time and of CPU time
(user + system of pytest and everything it started, from the kernel's accounting of waited-for
children), and NEW/OLD for each. CPU time is the steadier figure on a loaded machine. Nothing is
asserted; a run that exits non-zero stops the benchmark with its output tail.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(python: str, args: list[str], cwd: Path, timeout: float) -> Sample:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MULTIARCH_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before_cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [python, "-m", "pytest", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise SystemExit(f"{python} -m pytest {' '.join(args)} exited {done.returncode}:\n{tail}")
    return Sample(wall, children_cpu() - before_cpu)


def compare(name: str, pythons: dict[str, str], args: list[str], cwd: Path, rounds: int) -> list[str]:
    """Each side with its own build cache (the two versions' cache formats may differ)."""

    def argv(label: str) -> list[str]:
        return [*args, "--arch-cache-dir", str(cwd / f"cache-{label}")]

    for label, python in pythons.items():
        run_once(python, argv(label), cwd, timeout=900)  # warm-up: fills the build cache, not counted
    samples: dict[str, list[Sample]] = {label: [] for label in pythons}
    for r in range(rounds):
        order = list(pythons.items()) if r % 2 == 0 else list(reversed(pythons.items()))
        for label, python in order:
            samples[label].append(run_once(python, argv(label), cwd, timeout=900))
    wall = {label: statistics.median(s.wall for s in got) for label, got in samples.items()}
    cpu = {label: statistics.median(s.cpu for s in got) for label, got in samples.items()}
    return [name, _line("wall", wall), _line("cpu", cpu)]


def _line(what: str, medians: dict[str, float]) -> str:
    old, new = medians["old"], medians["new"]
    return f"  {what} medians: old {old:.2f}s, new {new:.2f}s; new/old = {new / old:.2f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old_python")
    p.add_argument("new_python")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--tests", type=int, default=1000)
    p.add_argument("--arch", default="arm64")
    opts = p.parse_args()
    pythons = {"old": opts.old_python, "new": opts.new_python}
    with tempfile.TemporaryDirectory(prefix="multiarch-versions-") as tmp:
        work = Path(tmp)
        workloads.write_pytest_ini(work / "w1")
        trivial = workloads.go_trivial(work / "w1", opts.tests)
        workloads.write_pytest_ini(work / "w2")
        module = workloads.go_module(work / "w2", 4, 25, seed=1)
        common = ["-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        lines = compare(
            f"W1 {opts.tests} trivial Go tests on {opts.arch}, warm",
            pythons,
            [*common, f"--arch={opts.arch}", str(trivial)],
            work / "w1",
            opts.rounds,
        )
        lines += compare(
            "W2 Go module 4x25 tests on arm64,s390x, warm",
            pythons,
            [*common, "--arch=arm64,s390x", str(module)],
            work / "w2",
            opts.rounds,
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
