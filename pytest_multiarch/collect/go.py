"""Go modules as pytest collectors: module → package → one item per (TestXxx, arch)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.collect.base import ArchItem, BuildFailed, ErrorItem, UnavailableItem
from pytest_multiarch.executors import Executor, RunRequest, arch_env
from pytest_multiarch.outcome import TestOutcome
from pytest_multiarch.run import batch
from pytest_multiarch.run.testcache import GoTestCache
from pytest_multiarch.state import get_state
from pytest_multiarch.toolchains.go import build as gobuild
from pytest_multiarch.toolchains.go import find as gofind
from pytest_multiarch.toolchains.go import list as golist
from pytest_multiarch.toolchains.go import test2json as gotest2json
from pytest_multiarch.toolchains.go.discover import GoPackage


class GoModule(pytest.File):
    """A ``go.mod``: its packages with tests, listed once per architecture (build tags apply)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.selected: dict[str, dict[str, GoPackage]] = {}  # arch → packages with items
        self._futures: dict[str, dict[str, Future[object]]] = {}  # arch → import path → binary
        self._lock = threading.Lock()

    def request(self, go: str, arch: Arch) -> gobuild.Request:
        state = get_state(self.config)
        extra = state.build_env("go", str(self.path.parent), arch)
        return gobuild.Request(go, self.path.parent, arch, state.settings.go_tags, state.settings.go_cgo,
                                tuple(sorted(extra.items())))  # fmt: skip

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        state = get_state(self.config)
        settings = state.settings
        named = gofind.named_problem()  # MULTIARCH_GO set to something that is not a working go
        go = gofind.find_go()
        if go is None or named is not None:
            for a in settings.arches:
                yield UnavailableItem.from_parent(
                    self, name=f"[{a.name}]", arch=a, named=named is not None,
                    reason=f"cannot list the Go tests of {self.path}: {named or gofind.not_found_reason()}",
                )  # fmt: skip
            return
        module_dir = self.path.parent

        stamp = golist.module_stamp(module_dir, state.cache)  # one walk of the tree for every arch

        def list_for(a: Arch) -> list[GoPackage] | gofind.GoError:
            try:
                return golist.list_packages(self.request(go, a), state.cache, stamp)
            except gofind.GoError as exc:  # e.g. a go.mod that does not parse
                return exc

        with ThreadPoolExecutor(max_workers=4) as pool:
            listed = list(pool.map(list_for, settings.arches))
        by_path: dict[str, dict[Arch, GoPackage]] = {}
        for a, packages in zip(settings.arches, listed, strict=True):
            if isinstance(packages, gofind.GoError):
                # An error item per arch rather than a collection error, which would stop the
                # whole run: the other modules and crates still run.
                yield ErrorItem.from_parent(
                    self, name=f"[{a.name}]", arch=a,
                    message=f"cannot list the Go tests of {self.path} for {a.name}: {packages}",
                )  # fmt: skip
                continue
            for pkg in packages:
                by_path.setdefault(pkg.import_path, {})[a] = pkg
        for import_path, per_arch in by_path.items():
            first = next(iter(per_arch.values()))
            rel = first.dir.relative_to(module_dir).as_posix()
            yield GoPackageNode.from_parent(
                self, name=rel if rel != "." else import_path, go=go, per_arch=per_arch
            )

    def binary(self, go: str, arch: Arch, pkg: GoPackage) -> Future[object]:
        """The future of ``pkg``'s test binary for ``arch`` (a ``Path | GoError``).

        The first call starts one build of every selected package of this arch (on the build
        lane); each package's future is done as soon as its binary is, so that its batch runs
        while go still compiles the other packages.
        """
        state = get_state(self.config)
        with self._lock:
            futures = self._futures.get(arch.name)
            if futures is None:
                packages = list(self.selected.get(arch.name, {}).values())
                futures = self._futures[arch.name] = {p.import_path: Future() for p in packages}
                self._start_build(go, arch, packages, futures)
        found = futures.get(pkg.import_path)
        if found is not None:
            return found
        # Not among the selected packages (cannot happen through pytest): built on its own.
        fut: Future[object] = Future()
        request = self.request(go, arch)
        fut.set_result(gobuild.build(request, [pkg], state.cache)[pkg.import_path])
        return fut

    def _start_build(
        self, go: str, arch: Arch, packages: list[GoPackage], futures: dict[str, Future[object]]
    ) -> None:
        state = get_state(self.config)

        def ready(import_path: str, result: Path | gofind.GoError) -> None:
            fut = futures.get(import_path)
            if fut is not None and not fut.done():
                fut.set_result(result)

        def build() -> dict[str, Path | gofind.GoError]:
            return gobuild.build(self.request(go, arch), packages, state.cache, on_ready=ready)

        def ended(job: Future[object]) -> None:  # failed or cancelled: no package waits forever
            failure = None if job.cancelled() else job.exception()
            for fut in futures.values():
                if fut.done():
                    continue
                if failure is None:
                    fut.cancel()
                else:
                    fut.set_exception(failure)

        label = f"Go tests of {self.path.parent.name or self.path.parent} for {arch.name}"
        job = state.scheduler.build(("go-build", str(self.path), arch.name), build, label)
        job.add_done_callback(ended)


