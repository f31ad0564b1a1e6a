"""Side-by-side benchmarks of pytest-multiarch against what users run today, in one run.

    python benchmarks/perf.py [B1 B2 B3 B4 B5 ...] [--repeat 3] [--keep DIR]
    python benchmarks/perf.py B1 --packages 2 --tests 5 --repeat 1      # quick smoke run

B1  Go module (packages x tests), after an edit: every package's source changes before every run.
    A = `for a in ARCHES: GOARCH=$a go test -count=1 -exec qemu-$a-static ./...` (sequential),
    B = one `pytest --arch=ARCHES --arch-executor=qemu`, C = B with `-n 2`; pytest's peak RSS.
B2  The same module, nothing changed: A, B = pytest with `--arch-test-cache=off` (every test runs
    again), C = pytest with the Go test-result cache on (the default: every result replayed), and
    L = the bare-run limit: the test binaries (built once with `go test -c`) run under
    `qemu-$a-static` with the plugin's -test.run selection, os.cpu_count() processes at once,
    nothing else. Ratios B/L (target <= 1.2) and C/A (target <= 0.1); and how many go/cargo/rustc
    processes a re-run of C starts (counted by wrapper scripts first on PATH, in a separate run).
B3  2,000 trivial Go tests on one arch: the binary run by hand under qemu (a), the plugin with
    the test cache off (b), 2,000 trivial plain-Python tests (c); the plugin's own cost per item
    is (b - a - c) / n.
B4  Rust crate (no dependencies): a `cargo test --target T` loop with a qemu runner against one
    pytest run.
B6  A real crate cold (default smallvec 1.13.2 from crates.io): before every run, a fresh copy of
    its source and no build output at all. A = `for a in ARCHES: cargo test --target T --lib --bins
    --tests --no-fail-fast` with a qemu runner (one CARGO_TARGET_DIR per round, as a user's), B = one
    pytest run (a fresh rootdir: no build cache); both sides must pass the same number of tests
    (smallvec fails one test on 32-bit targets, on both sides). Target B/A <= 0.8.
B5  The Go module, ONE package edited before every run (the same package on both sides of a
    round, another one each round): A against B = pytest with the test cache on (the default),
    which rebuilds and runs that package and replays the others. Target B/A <= 0.2.

Every pytest side is checked against the matrix's `cached` column: sides meant to run their tests
must replay none, cache-on sides exactly the results whose inputs did not change.
Workloads are generated in a temporary directory (or in --keep DIR, left in place). Each has its
own rootdir (a `[pytest]` ini) so pytest's cache, and the plugin's build cache in it, persist
between runs. Each side gets one untimed warm-up run first, then the sides alternate for --repeat
rounds; summaries are ratios of medians. Nothing is asserted: a side that fails (non-zero exit, or
fewer passed tests than generated) stops the benchmark with its output tail.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads

import pytest_multiarch
from pytest_multiarch import arch as archmod
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.go import test2json

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("B1", "B2", "B3", "B4", "B5", "B6")
GO_ARCHES = "arm64,s390x,riscv64,ppc64le"
RUST_ARCHES = "arm64,arm,s390x"
B3_ARCH = "arm64"
# Environment that would make the sides differ or put the cache outside the workload; and
# PYTHONDONTWRITEBYTECODE, which makes every pytest run recompile pytest, the plugin and (without
# the assertion-rewrite cache) each test file, a cost users with normal settings do not pay.
DROPPED_ENV = (
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "MULTIARCH_CACHE_DIR",
    "CARGO_TARGET_DIR",
    "PYTHONDONTWRITEBYTECODE",
)
# pytest.main in a wrapper that reports the peak RSS of the pytest process itself (not children).
RSS_WRAPPER = (
    "import resource, sys, pytest; rc = pytest.main(sys.argv[1:]); "
    "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
    "sys.exit(rc)"
)
PASSED_RE = re.compile(r"(\d+) passed")
MAXRSS_RE = re.compile(r"^MAXRSS (\d+)$", re.MULTILINE)


class BenchError(Exception):
    """A side did not run its tests: the benchmark stops instead of printing a ratio."""


@dataclass(frozen=True)
class Finished:
    rc: int
    seconds: float
    output: str  # stdout then stderr
    cpu: float = 0.0  # user + system seconds of the process and every descendant it waited for


@dataclass(frozen=True)
class Outcome:
    seconds: float
    maxrss_kib: int | None = None
    cpu: float | None = None  # CPU seconds of the side's processes, where measured


@dataclass(frozen=True)
class Side:
    label: str
    run: Callable[[], Outcome]
    prepare: Callable[[], None] | None = None  # untimed, before every run of this side


# ---------------------------------------------------------------------------------------------
# Running and checking


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in DROPPED_ENV:
        env.pop(name, None)
    return env


def run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> Finished:
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        res = subprocess.run(
            list(argv), cwd=cwd, env=dict(env), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    return Finished(res.returncode, seconds, output, cpu)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def fail(what: str, argv: Sequence[str], done: Finished, why: str) -> BenchError:
    return BenchError(f"{what} failed ({why}): {' '.join(argv)}\n--- output tail ---\n{tail(done.output)}")


def require_rc0(what: str, argv: Sequence[str], done: Finished) -> None:
    if done.rc != 0:
        raise fail(what, argv, done, f"exit code {done.rc}")


def require_count(what: str, argv: Sequence[str], done: Finished, found: int, expected: int) -> None:
    if found < expected:
        raise fail(what, argv, done, f"{found} tests passed, expected {expected}")


def pytest_passed(output: str) -> int:
    # The last "N passed" is pytest's summary line (-q prints only that and the dots).
    found = PASSED_RE.findall(output)
    return int(found[-1]) if found else 0


def cached_count(output: str) -> int:
    """Results the multiarch matrix says were replayed from the test-result cache (its `cached`
    column, printed only when there are any); 0 without the column."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        head = line.split()
        if head[:2] == ["arch", "passed"] and "cached" in head:
            col, total = head.index("cached"), 0
            for row in lines[i + 1 :]:
                cells = row.split()
                if len(cells) <= col or not cells[1].isdigit():
                    break
                total += int(cells[col])
            return total
    return 0


