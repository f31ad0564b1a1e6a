"""Rust crates as pytest collectors: Cargo.toml → test binary → module path → (test, arch) items.

Test names are split on ``::`` into nested collectors so that node ids stay selectable on the
command line (``Cargo.toml::lib::tests::decode[s390x]``).
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.collect.base import ArchItem, ErrorItem, UnavailableItem, skip_or_fail
from pytest_multiarch.executors import Executor, ExecutorUnavailable, RunRequest, arch_env
from pytest_multiarch.outcome import TestOutcome
from pytest_multiarch.run import aborted, batch, progress, supervise
from pytest_multiarch.state import get_state
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.rust import cache as rust_cache
from pytest_multiarch.toolchains.rust import together
from pytest_multiarch.toolchains.rust.cache import Built


def has_package(manifest: Any) -> bool:
    """A virtual workspace manifest has no [package]: its members are collected on their own."""
    try:
        return "package" in tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return True  # let cargo report what is wrong with it


def manifest_problem(manifest: Path) -> str | None:
    """Why ``manifest`` cannot be a crate's Cargo.toml at all (unreadable, not TOML), with the
    offending line and the fix; None when it parses (cargo judges the rest)."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return (
            f"cannot collect the Rust tests of {manifest}: it cannot be read ({exc}). "
            "Fix: make it a readable UTF-8 file"
        )
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        shown, at = "", ""
        if where:
            line, column = int(where.group(1)), int(where.group(2))
            lines = text.splitlines()
            if 0 < line <= len(lines):
                width = len(str(line))
                shown = f"\n{line} | {lines[line - 1]}\n{' ' * width} | {' ' * (column - 1)}^"
            at = f" at line {line}"
        return (
            f"cannot collect the Rust tests of {manifest}: it is not valid TOML: {exc}{shown}\n"
            f"Fix: correct the TOML syntax of {manifest}{at} (cargo cannot read it either)"
        )
    return None


def node_name(binary: rusttool.TestBinary) -> str:
    """``lib``, ``tests/roundtrip``, ``bin/tool``, ``examples/demo``: where the tests come from."""
    if binary.kind in ("lib", "proc-macro"):
        return "lib"
    folder = {"test": "tests", "bin": "bin", "example": "examples", "bench": "benches"}
    return f"{folder.get(binary.kind, binary.kind)}/{binary.target_name}"


