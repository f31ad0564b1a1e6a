"""Verdicts of pytest-multiarch against the toolchains' own, on real public Go modules and crates.

    python benchmarks/real_suites.py [--arches amd64,arm64] [--only xxhash,smallvec] [--keep DIR]

For every suite and architecture, one side is what a user runs today:
- Go: ``go test -json -count=1 ./...`` natively, ``GOARCH=<a> go test -exec qemu-<q>-static ...``
  for the others (CGO_ENABLED=0, as the plugin builds);
- Rust: ``cargo test --target <triple> --lib --bins --tests`` with a qemu runner, the cargo and
  rustc the plugin picks for that arch (benchmarks/perf.py's runner), read from libtest's
  ``test <name> ... ok|FAILED|ignored`` lines;
and the other one ``pytest --arch=<arches> --multiarch-report=...`` on a copy of the same source,
run ``--runs`` times in a row (default 2: the second replays Go's cached results, and must still
agree).
For ``wasm`` the toolchains' side runs an independent WebAssembly runtime, wazero (a Go module,
``go install``ed from the proxy into the work directory), where ours runs wasmtime-py: Go through
Go's own ``$GOROOT/lib/wasm/go_wasip1_wasm_exec`` with ``GOWASIRUNTIME=wazero``, Rust with the
runner ``wazero run -mount /:/ -env-inherit``. A Rust test binary aborts at its first failing test
there (panic=abort): that test is red on their side and the binary's later tests are ours alone.
Every (test, arch) cell of either side is compared; a cell that only one side has, or whose
verdicts differ, is printed. The last line is the total. Sources come from the Go module proxy
(``go mod download``) and crates.io (``cargo fetch``). Nothing is asserted: this is run by hand.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import perf
import workloads

from pytest_multiarch import arch as archmod
from pytest_multiarch.toolchains import rust as rusttool

GO_SUITES = {
    "xxhash": "github.com/cespare/xxhash/v2@v2.3.0",
    "snappy": "github.com/golang/snappy@v0.0.4",
    "uuid": "github.com/google/uuid@v1.6.0",
    "x/crypto": "golang.org/x/crypto@v0.31.0",
}
RUST_SUITES = {"byteorder": "1.5.0", "memchr": "2.7.4", "rustc-hash": "2.1.0", "smallvec": "1.13.2"}
TIMEOUT = 3600.0
WAZERO = "github.com/tetratelabs/wazero/cmd/wazero@v1.12.0"  # the toolchains' wasm runtime here
STOPPED = "<stopped>"  # theirs: the package's test binary died mid-run (a panic)
PACKAGE = "<package>"  # a Go package that failed as a whole, with no per-test verdicts
Cell = tuple[str, str, int, str]  # (package or binary, test, occurrence, arch)
_RUST_LINE = re.compile(r"^test (\S+)(?: - should panic)? \.\.\. (ok|FAILED|ignored)\b", re.M)
_RUNNING = re.compile(r"^\s+Running (?:unittests )?(\S+)", re.M)
# A test's line with no verdict (what it printed as it died may follow on the same line)
_STARTED = re.compile(r"^test (\S+)(?: - should panic)? \.\.\. (?!ok\b|FAILED\b|ignored\b)")


@dataclass
class Sides:
    theirs: dict[Cell, str]
    ours: dict[Cell, str]


def run(argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)  # fmt: skip


# --- Go ----------------------------------------------------------------------------------------
def go_source(go: str, spec: str, work: Path, env: Mapping[str, str]) -> tuple[Path, str]:
    res = run([go, "mod", "download", "-json", spec], work, env)
    if res.returncode != 0:
        raise SystemExit(f"go mod download {spec}: {res.stdout}{res.stderr}")
    info = json.loads(res.stdout)
    module = spec.split("@")[0]
    dst = workloads.copy_writable(Path(info["Dir"]), work / module.replace("/", "_"))
    got = run([go, "mod", "download"], dst, env)  # the module's own dependencies, for both sides
    if got.returncode != 0:
        raise SystemExit(f"go mod download in {dst}: {got.stderr}")
    return dst, module


def wazero(go: str, work: Path, env: Mapping[str, str]) -> Path:
    """wazero's command, built from the Go module proxy into ``work/bin``."""
    res = run([go, "install", WAZERO], work, {**env, "GOBIN": str(work / "bin"), "GOFLAGS": ""})
    if res.returncode != 0:
        raise SystemExit(f"go install {WAZERO}: {res.stderr}")
    return work / "bin" / "wazero"