def maxrss(output: str) -> int | None:
    m = MAXRSS_RE.search(output)
    return int(m.group(1)) if m else None


def run_pytest(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    expected: int,
    timeout: float,
    cached: int | None = 0,
) -> Outcome:
    """One pytest run (through RSS_WRAPPER) that must exit 0 having passed ``expected`` tests, of
    which exactly ``cached`` replayed from the Go test-result cache (None: not checked). The
    default, 0, is for the sides meant to run their tests."""
    argv = [sys.executable, "-c", RSS_WRAPPER, *args]
    done = run(argv, cwd=cwd, env=env, timeout=timeout)
    require_rc0("pytest", argv, done)
    require_count("pytest", argv, done, pytest_passed(done.output), expected)
    replayed = cached_count(done.output)
    if cached is not None and replayed != cached:
        raise fail(
            "pytest", argv, done, f"{replayed} results replayed from the test cache, expected {cached}"
        )
    return Outcome(done.seconds, maxrss(done.output))


def plugin_args(arches: Sequence[archmod.Arch], target: Path, *extra: str) -> list[str]:
    names = ",".join(a.name for a in arches)
    return ["-q", "-p", "no:randomly", f"--arch={names}", "--arch-executor=qemu", *extra, str(target)]


def find_qemu(arch: archmod.Arch) -> str:
    found = shutil.which(f"qemu-{arch.qemu_name}-static")
    if found is None:
        raise BenchError(f"qemu-{arch.qemu_name}-static is not on PATH")
    return found


def find_go() -> str:
    found = shutil.which("go") or shutil.which("/usr/local/go/bin/go")
    if found is None:
        raise BenchError("go is not on PATH nor in /usr/local/go/bin")
    return found


# ---------------------------------------------------------------------------------------------
# Measuring


def measure(sides: Sequence[Side], repeat: int) -> dict[str, list[Outcome]]:
    """One untimed warm-up run of each side, then ``repeat`` rounds alternating the sides."""
    for side in sides:
        if side.prepare:
            side.prepare()
        print(f"  warm-up  {side.label}: {side.run().seconds:.2f}s (not counted)", flush=True)
    results: dict[str, list[Outcome]] = {side.label: [] for side in sides}
    for i in range(repeat):
        shown = []
        for side in sides:
            if side.prepare:
                side.prepare()
            outcome = side.run()
            results[side.label].append(outcome)
            shown.append(f"{side.label} {outcome.seconds:.2f}s")
        print(f"  round {i + 1}  " + ", ".join(shown), flush=True)
    return results


def median(outcomes: Sequence[Outcome]) -> float:
    return statistics.median(o.seconds for o in outcomes)