class CargoCrate(pytest.File):
    """A ``Cargo.toml`` with a [package]: built per architecture at collection, then listed."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        state = get_state(self.config)
        settings = state.settings
        problem = manifest_problem(self.path)
        if problem is not None:  # no cargo can read it, for any arch: say why once per arch, run the rest
            for a in settings.arches:
                yield ErrorItem.from_parent(self, name=f"[{a.name}]", arch=a, message=problem)
            return
        named = rusttool.named_settings(settings.cargo)  # CARGO, multiarch_cargo, RUSTC: not a skip
        bad_name = rusttool.named_problem(settings.cargo)
        if bad_name is not None:
            for a in settings.arches:
                yield UnavailableItem.from_parent(
                    self, name=f"[{a.name}]", arch=a, named=True,
                    reason=f"cannot collect the Rust tests of {self.path}: {bad_name}",
                )  # fmt: skip
            return
        # Our own target dir: the user's tree stays clean, and builds are shared across crates.
        target_dir = state.bin_dir / "cargo-target"

        hooked = {a: state.build_env("rust", str(self.path), a) for a in settings.arches}

        def keys_now(ignore_lockfile: bool = False) -> dict[Arch, str]:
            return rust_cache.collection_keys(
                self.path, settings.arches, explicit_cargo=settings.cargo, target_dir=target_dir,
                cache=state.cache, ignore_lockfile=ignore_lockfile, extra_env=hooked,
            )  # fmt: skip

        keys = keys_now()
        results: dict[Arch, list[Built] | rusttool.RustError] = {}
        ready: list[tuple[Arch, Executor, rusttool.RustToolchain]] = []
        for a in settings.arches:
            executor: Executor | None = None
            found_executor = state.choose_executor(a)
            if not isinstance(found_executor, ExecutorUnavailable):
                executor = found_executor
            else:
                unavailable = str(found_executor)
                if found_executor.named:  # an emulator the user named does not work: a failure, not a skip
                    yield UnavailableItem.from_parent(self, name=f"[{a.name}]", arch=a, reason=unavailable,
                                                      named=True)  # fmt: skip
                    continue
            found = rust_cache.load(state.cache, keys[a])
            if found is not None and executor is not None:
                results[a] = found  # nothing changed since it was built and listed
                continue
            try:
                chosen = state.rust_toolchain(self.path.parent, a)
            except rusttool.RustToolchainError as exc:  # named: that toolchain does not work
                by = f" (the toolchain named by {', '.join(named)})" if named else ""
                reason = str(exc).rstrip() + by
                yield UnavailableItem.from_parent(self, name=f"[{a.name}]", arch=a, reason=reason,
                                                  named=bool(named))  # fmt: skip
                continue
            if chosen.missing:
                unavailable = f"Rust tests of {self.path} cannot be built for {a.name}: {chosen.missing}"
            elif executor is not None:
                ready.append((a, executor, chosen.toolchain))
                continue
            yield UnavailableItem.from_parent(self, name=f"[{a.name}]", arch=a, reason=unavailable)

        if ready:
            stable = keys_now(ignore_lockfile=True)
            start = time.monotonic()
            every = get_state(self.config).settings.progress_every
            stds = [n for a, _, tc in ready if (n := rusttool.std_note(tc, a, target_dir)) is not None]
            first = f" (first building {'; '.join(stds)})" if stds else ""
            progress.say(self.config, f"multiarch: building the Rust tests of {self.path} for "
                         f"{', '.join(a.name for a, _, _ in ready)}{first} ...", every)  # fmt: skip
            # One cargo run per toolchain, for all of its arches at once (toolchains/rust/together.py).
            groups: dict[tuple[str, str], list[tuple[Arch, Executor, rusttool.RustToolchain]]] = {}
            for job in ready:
                groups.setdefault((str(job[2].cargo), str(job[2].rustc)), []).append(job)
            by_arch: dict[Arch, list[Built] | rusttool.RustError] = {}
            with ThreadPoolExecutor(max_workers=2) as pool:
                for done in pool.map(lambda jobs: self._build(jobs, target_dir=target_dir), groups.values()):
                    by_arch.update(done)
            built = [by_arch[a] for a, _, _ in ready]
            took = time.monotonic() - start
            failed = [a.name for a, _, _ in ready if isinstance(by_arch[a], rusttool.RustError)]
            what = f"the Rust tests of {self.path}"
            ended = f"{what} did not build for {', '.join(failed)}" if failed else f"built {what}"
            progress.say(self.config, f"multiarch: {ended} in {took:.0f}s", every)
            # Remembered under the state after the build (cargo may have written Cargo.lock), unless
            # something else changed while it ran: then the next run builds again.
            unchanged = keys_now(ignore_lockfile=True) == stable
            after = keys_now()
            for (a, _, _), result in zip(ready, built, strict=True):
                results[a] = result
                if unchanged and not isinstance(result, rusttool.RustError):
                    rust_cache.save(state.cache, after[a], result)
        yield from self._nodes({a: results[a] for a in settings.arches if a in results})

    def _build(
        self, jobs: Sequence[tuple[Arch, Executor, rusttool.RustToolchain]], *, target_dir: Path
    ) -> dict[Arch, list[Built] | rusttool.RustError]:
        """Build the crate's test binaries for the arches of ``jobs`` (one toolchain) and list
        their tests (each under its arch's executor).

        Each binary is listed as soon as cargo has finished it, while cargo builds the others.
        """
        toolchain = jobs[0][2]
        executors = {a: executor for a, executor, _ in jobs}

        def list_tests(a: Arch, b: rusttool.TestBinary) -> Built:
            if not b.harness:  # a plain program (`harness = false`): one test, its exit
                return Built(b, (), toolchain)
            env = proc.base_env(rusttool.cargo_env(b, toolchain))
            listed = rusttool.list_tests_detailed(b.executable, a, executors[a], env=env, cwd=b.package_dir)
            return Built(b, tuple(listed), toolchain)

        lister = ThreadPoolExecutor(max_workers=2, thread_name_prefix="multiarch-list")
        listings: dict[tuple[Arch, Path], Future[Built]] = {}

        def finished(a: Arch, b: rusttool.TestBinary) -> None:
            # proc-macro tests are built for the host whatever --target says: not this arch's
            if b.triple == a.rust_triple and (a, b.executable) not in listings:
                listings[(a, b.executable)] = lister.submit(list_tests, a, b)

        state = get_state(self.config)
        extras = {a: state.build_env("rust", str(self.path), a) for a in executors}  # as in the cache key
        try:
            found = together.build_each(toolchain, self.path, list(executors), target_dir, extras,
                                        on_binary=finished)  # fmt: skip
            # build_each told finished() of every binary it returns: each is listed or being listed.
            results: dict[Arch, list[Built] | rusttool.RustError] = {}
            for a, binaries in found.items():
                try:
                    results[a] = binaries if isinstance(binaries, rusttool.RustError) else [
                        listings[(a, b.executable)].result() for b in binaries if b.triple == a.rust_triple
                    ]  # fmt: skip
                except rusttool.RustError as exc:  # its tests could not be listed
                    results[a] = exc
            return results
        finally:
            lister.shutdown(wait=True, cancel_futures=True)

    def _nodes(
        self, results: dict[Arch, list[Built] | rusttool.RustError]
    ) -> Iterator[pytest.Item | pytest.Collector]:
        state = get_state(self.config)
        per_node: dict[str, dict[Arch, Built]] = {}
        for a, result in results.items():
            if isinstance(result, rusttool.RustError) and result.becomes == "skip":
                # e.g. a musl column of a crate that compiles C, with no musl C compiler here
                reason = f"Rust tests of {self.path} cannot be built for {a.name}: {result}"
                yield UnavailableItem.from_parent(self, name=f"[{a.name}]", arch=a, reason=reason)
                continue
            if isinstance(result, rusttool.RustError):
                yield ErrorItem.from_parent(
                    self,
                    name=f"[{a.name}]",
                    arch=a,
                    in_setup=False,
                    message=f"cargo test --no-run for {a.name} failed:\n{result}",
                )
                continue
            for built in result:
                per_node.setdefault(node_name(built.binary), {})[a] = built
                if built.binary.doctest:
                    state.note(rusttool.DOCTEST_NOTE)
        for name, per_arch in per_node.items():
            first = next(iter(per_arch.values()))
            if not first.binary.harness:
                for a, built in per_arch.items():
                    yield RustProgramItem.from_parent(
                        self,
                        name=f"{name}[{a.name}]",
                        built=built,
                        arch=a,
                        test_name=name,
                    )
                continue
            yield RustPathNode.from_parent(self, name=name, per_arch=per_arch, prefix="")


class RustPathNode(pytest.Collector):
    """A test binary, or a module inside it: children are the next ``::`` segment."""

    def __init__(self, *, per_arch: dict[Arch, Built], prefix: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.per_arch = per_arch
        self.prefix = prefix  # the module path this node stands for, e.g. "tests::"

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        children: list[str] = []  # next segments, in listing order
        leaves: list[str] = []
        for built in self.per_arch.values():
            for t in built.tests:
                if not t.name.startswith(self.prefix):
                    continue
                rest = t.name[len(self.prefix) :]
                if "::" in rest:
                    seg = rest.split("::", 1)[0]
                    if seg not in children:
                        children.append(seg)
                elif rest not in leaves:
                    leaves.append(rest)
        for seg in children:
            yield RustPathNode.from_parent(
                self,
                name=seg,
                per_arch=self.per_arch,
                prefix=f"{self.prefix}{seg}::",
            )
        for leaf in leaves:
            full = self.prefix + leaf
            for a, built in self.per_arch.items():
                listed = next((t for t in built.tests if t.name == full), None)
                if listed is not None:
                    yield RustTestItem.from_parent(
                        self, name=f"{leaf}[{a.name}]", built=built, arch=a,
                        listed=listed,
                    )  # fmt: skip


class RustTestItem(ArchItem):
    def __init__(self, *, built: Built, arch: Arch, listed: rusttool.ListedTest, **kw: Any) -> None:
        super().__init__(**kw)
        self.built = built
        self.listed = listed
        self.setup_arch(arch, listed.name)
        if listed.source_path:
            # libtest's source_path is relative to the workspace root; the package root is close.
            for root in (built.binary.package_dir, *built.binary.package_dir.parents):
                if (root / listed.source_path).is_file():
                    self.source_path = root / listed.source_path
                    self.source_line = max(listed.line - 1, 0)
                    break

    def batch_key(self) -> Hashable:
        return ("rust", str(self.built.binary.executable), self.arch.name)

    def run_batch(self, tests: Sequence[str], executor: Executor) -> dict[str, TestOutcome]:
        binary = self.built.binary
        all_tests = [t.name for t in self.built.tests]
        env = proc.base_env({**rusttool.cargo_env(binary, self.built.toolchain), **rusttool.RUN_ENV,
                             **arch_env(self.arch, executor)})  # fmt: skip
        state = get_state(self.config)
        b = batch.Batch(
            RunRequest(binary.executable, (), self.arch, executor, env, binary.package_dir),
            lambda selected, serial: rusttool.test_args(selected, all_tests, serial),
            rusttool.LibtestStream, state.limits(self.arch, executor, quit_first=False),
        )  # fmt: skip
        outcomes = batch.run_tests(b, tests, reuse=state.reuse, reruns=state.settings.reruns)
        if self.arch.binary_format == "wasm":  # panic=abort: a failing test's own words were lost
            aborted.explain(b, outcomes)
            aborted.explain_ignored(outcomes, {t.name for t in self.built.tests if t.ignored})
        self.config.hook.pytest_multiarch_batch_finished(
            config=self.config, arch=self.arch, binary=str(binary.executable), outcomes=outcomes
        )
        return outcomes


class RustProgramItem(ArchItem):
    """A `harness = false` test target: a plain program that passes when it exits 0."""

    def __init__(self, *, built: Built, arch: Arch, test_name: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.built = built
        self.setup_arch(arch, test_name)

    def batch_key(self) -> Hashable:
        return ("rust-program", str(self.built.binary.executable), self.arch.name)

    def run_batch(self, tests: Sequence[str], executor: Executor) -> dict[str, TestOutcome]:
        binary, name = self.built.binary, self.test_name
        limits = get_state(self.config).limits(self.arch, executor, quit_first=False)
        env = proc.base_env(rusttool.cargo_env(binary, self.built.toolchain))
        env.update(arch_env(self.arch, executor))
        att = supervise.attempt(
            RunRequest(binary.executable, (), self.arch, executor, env, binary.package_dir),
            limits=limits, new_parser=lambda size, log: supervise.PlainStream(name, size, log),
        )  # fmt: skip
        output, res = att.parsed.output + att.stderr, att.run
        if res.proc.ok:
            att.remove_log()
            return {name: TestOutcome(name, "passed", res.duration, output)}
        how = res.proc.describe_exit()
        if att.expired:
            under = executor.describe(self.arch)
            how = f"timed out after {limits.test:.0f} s under {under} ({limits.explain})"
        message = f"{name} {how} (reproduce: {res.invocation.shell_line()})"
        return {name: TestOutcome(name, "failed", res.duration, output, message, log=att.out_log)}


__all__ = ["CargoCrate", "RustTestItem", "has_package", "skip_or_fail"]