_EMPTY = GoPackage("", Path(), ())  # a package not built for an arch: no tests


class GoPackageNode(pytest.Collector):
    def __init__(self, *, go: str, per_arch: dict[Arch, GoPackage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.go = go
        self.per_arch = per_arch

    def collect(self) -> Iterator[pytest.Item]:
        names: dict[str, None] = {}  # every arch's tests, in order, once
        for a, pkg in self.per_arch.items():
            if pkg.error and not pkg.where:
                yield ErrorItem.from_parent(
                    self, name=f"[{a.name}]", arch=a,
                    message=f"cannot list the Go tests of package {pkg.import_path} for {a.name}: "
                    f"{pkg.error.rstrip()}\nFix: run `go vet {pkg.import_path}` in the module: it shows the "
                    "same error",
                )  # fmt: skip
            names.update(dict.fromkeys(pkg.where))
        state = get_state(self.config)
        left_out: dict[str, list[str]] = {}  # build constraints: not compiled for these arches
        for test in names:
            left_out[test] = [a.name for a in state.settings.arches if test not in self._where(a)]
        for a, pkg in self.per_arch.items():
            for test in pkg.elsewhere:  # known to this run only from files left out for this arch
                left_out.setdefault(test, []).append(a.name)
        for test, arch_names in left_out.items():
            if arch_names:
                state.not_applicable[f"{self.nodeid}::{test}"] = sorted(set(arch_names))
        for test in names:
            for a, pkg in self.per_arch.items():
                if test in pkg.where:
                    yield GoTestItem.from_parent(
                        self, name=f"{test}[{a.name}]", go=self.go, pkg=pkg, arch=a, test=test
                    )

    def _where(self, a: Arch) -> Mapping[str, tuple[Path, int]]:
        return self.per_arch.get(a, _EMPTY).where


def go_test_env(a: Arch) -> dict[str, str]:
    """What a test process sees of its target under `GOARCH=<a> go test -exec ...`: the go
    command passes its own environment on, so a test that runs `go` itself (to build or vet
    something) targets the same architecture."""
    return {"GOOS": a.goos, "GOARCH": a.goarch, **({"GOARM": a.goarm} if a.goarm else {})}


class GoTestItem(ArchItem):
    def __init__(self, *, go: str, pkg: GoPackage, arch: Arch, test: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.go = go
        self.pkg = pkg
        self.setup_arch(arch, test)
        self.source_path, self.source_line = pkg.where[test]

    def module(self) -> GoModule:
        node = self.getparent(GoModule)
        assert node is not None
        return node

    def batch_key(self) -> Hashable:
        return ("go", str(self.pkg.dir), self.arch.name)

    def selected(self) -> None:
        self.module().selected.setdefault(self.arch.name, {})[self.pkg.import_path] = self.pkg

    def prerequisite(self) -> Future[object]:
        return self.module().binary(self.go, self.arch, self.pkg)

    def run_batch(self, tests: Sequence[str], executor: Executor) -> dict[str, TestOutcome]:
        module = self.module()
        binary = module.binary(self.go, self.arch, self.pkg).result()
        if isinstance(binary, gofind.GoError):
            raise BuildFailed(str(binary))
        assert isinstance(binary, Path)
        state = get_state(self.config)
        go_names = self.pkg.go_names()  # m_test.TestDup runs as TestDup

        def args_for(tests: Sequence[str], serial: bool) -> list[str]:
            return gotest2json.test_args(list(dict.fromkeys(go_names.get(t, t) for t in tests)), serial)

        # Go runs a package's TestDup, then its external test package's, both as TestDup.
        new_parser = functools.partial(gotest2json.GoStream, run_order=self.pkg.run_order())
        env = proc.base_env({**arch_env(self.arch, executor), **go_test_env(self.arch)})
        b = batch.Batch(
            RunRequest(binary, (), self.arch, executor, env, self.pkg.dir), args_for, new_parser,
            state.limits(self.arch, executor, quit_first=True),  # Go prints every goroutine on SIGQUIT
        )  # fmt: skip
        cache = None
        # A remote executor's test log stays on the remote: no result is cached from a log that
        # did not come back (the ssh executor runs every Go test).
        if state.settings.test_cache and not getattr(executor, "remote", False):
            cache = GoTestCache(state.cache, module.path.parent, state.bin_dir / "testlogs")
        elif state.settings.test_cache:
            state.note(f"Go's test-result cache is not used for tests run by the {executor.name} executor "
                       "(their test logs stay on the remote machine): every Go test ran")  # fmt: skip
        outcomes = batch.run_tests(b, tests, testcache=cache, reruns=state.settings.reruns)
        self.config.hook.pytest_multiarch_batch_finished(
            config=self.config, arch=self.arch, binary=str(binary), outcomes=outcomes
        )
        return outcomes