def medians_line(results: Mapping[str, Sequence[Outcome]]) -> str:
    return "medians: " + ", ".join(f"{label} {median(o):.2f}s" for label, o in results.items())


def ratio_line(results: Mapping[str, Sequence[Outcome]], num: str, den: str) -> str:
    r = median(results[num]) / median(results[den])
    return f"ratio {num[0]}/{den[0]} = {r:.2f}  ({num} takes {r:.2f}x the time of {den})"


def cpu_line(results: Mapping[str, Sequence[Outcome]], num: str, den: str) -> str:
    """The medians of CPU time (steadier than wall time on a shared machine) and their ratio."""
    cpu = {k: statistics.median(o.cpu or 0.0 for o in v) for k, v in results.items() if k in (num, den)}
    return (f"CPU medians: {den} {cpu[den]:.1f}s, {num} {cpu[num]:.1f}s; "
            f"ratio {num[0]}/{den[0]} = {cpu[num] / cpu[den]:.2f}")  # fmt: skip


def rss_line(label: str, outcomes: Sequence[Outcome]) -> str:
    values = [o.maxrss_kib for o in outcomes if o.maxrss_kib is not None]
    if not values:
        return f"peak RSS of {label}: not reported"
    return f"peak RSS of {label}: max {max(values) / 1024:.0f} MiB over {len(values)} runs"


# ---------------------------------------------------------------------------------------------
# B1, B2: a Go module


@dataclass(frozen=True)
class GoModule:
    root: Path  # the rootdir (pytest.ini)
    mod: Path
    packages: int
    tests: int


def make_go_module(work: Path, name: str, packages: int, tests: int, seeds: Iterator[int]) -> GoModule:
    root = work / name
    workloads.write_pytest_ini(root)
    mod = workloads.go_module(root, packages, tests, next(seeds))
    return GoModule(root, mod, packages, tests)


def go_loop(module: GoModule, arches: Sequence[archmod.Arch], timeout: float) -> Outcome:
    """The shell loop: one `go test ./...` per arch, one after the other."""
    go = find_go()
    start = time.perf_counter()
    for a in arches:
        env = {**base_env(), "GOARCH": a.goarch, "CGO_ENABLED": "0"}
        env.pop("GOARM", None)
        if a.goarm:
            env["GOARM"] = a.goarm
        argv = [go, "test", "-count=1", "-exec", find_qemu(a), "./..."]
        done = run(argv, cwd=module.mod, env=env, timeout=timeout)
        require_rc0(f"go test ({a.name})", argv, done)
        ok = sum(1 for line in done.output.splitlines() if line.startswith("ok "))
        require_count(f"go test ({a.name})", argv, done, ok * module.tests, module.packages * module.tests)
    return Outcome(time.perf_counter() - start)


def go_plugin(
    module: GoModule, arches: Sequence[archmod.Arch], timeout: float, *extra: str, cached: int | None = 0
) -> Callable[[], Outcome]:
    """One pytest run over the module; ``cached`` results must replay from the test cache."""
    expected = module.packages * module.tests * len(arches)
    args = plugin_args(arches, module.mod, *extra)
    return lambda: run_pytest(
        args, cwd=module.root, env=base_env(), expected=expected, timeout=timeout, cached=cached
    )


def build_go_test_binaries(
    module: GoModule, arches: Sequence[archmod.Arch], out: Path, timeout: float
) -> list[tuple[archmod.Arch, Path]]:
    """Every package's test binary for every arch (`go test -c -o DIR/ ./...`), in ``out/ARCH``."""
    found: list[tuple[archmod.Arch, Path]] = []
    for a in arches:
        dest = out / a.name
        dest.mkdir(parents=True, exist_ok=True)
        env = {**base_env(), "GOARCH": a.goarch, "CGO_ENABLED": "0"}
        env.pop("GOARM", None)
        if a.goarm:
            env["GOARM"] = a.goarm
        argv = [find_go(), "test", "-c", "-o", f"{dest}{os.sep}", "./..."]
        require_rc0(f"go test -c ({a.name})", argv, run(argv, cwd=module.mod, env=env, timeout=timeout))
        found += [(a, b) for b in sorted(dest.glob("*.test"))]
    if len(found) != module.packages * len(arches):
        raise BenchError(f"go test -c built {len(found)} binaries, expected {module.packages * len(arches)}")
    return found


