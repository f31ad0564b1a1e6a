"""What pytest itself costs per item, whatever a plugin does: the floor under a run whose every
result is replayed (B2 with the Go test-result cache on, B5).

    python benchmarks/item_floor.py [--items 4000] [--rounds 5]

Three sides, alternating, each a fresh pytest process over ``--items`` items of a trivial custom
Item class (collected from one file by a conftest, no plugin of ours loaded):
  full      pytest's own run-test protocol (setup, call and teardown phases with every plugin's
            hooks: capture, logging, skipping, fixtures), as every multiarch item goes through;
  reports   a protocol that only makes and logs the three reports (what the terminal, JUnit and
            our matrix read) and skips the phases' hooks: not something a plugin may do (marks,
            capture, fixtures and other plugins' hooks would stop working), but the least any
            per-item report costs;
  startup   the same process with ``--collect-only -q``: start-up and collection alone.
It prints the medians of wall and CPU time (the process's user + system time) and the cost per
item of ``full`` and ``reports`` above ``startup``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFTEST = """\
import os

import pytest
from _pytest.runner import CallInfo


class Cell(pytest.Item):
    def runtest(self):
        pass

    def reportinfo(self):
        return self.path, None, self.name


class Cells(pytest.File):
    def collect(self):
        for i in range(int(os.environ["FLOOR_ITEMS"])):
            yield Cell.from_parent(self, name=f"t{i}")


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".cells":
        return Cells.from_parent(parent, path=file_path)


if os.environ.get("FLOOR_REPORTS_ONLY"):

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(item, nextitem):
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        for when in ("setup", "call", "teardown"):
            call = CallInfo.from_call(lambda: None, when=when)
            ihook.pytest_runtest_logreport(report=ihook.pytest_runtest_makereport(item=item, call=call))
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True
"""

SIDES = {
    "full": ({}, []),
    "reports": ({"FLOOR_REPORTS_ONLY": "1"}, []),
    "startup": ({}, ["--collect-only"]),
}


def one(root: Path, items: int, side: str) -> tuple[float, float]:
    env_extra, args = SIDES[side]
    env = {"PATH": "/usr/bin:/bin", "FLOOR_ITEMS": str(items), **env_extra}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:multiarch", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"{side}: pytest exited {done.returncode}\n{tail}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=4000, help="items per run (default 4000: B2's cells)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    opts = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="multiarch-floor-") as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "conftest.py").write_text(CONFTEST)
        (root / "a.cells").write_text("")
        for side in SIDES:  # warm-up: bytecode caches
            one(root, opts.items, side)
        got: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
        for _ in range(opts.rounds):
            for side in SIDES:
                got[side].append(one(root, opts.items, side))
    wall = {s: statistics.median(w for w, _ in v) for s, v in got.items()}
    cpu = {s: statistics.median(c for _, c in v) for s, v in got.items()}
    print(f"{opts.items} items, medians of {opts.rounds} alternating rounds")
    for s in SIDES:
        print(f"  {s:8s} wall {wall[s]:.2f}s  CPU {cpu[s]:.2f}s")
    for s in ("full", "reports"):
        per = (cpu[s] - cpu["startup"]) / opts.items * 1000
        print(f"  {s:8s} per item above start-up and collection: {per:.3f} ms CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