def go_reference(go: str, src: Path, a: archmod.Arch, env: Mapping[str, str]) -> dict[Cell, str]:
    argv = [go, "test", "-json", "-count=1"]
    run_env = {**env, "GOOS": a.goos, "GOARCH": a.goarch, "CGO_ENABLED": "0"}
    if a.binary_format == "wasm":  # go test finds Go's own go_wasip1_wasm_exec on PATH
        goroot = run([go, "env", "GOROOT"], src, env).stdout.strip()
        wasm_path = f"{Path(env['WAZERO']).parent}:{goroot}/lib/wasm:{env.get('PATH', '')}"
        run_env.update(GOWASIRUNTIME="wazero", PATH=wasm_path)
    elif a != archmod.host():
        argv += ["-exec", perf.find_qemu(a)]
    if a.goarm:
        run_env["GOARM"] = a.goarm
    res = run([*argv, "./..."], src, run_env)
    seen: collections.Counter[tuple[str, str]] = collections.Counter()
    cells: dict[Cell, str] = {}
    failed_packages: set[str] = set()
    panicked: set[str] = set()
    for line in res.stdout.splitlines():
        if not line.startswith("{"):
            continue
        ev = json.loads(line)
        test = ev.get("Test", "")
        if ev.get("Action") in ("pass", "fail", "skip") and test and "/" not in test:
            k = (ev["Package"], test)
            cells[(*k, seen[k], a.name)] = ev["Action"]
            seen[k] += 1
        elif ev.get("Action") == "fail" and not test:
            failed_packages.add(ev["Package"])
        elif ev.get("Action") == "output" and ev.get("Output", "").startswith("panic: "):
            panicked.add(ev["Package"])
    for pkg in failed_packages - {p for p, _ in seen}:  # no test verdicts: a build or TestMain failure
        cells[(pkg, PACKAGE, 0, a.name)] = "fail"
    for pkg in failed_packages & panicked:  # the test binary died: later tests never ran under go test
        cells[(pkg, STOPPED, 0, a.name)] = STOPPED
    return cells


def go_ours(report: Mapping[str, Any], module: str) -> dict[Cell, str]:
    cells: dict[Cell, str] = {}
    for r in report["results"]:
        parts = r["base"].split("::")
        if len(parts) < 3 or not parts[0].endswith("go.mod"):
            continue
        pkg, test = parts[1], parts[2]
        if pkg != module and not pkg.startswith(module + "/"):
            pkg = f"{module}/{pkg}"
        occurrence = 0
        if "." in test:  # an external test package's test whose name the package's own tests share
            occurrence, test = 1, test.split(".", 1)[1]
        cells[(pkg, test, occurrence, r["arch"])] = _ours(r["outcome"])
    return cells


# --- Rust --------------------------------------------------------------------------------------
def wasm_cargo_env(src: Path, a: archmod.Arch, runners: Path, wazero_path: str) -> tuple[str, dict[str, str]]:
    """cargo, and its environment, for `cargo test --target wasm32-wasip1` under wazero."""
    chosen = rusttool.choose_toolchain(a, None, project_dir=src)
    if chosen.missing is not None:
        raise SystemExit(f"{a.name}: {chosen.missing.reason}")
    assert a.rust_triple is not None
    var = a.rust_triple.upper().replace("-", "_")
    env = {**perf.base_env(), "RUSTC": str(chosen.toolchain.rustc), "CARGO_TERM_COLOR": "never",
           "CARGO_TARGET_DIR": str(runners.parent / "loop-target"),
           f"CARGO_TARGET_{var}_RUNNER": f"{wazero_path} run -mount /:/ -env-inherit"}  # fmt: skip
    return str(chosen.toolchain.cargo), env