def bare_limit(module: GoModule, binaries: Sequence[tuple[archmod.Arch, Path]], timeout: float) -> Outcome:
    """The bare-run limit: every test binary under qemu with the plugin's -test.run selection, in
    its package's directory, os.cpu_count() processes at once, nothing else."""
    args = test2json.test_args(workloads.go_test_names(module.tests))

    def one(job: tuple[archmod.Arch, Path]) -> None:
        arch, binary = job
        argv = [find_qemu(arch), str(binary), *args]
        done = run(argv, cwd=module.mod / binary.stem, env=base_env(), timeout=timeout)
        require_rc0(f"test binary ({arch.name})", argv, done)
        require_count(f"test binary ({arch.name})", argv, done, done.output.count("--- PASS: "), module.tests)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(one, binaries))  # re-raises the first BenchError
    return Outcome(time.perf_counter() - start)


def bench_b1(opts: argparse.Namespace, work: Path, seeds: Iterator[int]) -> list[str]:
    arches = archmod.parse_list([opts.arches or GO_ARCHES])
    module = make_go_module(work, "b1", opts.packages, opts.tests, seeds)
    names = ",".join(a.name for a in arches)
    print(f"B1: Go module {opts.packages} packages x {opts.tests} tests, {names}, after an edit", flush=True)

    def edit() -> None:
        workloads.edit_go_module(module.mod, next(seeds))

    sides = [
        Side("A go-test-loop", lambda: go_loop(module, arches, opts.timeout), edit),
        Side("B pytest", go_plugin(module, arches, opts.timeout), edit),
        Side("C pytest-n2", go_plugin(module, arches, opts.timeout, "-n", "2"), edit),
    ]
    results = measure(sides, opts.repeat)
    return [
        f"B1 Go module {opts.packages}x{opts.tests} tests, {names}, after an edit (every package recompiles)",
        medians_line(results),
        ratio_line(results, "B pytest", "A go-test-loop"),
        ratio_line(results, "C pytest-n2", "A go-test-loop"),
        rss_line("the pytest process (B)", results["B pytest"]),
        rss_line("the xdist controller only (C)", results["C pytest-n2"]),
    ]


def write_counting_shims(shims: Path, counter: Path) -> None:
    """`go`, `cargo`, `rustc` scripts that log their argv to ``counter``, then exec the real tool."""
    shims.mkdir(parents=True, exist_ok=True)
    real = {
        "go": shutil.which("go") or find_go(),
        "cargo": shutil.which("cargo"),
        "rustc": shutil.which("rustc"),
    }
    for name, path in real.items():
        if path is None:
            continue
        script = shims / name
        script.write_text(
            f"#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{counter}'\nexec '{path}' \"$@\"\n",
            encoding="utf-8",
        )
        script.chmod(0o755)


def counted_run(
    counter: Path, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], expected: int, timeout: float
) -> str:
    """One pytest run with the counting shims; what they logged, e.g. `5 (go list: 4, go test: 1)`."""
    counter.write_text("", encoding="utf-8")
    run_pytest(args, cwd=cwd, env=env, expected=expected, timeout=timeout, cached=None)
    lines = counter.read_text(encoding="utf-8").splitlines()
    kinds = collections.Counter(" ".join(line.split()[:2]) for line in lines)
    detail = ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items())) or "none"
    return f"{len(lines)} ({detail})"


