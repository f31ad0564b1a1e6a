"""Fixtures for Python tests that build and run Go/Rust binaries per architecture."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from pytest_multiarch import elf, executors, proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.cache import store as cachemod
from pytest_multiarch.collect.base import skip_or_fail
from pytest_multiarch.executors import RunResult
from pytest_multiarch.settings import State, get_state
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.go import module as gomodule
from pytest_multiarch.toolchains.go import tool as gotool
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


def _build_once(state: State, key: tuple[object, ...], build: Callable[[], Path | Exception]) -> Path:
    """Build once per session per key (tests on one arch share it); a build error fails the test."""
    built = state.builds.get(key, build)
    if isinstance(built, Exception):
        pytest.fail(str(built), pytrace=False)
    assert isinstance(built, Path)
    return built


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
        named = gotool.named_problem()  # a MULTIARCH_GO that is not a go: a failure, not a skip
        go = gotool.find_go()
        if go is None or named is not None:
            skip_or_fail(
                config,
                f"go_build({os.fspath(package)!r}) for {arch.name}: {named or gotool.not_found_reason()}",
                named=named is not None,
            )
            raise AssertionError("unreachable")
        pkg_path = Path(package)
        # A directory builds there; anything else is an import path, resolved from rootdir.
        is_dir = pkg_path.is_dir()
        cwd = pkg_path.resolve() if is_dir else config.rootpath
        target = "." if is_dir else str(package)
        tag_list = tuple(tags)
        key = (
            "go_build",
            str(cwd),
            target,
            arch.name,
            test,
            tag_list,
            ldflags,
            cgo,
            tuple(sorted((env or {}).items())),
        )
        name = Path(target).name.strip(".") or cwd.name
        out = state.bin_dir / "go-build" / arch.name / f"{name}-{_cache_name(*key)}"

        def build() -> Path | gotool.GoError:
            module_dir = next((d for d in (cwd, *cwd.parents) if (d / "go.mod").is_file()), None)
            if module_dir is None:
                return run_go()
            # Across sessions: reused while nothing in the module (nor toolchain, flags) changed.
            request = gomodule.Request(go, module_dir, arch, tag_list, cgo)
            stamp = gomodule.module_stamp(module_dir, state.cache)
            content_key = cachemod.key("go_build", gomodule.listing_key(request, stamp), *key)
            with state.cache.lock(content_key):
                found = state.cache.entry(content_key)
                if found is not None:
                    return found / name
                built = run_go()
                return state.cache.store_file(content_key, built, name) if isinstance(built, Path) else built

        def run_go() -> Path | gotool.GoError:
            argv = [go, "test", "-c"] if test else [go, "build"]
            argv += ["-o", str(out)]
            if tag_list:
                argv.append("-tags=" + ",".join(tag_list))
            if ldflags is not None:
                argv.append("-ldflags=" + ldflags)
            argv.append(target)
            res = proc.run(
                argv, env=gotool.build_env(arch, cgo=cgo, extra=env), cwd=cwd, timeout=gotool.BUILD_TIMEOUT
            )
            if not res.ok:
                return gotool.GoError(
                    f"go_build({os.fspath(package)!r}) for {arch.name}: `{' '.join(argv)}` "
                    f"{res.describe_exit()}:\n" + (res.stderr + res.stdout).decode(errors="replace")
                )
            return out

        return _build_once(state, key, build)

    return go_build


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
        target_dir = state.bin_dir / "cargo-target"

        def content_key(ignore_lockfile: bool = False) -> str:
            base = rust_cache.collection_keys(
                manifest, [arch], explicit_cargo=state.settings.cargo, target_dir=target_dir,
                cache=state.cache, ignore_lockfile=ignore_lockfile,
            )[arch]  # fmt: skip
            return cachemod.key(base, *key)

        def build() -> Path | rusttool.RustError:
            found = rust_cache.recall_path(state.cache, content_key())
            if found is not None:  # built by an earlier session, and nothing cargo reads changed
                return found
            call = f"cargo_build({os.fspath(manifest_dir)!r})"
            unavailable: str | None = None
            named = rusttool.named_settings(state.settings.cargo)  # CARGO, RUSTC...: a failure, not a skip
            try:
                chosen = state.rust_toolchain(manifest.parent, arch)
            except rusttool.RustToolchainError as exc:
                bad_name = rusttool.named_problem(state.settings.cargo)
                unavailable = f"{call} for {arch.name}: {bad_name or str(exc).rstrip()}"
                if named and not bad_name:
                    unavailable += f" (the toolchain named by {', '.join(named)})"
            if unavailable is not None:  # outside the except block: no chained exception shown
                skip_or_fail(config, unavailable, named=bool(named))
                raise AssertionError("unreachable")
            if chosen.missing is not None:
                skip_or_fail(config, f"{call} cannot build for {arch.name}: {chosen.missing}")
            stable = content_key(ignore_lockfile=True)
            try:
                built = rusttool.build_binary(
                    chosen.toolchain, manifest, arch,
                    bin=bin, example=example, test=test, release=release, features=feature_list,
                    target_dir=target_dir, env_extra=env,
                )  # fmt: skip
            except rusttool.RustError as exc:
                return exc
            if content_key(ignore_lockfile=True) == stable:  # nothing but Cargo.lock changed meanwhile
                rust_cache.remember_path(state.cache, content_key(), built)
            return built

        return _build_once(state, key, build)

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
        unavailable: str | None = None
        named = False
        try:
            executor = state.executor(arch)
        except executors.ExecutorUnavailable as exc:
            unavailable, named = str(exc), exc.named
        if unavailable is not None:  # outside the except block: no chained exception shown
            skip_or_fail(config, unavailable, named=named)
            raise AssertionError("unreachable")
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