def rust_reference(src: Path, a: archmod.Arch, runners: Path, wazero_path: str = "") -> dict[Cell, str]:
    runners.mkdir(parents=True, exist_ok=True)
    if a.binary_format == "wasm":
        cargo, env = wasm_cargo_env(src, a, runners, wazero_path)
        triple = str(a.rust_triple)
    else:
        target = perf.cargo_target(a, src, runners, None)
        cargo, triple, env = target.cargo, target.triple, dict(target.env)
        if a == archmod.host():  # no emulator: cargo runs the binary itself
            env.pop(f"CARGO_TARGET_{triple.upper().replace('-', '_')}_RUNNER", None)
    argv = [cargo, "test", "--target", triple, "--lib", "--bins", "--tests", "--no-fail-fast"]
    res = subprocess.run(argv, cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=TIMEOUT, check=False)  # fmt: skip
    cells: dict[Cell, str] = {}
    binary, started, finished = "?", "", True
    for line in [*res.stdout.splitlines(), "     Running <end>"]:
        if m := _RUNNING.match(line):
            if not finished and started:  # the binary died in this test: red, the rest not run
                cells[(binary, started, 0, a.name)] = "fail"
                cells[(binary, STOPPED, 0, a.name)] = STOPPED
            binary, started, finished = _binary_id(m.group(1)), "", False
        elif m := _RUST_LINE.match(line):
            verdict = {"ok": "pass", "FAILED": "fail", "ignored": "skip"}[m.group(2)]
            cells[(binary, m.group(1), 0, a.name)] = verdict
            started = ""
        elif m := _STARTED.match(line):
            started = m.group(1)
        elif line.startswith("test result:"):
            finished = True
    if not cells and res.returncode != 0:
        cells[("<build>", "<build>", 0, a.name)] = "fail"
    return cells


def _binary_id(path: str) -> str:
    """cargo's `Running` path → the node id's binary part (docs/reference/node-ids.md)."""
    if path in ("src/lib.rs",):
        return "lib"
    p = Path(path)
    if p.parts[:1] == ("tests",):
        return f"tests/{p.stem}"
    if p.parts[:1] == ("src",):  # src/main.rs or src/bin/<name>.rs
        return f"bin/{p.stem}"
    return path


def rust_ours(report: Mapping[str, Any]) -> dict[Cell, str]:
    cells: dict[Cell, str] = {}
    for r in report["results"]:
        parts = r["base"].split("::")
        if parts[0].endswith("Cargo.toml") and parts[1:] == [""]:  # the crate did not build
            cells[("<build>", "<build>", 0, r["arch"])] = _ours(r["outcome"])
            continue
        if len(parts) < 3 or not parts[0].endswith("Cargo.toml"):
            continue
        cells[(parts[1], "::".join(parts[2:]), 0, r["arch"])] = _ours(r["outcome"])
    return cells


# --- ours, and the comparison ------------------------------------------------------------------
def _ours(outcome: str) -> str:
    return {"passed": "pass", "failed": "fail", "skipped": "skip"}.get(outcome, outcome)


