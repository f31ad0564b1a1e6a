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
from pytest_multiarch.collect.base import ArchItem, BuildFailed, ParamIdItem, UnavailableItem, skip_or_fail
from pytest_multiarch.executors import Executor, ExecutorUnavailable, RunRequest, arch_env
from pytest_multiarch.outcome import TestOutcome
from pytest_multiarch.run import batch
from pytest_multiarch.settings import get_state
from pytest_multiarch.toolchains.go import module as gomodule
from pytest_multiarch.toolchains.go import test2json as gotest2json
from pytest_multiarch.toolchains.go import tool as gotool


class GoModule(pytest.File):
    """A ``go.mod``: its packages with tests, listed once per architecture (build tags apply)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.selected: dict[str, dict[str, gotool.GoPackage]] = {}  # arch → packages with items

    def request(self, go: str, arch: Arch) -> gomodule.Request:
        state = get_state(self.config)
        extra = state.build_env("go", str(self.path.parent), arch)
        return gomodule.Request(go, self.path.parent, arch, state.settings.go_tags, state.settings.go_cgo,
                                tuple(sorted(extra.items())))  # fmt: skip

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        state = get_state(self.config)
        settings = state.settings
        named = gotool.named_problem()  # MULTIARCH_GO set to something that is not a working go
        go = gotool.find_go()
        if go is None or named is not None:
            for a in settings.arches:
                yield UnavailableItem.from_parent(
                    self, name=f"[{a.name}]", arch=a, named=named is not None,
                    reason=f"cannot list the Go tests of {self.path}: {named or gotool.not_found_reason()}",
                )  # fmt: skip
            return
        module_dir = self.path.parent

        stamp = gomodule.module_stamp(module_dir, state.cache)  # one walk of the tree for every arch

        def list_for(a: Arch) -> list[gotool.GoPackage] | gotool.GoError:
            try:
                return gomodule.list_packages(self.request(go, a), state.cache, stamp)
            except gotool.GoError as exc:  # e.g. a go.mod that does not parse
                return exc

        with ThreadPoolExecutor(max_workers=4) as pool:
            listed = list(pool.map(list_for, settings.arches))
        by_path: dict[str, dict[Arch, gotool.GoPackage]] = {}
        for a, packages in zip(settings.arches, listed, strict=True):
            if isinstance(packages, gotool.GoError):
                # An error item per arch rather than a collection error, which would stop the
                # whole run: the other modules and crates still run.
                yield CollectErrorItem.from_parent(
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

        def build() -> dict[str, Path | gotool.GoError]:
            packages = list(self.selected.get(arch.name, {}).values())
            return gomodule.build(self.request(go, arch), packages, state.cache)

        label = f"Go tests of {self.path.parent.name or self.path.parent} for {arch.name}"
        return state.scheduler.build(("go-build", str(self.path), arch.name), build, label)


class PlainReasonItem(ArchItem):
    """An ArchItem whose skip, or error under --arch-strict, for an architecture that cannot run
    shows the reason alone. (ArchItem calls skip_or_fail inside its except blocks, and pytest then
    also shows the exception it caught: "During handling of the above exception...".)"""

    def setup(self) -> None:
        try:
            self.executor()
        except ExecutorUnavailable as exc:
            reason, named = str(exc), exc.named
        else:
            return
        skip_or_fail(self.config, reason, named=named)

    def runtest(self) -> None:
        reason, named = None, False
        try:
            self.wait()
        except ExecutorUnavailable as exc:  # e.g. a dynamic binary whose loader no sysroot holds
            reason, named = str(exc), exc.named
        except Exception:
            pass  # ArchItem.runtest below raises it again, and reports it
        if reason is not None:
            skip_or_fail(self.config, reason, named=named)
            return
        super().runtest()


class CollectErrorItem(ParamIdItem):
    """Stands in for the tests of a module, crate or package that cannot be listed for an
    architecture (a go.mod or Cargo.toml that does not parse): an error in setup with the cause
    and the fix. A collection error instead would stop the whole run; this way the rest runs."""

    def __init__(self, *, arch: Arch, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arch = arch
        self.message = message
        self.user_properties.append(("arch", arch.name))

    def setup(self) -> None:
        pytest.fail(self.message, pytrace=False)

    def runtest(self) -> None:
        """Never reached: setup fails."""

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, self.name


_EMPTY = gotool.GoPackage("", Path(), ())  # a package not built for an arch: no tests


class GoPackageNode(pytest.Collector):
    def __init__(self, *, go: str, per_arch: dict[Arch, gotool.GoPackage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.go = go
        self.per_arch = per_arch

    def collect(self) -> Iterator[pytest.Item]:
        names: dict[str, None] = {}  # every arch's tests, in order, once
        for a, pkg in self.per_arch.items():
            if pkg.error and not pkg.where:
                yield CollectErrorItem.from_parent(
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


class GoTestItem(PlainReasonItem):
    def __init__(self, *, go: str, pkg: gotool.GoPackage, arch: Arch, test: str, **kwargs: Any) -> None:
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
        built: dict[str, Path | gotool.GoError] = module.binaries(self.go, self.arch).result()  # type: ignore[assignment]
        binary = built.get(self.pkg.import_path)
        if binary is None:  # not among the selected packages (cannot happen through pytest)
            request = module.request(self.go, self.arch)
            binary = gomodule.build(request, [self.pkg], get_state(self.config).cache)[self.pkg.import_path]
        if isinstance(binary, gotool.GoError):
            raise BuildFailed(str(binary))
        state = get_state(self.config)
        go_names = self.pkg.go_names()  # m_test.TestDup runs as TestDup

        def args_for(tests: Sequence[str], serial: bool) -> list[str]:
            return gotool.test_args(list(dict.fromkeys(go_names.get(t, t) for t in tests)), serial)

        # Go runs a package's TestDup, then its external test package's, both as TestDup.
        new_parser = functools.partial(gotest2json.GoStream, run_order=self.pkg.run_order())
        env = proc.base_env(arch_env(self.arch, executor))
        b = batch.Batch(
            RunRequest(binary, (), self.arch, executor, env, self.pkg.dir), args_for, new_parser,
            state.limits(self.arch, executor, quit_first=True),  # Go prints every goroutine on SIGQUIT
        )  # fmt: skip
        outcomes = batch.run_tests(b, tests, reuse=state.reuse, reruns=state.settings.reruns)
        self.config.hook.pytest_multiarch_batch_finished(
            config=self.config, arch=self.arch, binary=str(binary), outcomes=outcomes
        )
        return outcomes