def count_rerun_builds(
    module: GoModule, arches: Sequence[archmod.Arch], timeout: float, edit: Callable[[], None]
) -> list[str]:
    """Run B with the shims first on PATH: once to settle any cache keyed on the tool's path, once
    counted (the re-run), and once counted after an edit, which shows the shims are the tools used."""
    shims, counter = module.root / "shims", module.root / "build-processes.log"
    write_counting_shims(shims, counter)
    env = {**base_env(), "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("MULTIARCH_GO", "CARGO", "RUSTC"):  # else they, not PATH, would name the tool
        env.pop(name, None)
    expected = module.packages * module.tests * len(arches)
    args = plugin_args(arches, module.mod)  # the test cache on, as users run it
    run_pytest(args, cwd=module.root, env=env, expected=expected, timeout=timeout, cached=None)
    rerun = counted_run(counter, args, cwd=module.root, env=env, expected=expected, timeout=timeout)
    edit()
    edited = counted_run(counter, args, cwd=module.root, env=env, expected=expected, timeout=timeout)
    check = "" if not edited.startswith("0 ") else "; WARNING: the shims saw nothing, the count is unproven"
    return [
        f"build processes started on re-run: {rerun}",
        f"  (check: after an edit of every package the same shims counted {edited}{check})",
    ]


def bench_b2(opts: argparse.Namespace, work: Path, seeds: Iterator[int]) -> list[str]:
    arches = archmod.parse_list([opts.arches or GO_ARCHES])
    module = make_go_module(work, "b2", opts.packages, opts.tests, seeds)
    names = ",".join(a.name for a in arches)
    print(
        f"B2: Go module {opts.packages} packages x {opts.tests} tests, {names}, nothing changed", flush=True
    )
    expected = module.packages * module.tests * len(arches)
    binaries = build_go_test_binaries(module, arches, module.root / "binaries", opts.timeout)
    cache_off = go_plugin(module, arches, opts.timeout, "--arch-test-cache=off")
    cache_on = go_plugin(module, arches, opts.timeout, cached=expected)
    go_plugin(module, arches, opts.timeout, cached=None)()  # untimed: fills the test-result cache
    sides = [
        Side("A go-test-loop", lambda: go_loop(module, arches, opts.timeout)),
        Side("B pytest-cache-off", cache_off),
        Side("C pytest-cache-on", cache_on),
        Side("L bare-run-limit", lambda: bare_limit(module, binaries, opts.timeout)),
    ]
    results = measure(sides, opts.repeat)

    def edit() -> None:
        workloads.edit_go_module(module.mod, next(seeds))

    counted = count_rerun_builds(module, arches, opts.timeout, edit)
    print("\n".join(f"  {line}" for line in counted), flush=True)
    return [
        f"B2 Go module {opts.packages}x{opts.tests} tests, {names}, nothing changed (warm re-run)",
        medians_line(results),
        ratio_line(results, "B pytest-cache-off", "A go-test-loop"),
        ratio_line(results, "B pytest-cache-off", "L bare-run-limit") + "  [target <= 1.2]",
        ratio_line(results, "C pytest-cache-on", "A go-test-loop") + "  [target <= 0.1]",
        rss_line("the pytest process (B, cache off)", results["B pytest-cache-off"]),
        rss_line("the pytest process (C, cache on)", results["C pytest-cache-on"]),
        *counted,
    ]


# ---------------------------------------------------------------------------------------------
# B3: per-item overhead


def build_go_test_binary(mod: Path, arch: archmod.Arch, out: Path, timeout: float) -> None:
    env = {**base_env(), "GOARCH": arch.goarch, "CGO_ENABLED": "0"}
    env.pop("GOARM", None)
    if arch.goarm:
        env["GOARM"] = arch.goarm
    argv = [find_go(), "test", "-c", "-o", str(out)]
    require_rc0("go test -c", argv, run(argv, cwd=mod, env=env, timeout=timeout))


def by_hand(binary: Path, arch: archmod.Arch, tests: int, timeout: float) -> Outcome:
    """The test binary run once under qemu, its test2json output read through a pipe."""
    argv = [find_qemu(arch), str(binary), "-test.v=test2json", "-test.count=1"]
    done = run(argv, cwd=binary.parent, env=base_env(), timeout=timeout)
    require_rc0("test binary", argv, done)
    require_count("test binary", argv, done, done.output.count("--- PASS: "), tests)
    return Outcome(done.seconds)


def bench_b3(opts: argparse.Namespace, work: Path, seeds: Iterator[int]) -> list[str]:
    arch = archmod.parse_list([opts.arches or B3_ARCH])[0]
    n = opts.b3_tests
    root = work / "b3"
    workloads.write_pytest_ini(root / "go")
    mod = workloads.go_trivial(root / "go", n)
    workloads.write_pytest_ini(root / "py")
    pyfile = workloads.python_trivial(root / "py", n)
    binary = root / "trivial.test"
    build_go_test_binary(mod, arch, binary, opts.timeout)
    print(f"B3: {n} trivial tests, {arch.name}, warm", flush=True)
    go_args = plugin_args([arch], mod, "--arch-test-cache=off")  # b runs the binary every time
    py_args = ["-q", "-p", "no:randomly", "-p", "no:multiarch", str(pyfile)]
    sides = [
        Side("a binary-by-hand", lambda: by_hand(binary, arch, n, opts.timeout)),
        Side(
            "b pytest-multiarch",
            lambda: run_pytest(go_args, cwd=root / "go", env=base_env(), expected=n, timeout=opts.timeout),
        ),
        Side(
            "c plain-pytest",
            lambda: run_pytest(py_args, cwd=root / "py", env=base_env(), expected=n, timeout=opts.timeout),
        ),
    ]
    results = measure(sides, opts.repeat)
    a, b, c = (median(results[s.label]) for s in sides)
    per_item = (b - a - c) / n * 1000
    return [
        f"B3 {n} trivial Go tests on {arch.name} (warm)",
        medians_line(results),
        f"plugin overhead per item = (b - a - c) / {n} = {per_item:.3f} ms"
        + (" (negative: a Go item costs less than a plain Python test item)" if per_item < 0 else ""),
    ]


# ---------------------------------------------------------------------------------------------
# B4: a Rust crate


def write_runner(path: Path, arch: archmod.Arch) -> None:
    """The qemu runner for cargo, with the sysroot and guest LD_LIBRARY_PATH the plugin uses."""
    sysroot = f"/usr/{arch.gnu_triple}"
    libs = ":".join(d for d in ("/lib", "/lib64") if os.path.isdir(sysroot + d))
    path.write_text(
        f"#!/bin/sh\nexec '{find_qemu(arch)}' -L '{sysroot}' -E 'LD_LIBRARY_PATH={libs}' \"$@\"\n",
        encoding="utf-8",
    )
    path.chmod(0o755)


@dataclass(frozen=True)
class CargoTarget:
    arch: archmod.Arch
    triple: str
    cargo: str
    rustc: str
    env: dict[str, str]


def cargo_target(arch: archmod.Arch, crate: Path, runners: Path, explicit: str | None) -> CargoTarget:
    """The env of `cargo test --target T` for the loop, with the cargo the plugin would pick."""
    if arch.rust_triple is None:
        raise BenchError(f"{arch.name} has no Rust target")
    chosen = rusttool.choose_toolchain(arch, explicit, project_dir=crate)
    if chosen.missing is not None:
        raise BenchError(f"{arch.name}: {chosen.missing.reason}")
    triple, var = arch.rust_triple, arch.rust_triple.upper().replace("-", "_")
    runner = runners / f"run-{arch.name}"
    write_runner(runner, arch)
    env = {
        **base_env(),
        f"CARGO_TARGET_{var}_RUNNER": str(runner),
        f"CARGO_TARGET_{var}_LINKER": f"{arch.gnu_triple}-gcc",
        "QEMU_LD_PREFIX": f"/usr/{arch.gnu_triple}",
        "RUSTC": str(chosen.toolchain.rustc),
        "CARGO_TARGET_DIR": str(runners.parent / "loop-target"),
        "CARGO_TERM_COLOR": "never",
    }
    return CargoTarget(arch, triple, str(chosen.toolchain.cargo), str(chosen.toolchain.rustc), env)


def cargo_loop(crate: Path, targets: Sequence[CargoTarget], tests: int, timeout: float) -> Outcome:
    start = time.perf_counter()
    for t in targets:
        argv = [t.cargo, "test", "--target", t.triple]
        done = run(argv, cwd=crate, env=t.env, timeout=timeout)
        require_rc0(f"cargo test ({t.arch.name})", argv, done)
        passed = sum(int(n) for n in re.findall(r"test result: ok\. (\d+) passed", done.output))
        require_count(f"cargo test ({t.arch.name})", argv, done, passed, tests)
    return Outcome(time.perf_counter() - start)


def bench_b4(opts: argparse.Namespace, work: Path, seeds: Iterator[int]) -> list[str]:
    arches = archmod.parse_list([opts.arches or RUST_ARCHES])
    root = work / "b4"
    workloads.write_pytest_ini(root)
    crate = workloads.rust_crate(root, opts.rust_tests)
    (root / "runners").mkdir(exist_ok=True)
    targets = [cargo_target(a, crate, root / "runners", opts.cargo) for a in arches]
    names = ",".join(a.name for a in arches)
    print(f"B4: Rust crate {opts.rust_tests} tests, {names}, warm", flush=True)
    for t in targets:
        print(f"  loop {t.arch.name}: {t.cargo} (rustc {t.rustc})", flush=True)
    args = plugin_args(arches, crate)
    expected = opts.rust_tests * len(arches)
    sides = [
        Side("A cargo-test-loop", lambda: cargo_loop(crate, targets, opts.rust_tests, opts.timeout)),
        Side(
            "B pytest",
            lambda: run_pytest(args, cwd=root, env=base_env(), expected=expected, timeout=opts.timeout),
        ),
    ]
    results = measure(sides, opts.repeat)
    return [
        f"B4 Rust crate {opts.rust_tests} tests, {names} (warm, nothing changed)",
        medians_line(results),
        ratio_line(results, "B pytest", "A cargo-test-loop"),
    ]


# ---------------------------------------------------------------------------------------------
# B5: one package edited


def bench_b5(opts: argparse.Namespace, work: Path, seeds: Iterator[int]) -> list[str]:
    arches = archmod.parse_list([opts.arches or GO_ARCHES])
    module = make_go_module(work, "b5", opts.packages, opts.tests, seeds)
    names = ",".join(a.name for a in arches)
    print(
        f"B5: Go module {opts.packages} packages x {opts.tests} tests, {names}, one package edited",
        flush=True,
    )
    expected = module.packages * module.tests * len(arches)
    turn = [0]  # the package edited this round: the loop's edit moves on, pytest's edits it again

    def edit_next() -> None:
        turn[0] += 1
        workloads.edit_go_package(module.mod, turn[0], next(seeds))

    def edit_same() -> None:
        workloads.edit_go_package(module.mod, turn[0], next(seeds))

    go_plugin(module, arches, opts.timeout, cached=None)()  # untimed: fills the test-result cache
    replayed = expected - module.tests * len(arches)  # all but the edited package, on every arch
    sides = [
        Side("A go-test-loop", lambda: go_loop(module, arches, opts.timeout), edit_next),
        Side("B pytest-cache-on", go_plugin(module, arches, opts.timeout, cached=replayed), edit_same),
    ]
    results = measure(sides, opts.repeat)
    return [
        f"B5 Go module {opts.packages}x{opts.tests} tests, {names}, one package edited before each run",
        medians_line(results),
        ratio_line(results, "B pytest-cache-on", "A go-test-loop") + "  [target <= 0.2]",
        rss_line("the pytest process (B)", results["B pytest-cache-on"]),
    ]


# ---------------------------------------------------------------------------------------------
# B6: a real crate, cold


def cargo_loop_passed(crate: Path, targets: Sequence[CargoTarget], timeout: float) -> tuple[Outcome, int]:
    """The loop of B6 (lib, bins and integration tests; no doctests, which the plugin does not
    run); its time and how many tests passed."""
    start, cpu = time.perf_counter(), 0.0
    passed = 0
    for t in targets:
        argv = [t.cargo, "test", "--target", t.triple, "--lib", "--bins", "--tests", "--no-fail-fast"]
        done = run(argv, cwd=crate, env=t.env, timeout=timeout)
        if "test result:" not in done.output:  # a real crate may fail tests; it must run them
            raise fail(f"cargo test ({t.arch.name})", argv, done, "no test binary ran")
        passed += sum(int(n) for n in re.findall(r"test result: \w+\. (\d+) passed", done.output))
        cpu += done.cpu
    return Outcome(time.perf_counter() - start, cpu=cpu), passed


def bench_b6(opts: argparse.Namespace, work: Path, seeds: Iterator[int]) -> list[str]:
    arches = archmod.parse_list([opts.arches or RUST_ARCHES])
    name, _, version = opts.crate.partition("@")
    root = work / "b6"
    root.mkdir(parents=True, exist_ok=True)
    pristine = workloads.fetch_crate(name, version, root / "registry", base_env())
    names = ",".join(a.name for a in arches)
    print(f"B6: {name} {version} cold, {names}", flush=True)
    loop_dir, plugin_dir = root / "loop", root / "plugin"

    def fresh(where: Path) -> Path:
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        workloads.write_pytest_ini(where)
        (where / "runners").mkdir()
        return workloads.copy_writable(pristine, where / "crate")

    fresh(loop_dir)
    targets = [cargo_target(a, loop_dir / "crate", loop_dir / "runners", opts.cargo) for a in arches]
    for t in targets:
        print(f"  loop {t.arch.name}: {t.cargo} (rustc {t.rustc})", flush=True)
    counts: dict[str, int] = {}

    def loop() -> Outcome:
        outcome, counts["loop"] = cargo_loop_passed(loop_dir / "crate", targets, opts.timeout)
        return outcome

    def plugin() -> Outcome:
        args = plugin_args(arches, plugin_dir / "crate")
        argv = [sys.executable, "-c", RSS_WRAPPER, *args]
        done = run(argv, cwd=plugin_dir, env=base_env(), timeout=opts.timeout)
        if done.rc not in (0, 1):  # 1: some tests failed, as they may on a real crate
            raise fail("pytest", argv, done, f"exit status {done.rc}")
        counts["plugin"] = pytest_passed(done.output)
        return Outcome(done.seconds, maxrss(done.output), cpu=done.cpu)

    def prepare_loop() -> None:
        fresh(loop_dir)
        for t in targets:  # the runners live beside the copy: write them again
            write_runner(loop_dir / "runners" / f"run-{t.arch.name}", t.arch)

    def prepare_plugin() -> None:
        fresh(plugin_dir)

    sides = [
        Side("A cargo-test-loop", loop, prepare=prepare_loop),
        Side("B pytest", plugin, prepare=prepare_plugin),
    ]
    results = measure(sides, opts.repeat)
    if counts.get("loop") != counts.get("plugin"):
        raise BenchError(f"B6: the loop passed {counts.get('loop')} tests, pytest {counts.get('plugin')}")
    return [
        f"B6 {name} {version} cold, {names} ({counts['plugin']} tests passed on each side)",
        medians_line(results),
        ratio_line(results, "B pytest", "A cargo-test-loop") + "  [target <= 0.8]",
        cpu_line(results, "B pytest", "A cargo-test-loop"),
        rss_line("the pytest process (B)", results["B pytest"]),
    ]


# ---------------------------------------------------------------------------------------------
# Main


BENCH: dict[str, Callable[[argparse.Namespace, Path, Iterator[int]], list[str]]] = {
    "B1": bench_b1,
    "B2": bench_b2,
    "B3": bench_b3,
    "B4": bench_b4,
    "B5": bench_b5,
    "B6": bench_b6,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmarks", nargs="*", metavar="B", help="B1 B2 B3 B4 B5 (default: all)")
    p.add_argument("--repeat", type=int, default=3, help="timed rounds per side (default 3)")
    p.add_argument("--keep", type=Path, help="generate workloads in DIR and leave them there")
    p.add_argument(
        "--arches", help=f"override the arches (B1/B2/B5 {GO_ARCHES}, B3 {B3_ARCH}, B4 {RUST_ARCHES})"
    )
    p.add_argument("--packages", type=int, default=20, help="B1/B2/B5: Go packages (default 20)")
    p.add_argument("--tests", type=int, default=50, help="B1/B2/B5: tests per package (default 50)")
    p.add_argument("--b3-tests", type=int, default=2000, help="B3: trivial tests (default 2000)")
    p.add_argument("--rust-tests", type=int, default=500, help="B4: tests in the crate (default 500)")
    p.add_argument("--cargo", help="B4: cargo for the loop (default: the one the plugin picks)")
    p.add_argument("--crate", default="smallvec@1.13.2", help="B6: NAME@VERSION (default smallvec@1.13.2)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per process (default 3600)")
    opts = p.parse_args(argv)
    opts.benchmarks = [b.upper() for b in opts.benchmarks] or list(BENCHMARKS)
    unknown = [b for b in opts.benchmarks if b not in BENCH]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if opts.repeat < 1:
        p.error("--repeat must be at least 1")
    return opts


def header() -> list[str]:
    def out(argv: list[str]) -> str:
        return run(argv, cwd=ROOT, env=base_env(), timeout=60).output.strip()

    where = Path(pytest_multiarch.__file__).parent
    if where == ROOT / "pytest_multiarch":
        rev = out(["git", "rev-parse", "--short", "HEAD"])
        dirty = "+local changes" if out(["git", "status", "--porcelain", "--", "pytest_multiarch"]) else ""
        plugin = f"pytest-multiarch {rev}{dirty}"
    else:
        plugin = f"pytest-multiarch from {where}"
    return [
        f"{plugin}; {out([find_go(), 'version'])}; "
        f"{out([find_qemu(archmod.parse_list(['arm64'])[0]), '--version']).splitlines()[0]}; "
        f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    ]


def run_all(opts: argparse.Namespace, work: Path) -> list[str]:
    summary = header()
    print(summary[0], flush=True)
    print(f"workloads in {work}; {opts.repeat} timed rounds per side", flush=True)
    seeds = itertools.count(random.randrange(1 << 40))  # fresh values, never in Go's build cache
    for name in opts.benchmarks:
        summary += ["", *BENCH[name](opts, work, seeds)]
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        if opts.keep is not None:
            opts.keep.mkdir(parents=True, exist_ok=True)
            summary = run_all(opts, opts.keep.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="multiarch-perf-") as tmp:
                summary = run_all(opts, Path(tmp))
    except BenchError as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 1
    print("\n===== summary (medians of alternating runs; compare ratios, not seconds) =====")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