def pytest_report(src: Path, arches: str, out: Path, env: Mapping[str, str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "pytest", str(src), f"--arch={arches}", f"--multiarch-report={out}", "-q",
            "-p", "no:randomly", "--rootdir", str(src), "-c", os.devnull, "--arch-matrix=none"]  # fmt: skip
    res = run(argv, src, env)
    if not out.is_file():
        raise SystemExit(f"pytest wrote no report (exit {res.returncode}):\n{res.stdout[-3000:]}{res.stderr}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _cached(report: Mapping[str, Any]) -> int:
    return sum(1 for r in report["results"] if r.get("cached"))


def fold_failed_packages(sides: Sides) -> None:
    """Where go test failed a package as a whole (TestMain, build), our cells of that package
    become one: red when any of them is red."""
    for pkg, _, _, a in [c for c in sides.theirs if c[1] == PACKAGE]:
        mine = [c for c in sides.ours if c[0] == pkg and c[3] == a]
        if mine:
            red = any(sides.ours.pop(c) in ("fail", "error") for c in mine)
            sides.ours[(pkg, PACKAGE, 0, a)] = "fail" if red else "pass"


def compare(name: str, sides: Sides) -> tuple[int, int]:
    fold_failed_packages(sides)
    stopped = {(c[0], c[3]) for c in sides.theirs if c[1] == STOPPED}
    cells = {c for c in set(sides.theirs) | set(sides.ours) if c[1] != STOPPED}
    bad = beyond = 0
    for cell in sorted(cells):
        theirs, ours = sides.theirs.get(cell, "-"), sides.ours.get(cell, "-")
        if theirs == "-" and (cell[0], cell[3]) in stopped:
            beyond += 1  # their binary died before this test (a panic, an abort); we ran it in a new one
            continue
        if theirs != ours:
            bad += 1
            if bad <= 25:
                pkg, test, occ, a = cell
                print(f"  DIFF {name} {pkg} {test}{'#' + str(occ) if occ else ''} [{a}]: "
                      f"toolchain {theirs}, pytest-multiarch {ours}")  # fmt: skip
    extra = f", {beyond} run only by us (the toolchain's test binary died before them)" if beyond else ""
    n = len(cells) - beyond
    print(f"{name}: {n} cells, {n - bad} equal, {bad} differ{extra}", flush=True)
    return n, bad


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arches", default="amd64,arm64")
    p.add_argument("--only", default="", help="comma list of suite names (default: all eight)")
    p.add_argument("--keep", type=Path, help="work in this directory and leave it")
    runs_help = "pytest runs per suite, each compared (the later ones replay Go's cached results)"
    p.add_argument("--runs", type=int, default=2, help=runs_help)
    opts = p.parse_args(list(argv) if argv is not None else None)
    only = {s for s in opts.only.split(",") if s}
    arches = archmod.parse_list([opts.arches])
    work = opts.keep or Path(tempfile.mkdtemp(prefix="real-suites-"))
    work.mkdir(parents=True, exist_ok=True)
    env = perf.base_env()
    env.update(GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    go = perf.find_go()
    if any(a.binary_format == "wasm" for a in arches):
        env["WAZERO"] = str(wazero(go, work, env))
    total = differ = 0
    for name, spec in GO_SUITES.items():
        if only and name not in only:
            continue
        src, module = go_source(go, spec, work, env)
        theirs: dict[Cell, str] = {}
        for a in arches:
            theirs.update(go_reference(go, src, a, env))
        for i in range(opts.runs):
            report = pytest_report(src, opts.arches, work / f"{src.name}.json", env)
            n, bad = compare(
                f"{name} (run {i + 1}, {_cached(report)} cached)",
                Sides(dict(theirs), go_ours(report, module)),
            )
            total, differ = total + n, differ + bad
    for name, version in RUST_SUITES.items():
        if only and name not in only:
            continue
        src = workloads.fetch_crate(name, version, work, env)
        theirs = {}
        for a in arches:
            theirs.update(rust_reference(src, a, work / f"runners-{name}", env.get("WAZERO", "")))
        for i in range(opts.runs):
            report = pytest_report(src, opts.arches, work / f"{src.name}.json", env)
            n, bad = compare(
                f"{name} (run {i + 1}, {_cached(report)} cached)", Sides(dict(theirs), rust_ours(report))
            )
            total, differ = total + n, differ + bad
    print(f"total: {total} cells, {total - differ} equal, {differ} differ ({work})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
