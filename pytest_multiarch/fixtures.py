"""Fixtures for Python tests that build and run Go/Rust binaries per architecture."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from pytest_multiarch import elf, errors, executors, proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.cache import store as cachemod
from pytest_multiarch.collect.base import skip_or_fail
from pytest_multiarch.executors import RunResult
from pytest_multiarch.state import State, get_state
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.go import build as gobuild
from pytest_multiarch.toolchains.go import find as gofind
from pytest_multiarch.toolchains.go import list as golist
from pytest_multiarch.toolchains.rust import cache as rust_cache


class GoBuild(Protocol):
    def __call__(
        self,
        package: str | os.PathLike[str],
        *,
        test: bool = False,
        tags: Iterable[str] = (),
        ldflags: str | None = None,
        cgo: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> Path: ...


class CargoBuild(Protocol):
    def __call__(
        self,
        manifest_dir: str | os.PathLike[str],
        *,
        bin: str | None = None,
        example: str | None = None,
        test: str | None = None,
        release: bool = False,
        features: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Path: ...


class RunOnArch(Protocol):
    def __call__(
        self,
        binary: str | os.PathLike[str],
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
    ) -> RunResult: ...


def _cache_name(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


_BUILD_ERRORS = (gofind.GoError, rusttool.RustError)


@dataclass(frozen=True)
class _Unavailable:
    """Why the toolchain cannot build here; ``named``: the user named it (a failure, not a skip)."""

    reason: str
    named: bool = False


class _Recipe(Protocol):
    """One go_build or cargo_build, in the steps :func:`_build_once` takes."""

    def lock(self) -> AbstractContextManager[object]:
        """Held while the binary is looked up, built and remembered."""

    def recall(self) -> Path | None:
        """The binary an earlier session built, if nothing it was built from changed."""

    def unavailable(self) -> _Unavailable | None:
        """Why no toolchain can build it here, or None."""

    def build(self) -> Path:
        """The binary, built now; raises one of _BUILD_ERRORS."""

    def remember(self, built: Path) -> Path:
        """Keep ``built`` for the sessions after this one; the path to use."""


def _build_once(config: pytest.Config, key: tuple[object, ...], recipe: _Recipe) -> Path:
    """The skeleton of go_build and cargo_build, once per session per key (tests on one arch
    share it): what an earlier session built, else a missing toolchain skips (see skip_or_fail),
    else a build, whose error fails the test."""

    def build() -> Path | Exception:
        with recipe.lock():
            found = recipe.recall()
            if found is not None:
                return found
            missing = recipe.unavailable()
            if missing is not None:
                skip_or_fail(config, missing.reason, named=missing.named)
            try:
                built = recipe.build()
            except _BUILD_ERRORS as exc:
                return exc
            return recipe.remember(built)

    built = get_state(config).builds.get(key, build)
    if isinstance(built, Exception):
        pytest.fail(str(built), pytrace=False)
    assert isinstance(built, Path)
    return built


@dataclass
class _GoRecipe:
    state: State
    arch: Arch
    call: str  # go_build('...'), as the messages name it
    go: str | None
    named: str | None  # why the go MULTIARCH_GO names does not work
    cwd: Path
    target: str
    test: bool
    tags: tuple[str, ...]
    ldflags: str | None
    cgo: bool
    env: Mapping[str, str] | None
    key: tuple[object, ...]

    @property
    def name(self) -> str:
        return Path(self.target).name.strip(".") or self.cwd.name

    @functools.cached_property
    def content_key(self) -> str | None:
        """Across sessions: reused while nothing in the module (nor toolchain, flags) changed."""
        module_dir = next((d for d in (self.cwd, *self.cwd.parents) if (d / "go.mod").is_file()), None)
        if module_dir is None or self.go is None or self.named is not None:
            return None
        request = gobuild.Request(self.go, module_dir, self.arch, self.tags, self.cgo)
        stamp = golist.module_stamp(module_dir, self.state.cache)
        return cachemod.key("go_build", golist.listing_key(request, stamp), *self.key)

    def lock(self) -> AbstractContextManager[object]:
        if self.content_key is None:
            return contextlib.nullcontext()
        return self.state.cache.lock(self.content_key)

    def recall(self) -> Path | None:
        found = None if self.content_key is None else self.state.cache.entry(self.content_key)
        return None if found is None else found / self.name

    def unavailable(self) -> _Unavailable | None:
        if self.go is not None and self.named is None:
            return None
        why = self.named or gofind.not_found_reason()
        return _Unavailable(f"{self.call} for {self.arch.name}: {why}", named=self.named is not None)

    def build(self) -> Path:
        assert self.go is not None
        out = self.state.bin_dir / "go-build" / self.arch.name / f"{self.name}-{_cache_name(*self.key)}"
        argv = gobuild.build_argv(
            self.go, [self.target], out=str(out), test=self.test, tags=self.tags, ldflags=self.ldflags
        )
        env = gobuild.build_env(self.arch, cgo=self.cgo, extra=self.env)
        res = proc.run(argv, env=env, cwd=self.cwd, timeout=gobuild.BUILD_TIMEOUT)
        if not res.ok:
            raise gofind.GoError(
                f"{self.call} for {self.arch.name}: `{' '.join(argv)}` {res.describe_exit()}:\n"
                + (res.stderr + res.stdout).decode(errors="replace")
            )
        return out

    def remember(self, built: Path) -> Path:
        if self.content_key is None:
            return built
        return self.state.cache.store_file(self.content_key, built, self.name)


def make_go_build(config: pytest.Config, arch: Arch) -> GoBuild:
    state = get_state(config)

    def go_build(
        package: str | os.PathLike[str],
        *,
        test: bool = False,
        tags: Iterable[str] = (),
        ldflags: str | None = None,
        cgo: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> Path:
        named = gofind.named_problem()  # a MULTIARCH_GO that is not a go: a failure, not a skip
        pkg_path = Path(package)
        # A directory builds there; anything else is an import path, resolved from rootdir.
        is_dir = pkg_path.is_dir()
        cwd = pkg_path.resolve() if is_dir else config.rootpath
        target = "." if is_dir else str(package)
        tag_list = tuple(tags)
        key = ("go_build", str(cwd), target, arch.name, test, tag_list, ldflags, cgo,
               tuple(sorted((env or {}).items())))  # fmt: skip
        recipe = _GoRecipe(state, arch, f"go_build({os.fspath(package)!r})", gofind.find_go(), named, cwd,
                           target, test, tag_list, ldflags, cgo, env, key)  # fmt: skip
        return _build_once(config, key, recipe)

    return go_build


@dataclass
class _CargoRecipe:
    state: State
    arch: Arch
    call: str  # cargo_build('...'), as the messages name it
    manifest: Path
    bin: str | None
    example: str | None
    test: str | None
    release: bool
    features: tuple[str, ...]
    env: Mapping[str, str] | None
    key: tuple[object, ...]
    chosen: rusttool.Chosen | None = None
    stable: str = ""  # the content key, Cargo.lock left out, when the build started

    @property
    def target_dir(self) -> Path:
        return self.state.bin_dir / "cargo-target"

    def content_key(self, ignore_lockfile: bool = False) -> str:
        base = rust_cache.collection_keys(
            self.manifest, [self.arch], explicit_cargo=self.state.settings.cargo, target_dir=self.target_dir,
            cache=self.state.cache, ignore_lockfile=ignore_lockfile,
        )[self.arch]  # fmt: skip
        return cachemod.key(base, *self.key)

    def lock(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()  # cargo locks its target directory itself

    def recall(self) -> Path | None:
        return rust_cache.recall_path(self.state.cache, self.content_key())

    def unavailable(self) -> _Unavailable | None:
        named = rusttool.named_settings(self.state.settings.cargo)  # CARGO, RUSTC...: a failure, not a skip
        try:
            self.chosen = self.state.rust_toolchain(self.manifest.parent, self.arch)
        except rusttool.RustToolchainError as exc:
            bad_name = rusttool.named_problem(self.state.settings.cargo)
            reason = f"{self.call} for {self.arch.name}: {bad_name or str(exc).rstrip()}"
            if named and not bad_name:
                reason += f" (the toolchain named by {', '.join(named)})"
            return _Unavailable(reason, bool(named))
        if self.chosen.missing is not None:
            return _Unavailable(f"{self.call} cannot build for {self.arch.name}: {self.chosen.missing}")
        return None

    def build(self) -> Path:
        assert self.chosen is not None
        self.stable = self.content_key(ignore_lockfile=True)
        return rusttool.build_binary(
            self.chosen.toolchain, self.manifest, self.arch,
            bin=self.bin, example=self.example, test=self.test, release=self.release, features=self.features,
            target_dir=self.target_dir, env_extra=self.env,
        )  # fmt: skip

    def remember(self, built: Path) -> Path:
        if self.content_key(ignore_lockfile=True) == self.stable:  # nothing but Cargo.lock changed meanwhile
            rust_cache.remember_path(self.state.cache, self.content_key(), built)
        return built


def make_cargo_build(config: pytest.Config, arch: Arch) -> CargoBuild:
    state = get_state(config)

    def cargo_build(
        manifest_dir: str | os.PathLike[str],
        *,
        bin: str | None = None,
        example: str | None = None,
        test: str | None = None,
        release: bool = False,
        features: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Path:
        where = Path(manifest_dir).resolve()
        manifest = where if where.name == "Cargo.toml" else where / "Cargo.toml"
        feature_list = tuple(features)
        key = ("cargo_build", str(manifest), arch.name, bin, example, test, release, feature_list,
               tuple(sorted((env or {}).items())))  # fmt: skip
        call = f"cargo_build({os.fspath(manifest_dir)!r})"
        recipe = _CargoRecipe(
            state, arch, call, manifest, bin, example, test, release, feature_list, env, key
        )
        return _build_once(config, key, recipe)

    return cargo_build


def make_run_on_arch(config: pytest.Config, arch: Arch) -> RunOnArch:
    state = get_state(config)

    def run_on_arch(
        binary: str | os.PathLike[str],
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        executor = state.choose_executor(arch)
        if isinstance(executor, executors.ExecutorUnavailable):
            raise errors.verdict(executor, strict=state.settings.strict).exception()
        data = input.encode() if isinstance(input, str) else input
        if timeout is None:  # the scaled --arch-timeout, as for the test binaries
            timeout = state.limits(arch, executor, quit_first=False).batch
        try:
            return executors.run(executors.RunRequest(
                binary, tuple(str(a) for a in args), arch, executor,
                env=proc.base_env({**executors.arch_env(arch, executor), **(env or {})}),
                cwd=cwd if cwd is not None else Path.cwd(),
                timeout=timeout,
                input=data,
            ))  # fmt: skip
        except elf.ElfMismatch as exc:  # the test's mistake: a failure that says what the file is
            why = str(exc)
        # Outside the except block: pytest would show the chained exceptions, pytrace=False or not.
        pytest.fail(
            f"run_on_arch on {arch.name}: {why}. go_build(...) and "
            f"cargo_build(...) return a program built for the test's architecture",
            pytrace=False,
        )

    return run_on_arch
