"""Go modules as pytest collectors: module → package → one item per (TestXxx, arch)."""

from __future__ import annotations

import functools
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

    def binaries(self, go: str, arch: Arch) -> Future[object]:
        """Test binaries of this arch's selected packages, built (or found) together, once:
        the future of a ``dict[import path, Path | GoError]``."""
        state = get_state(self.config)

        def build() -> dict[str, Path | gofind.GoError]:
            packages = list(self.selected.get(arch.name, {}).values())
            return gobuild.build(self.request(go, arch), packages, state.cache)

        label = f"Go tests of {self.path.parent.name or self.path.parent} for {arch.name}"
        return state.scheduler.build(("go-build", str(self.path), arch.name), build, label)


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
        return self.module().binaries(self.go, self.arch)

    def run_batch(self, tests: Sequence[str], executor: Executor) -> dict[str, TestOutcome]:
        module = self.module()
        built: dict[str, Path | gofind.GoError] = module.binaries(self.go, self.arch).result()  # type: ignore[assignment]
        binary = built.get(self.pkg.import_path)
        if binary is None:  # not among the selected packages (cannot happen through pytest)
            request = module.request(self.go, self.arch)
            binary = gobuild.build(request, [self.pkg], get_state(self.config).cache)[self.pkg.import_path]
        if isinstance(binary, gofind.GoError):
            raise BuildFailed(str(binary))
        state = get_state(self.config)
        go_names = self.pkg.go_names()  # m_test.TestDup runs as TestDup

        def args_for(tests: Sequence[str], serial: bool) -> list[str]:
            return gotest2json.test_args(list(dict.fromkeys(go_names.get(t, t) for t in tests)), serial)

        # Go runs a package's TestDup, then its external test package's, both as TestDup.
        new_parser = functools.partial(gotest2json.GoStream, run_order=self.pkg.run_order())
        env = proc.base_env(arch_env(self.arch, executor))
        b = batch.Batch(
            RunRequest(binary, (), self.arch, executor, env, self.pkg.dir), args_for, new_parser,
            state.limits(self.arch, executor, quit_first=True),  # Go prints every goroutine on SIGQUIT
        )  # fmt: skip
        cache = None
        if state.settings.test_cache:
            cache = GoTestCache(state.cache, module.path.parent, state.bin_dir / "testlogs")
        outcomes = batch.run_tests(b, tests, testcache=cache, reruns=state.settings.reruns)
        self.config.hook.pytest_multiarch_batch_finished(
            config=self.config, arch=self.arch, binary=str(binary), outcomes=outcomes
        )
        return outcomes
