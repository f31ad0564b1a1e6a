"""Go modules as pytest collectors: module → package → one item per (TestXxx, arch)."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .. import batch, proc
from ..arch import Arch
from ..executors import Executor
from ..outcome import TestOutcome
from ..settings import get_state
from ..toolchains import go as gotool
from .base import ArchItem, BuildFailed, UnavailableItem


class GoModule(pytest.File):
    """A ``go.mod``: its packages with tests, listed once per architecture (build tags apply)."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        settings = get_state(self.config).settings
        go = gotool.find_go()
        if go is None:
            for a in settings.arches:
                yield UnavailableItem.from_parent(
                    self, name=f"[{a.name}]", arch=a,
                    reason=f"cannot list the Go tests of {self.path}: {gotool.not_found_reason()}",
                )  # fmt: skip
            return
        module_dir = self.path.parent

        def list_for(a: Arch) -> list[gotool.GoPackage]:
            return gotool.list_packages(go, module_dir, a, tags=settings.go_tags, cgo=settings.go_cgo)

        with ThreadPoolExecutor(max_workers=4) as pool:
            listed = list(pool.map(list_for, settings.arches))
        by_path: dict[str, dict[Arch, gotool.GoPackage]] = {}
        for a, packages in zip(settings.arches, listed, strict=True):
            for pkg in packages:
                by_path.setdefault(pkg.import_path, {})[a] = pkg
        for import_path, per_arch in by_path.items():
            first = next(iter(per_arch.values()))
            rel = first.dir.relative_to(module_dir).as_posix()
            yield GoPackageNode.from_parent(
                self, name=rel if rel != "." else import_path, go=go, per_arch=per_arch
            )


class GoPackageNode(pytest.Collector):
    def __init__(self, *, go: str, per_arch: dict[Arch, gotool.GoPackage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.go = go
        self.per_arch = per_arch

    def collect(self) -> Iterator[pytest.Item]:
        names: list[str] = []
        for pkg in self.per_arch.values():
            if pkg.error and not pkg.tests:
                raise gotool.GoError(f"{pkg.import_path}: {pkg.error}")
            names.extend(t for t in pkg.tests if t not in names)
        for test in names:
            for a, pkg in self.per_arch.items():
                if test in pkg.tests:
                    yield GoTestItem.from_parent(
                        self, name=f"{test}[{a.name}]", go=self.go, pkg=pkg, arch=a, test=test
                    )


class GoTestItem(ArchItem):
    def __init__(self, *, go: str, pkg: gotool.GoPackage, arch: Arch, test: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.go = go
        self.pkg = pkg
        self.setup_arch(arch, test)
        self.source_path, self.source_line = pkg.where[test]

    def batch_key(self) -> Hashable:
        return ("go", str(self.pkg.dir), self.arch.name)

    def run_batch(self, tests: Sequence[str], executor: Executor) -> dict[str, TestOutcome]:
        state = get_state(self.config)
        settings = state.settings
        digest = hashlib.sha256(str(self.pkg.dir).encode()).hexdigest()[:16]
        binary = state.bin_dir / "go" / self.arch.name / f"{Path(self.pkg.import_path).name}-{digest}.test"

        # One build per batch: the scheduler already runs each (package, arch) batch once.
        try:
            gotool.build_test_binary(
                self.go, self.pkg, self.arch, binary, cgo=settings.go_cgo, tags=settings.go_tags
            )
        except gotool.GoError as exc:
            raise BuildFailed(str(exc)) from None
        return batch.run_tests(
            binary, tests,
            arch=self.arch, executor=executor,
            args_for=gotool.test_args,
            parse=gotool.parser(self.go, self.pkg.import_path),
            env=proc.base_env(), cwd=self.pkg.dir, timeout=settings.timeout,
        )  # fmt: skip
