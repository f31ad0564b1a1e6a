"""Building the test binaries of several architectures in one cargo run.

One ``cargo test --no-run --target A --target B ...`` builds every target in one job graph: the
build scripts and proc macros once, and the crates of all targets interleaved on every core.
Built one target after another (one cargo each, as a shell loop does), the cores idle through
each run's serial stretches (the last crate, the links), and cargo's lock on the target
directory keeps two runs from overlapping. Architectures go into one run only when nothing
tells them apart but their own targets' variables: the same toolchain, a prebuilt std (a
``-Zbuild-std`` target builds alone), and the same environment otherwise. When the shared run
fails, each architecture is built alone, so that every one gets its own result and error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.rust.build import build_env, build_tests, no_run, target_args
from pytest_multiarch.toolchains.rust.model import BUILD_TIMEOUT, RustError, RustToolchain, TestBinary


def _names_of(triple: str) -> tuple[str, ...]:
    """How a variable names a target: CARGO_TARGET_<TRIPLE>_*, or the cc crate's CC_<triple>."""
    return (triple.upper().replace("-", "_"), triple.replace("-", "_"), triple)


def _own(name: str, arch: Arch) -> bool:
    """Whether variable ``name`` is about ``arch``'s target alone."""
    assert arch.rust_triple is not None
    return any(n in name for n in _names_of(arch.rust_triple))


def shared_env(
    toolchain: RustToolchain,
    arches: Sequence[Arch],
    project_dir: str | os.PathLike[str],
    extras: Mapping[Arch, Mapping[str, str]],
) -> dict[str, str] | None:
    """One environment for building every arch of ``arches`` in one cargo run, or None when
    they cannot share one: a target that builds std from source, or variables that differ (or
    that only some have) other than those naming an arch's own target."""
    envs: dict[Arch, dict[str, str]] = {}
    for a in arches:
        if a.rust_triple is None:
            return None
        _, select_env = target_args(toolchain, a)
        if select_env:  # -Zbuild-std: its flags would apply to every target of the run
            return None
        envs[a] = build_env(toolchain, a, project_dir, extras.get(a))
    merged: dict[str, str] = {}
    for env in envs.values():
        for name, value in env.items():
            if merged.setdefault(name, value) != value:
                return None
    for name in merged:
        lacking = [a for a in arches if name not in envs[a]]
        if lacking and not any(_own(name, a) for a in arches if name in envs[a]):
            return None
    return merged


def build_each(
    toolchain: RustToolchain,
    manifest_path: str | os.PathLike[str],
    arches: Sequence[Arch],
    target_dir: str | os.PathLike[str],
    extras: Mapping[Arch, Mapping[str, str]],
    *,
    on_binary: Callable[[Arch, TestBinary], None] | None = None,
    timeout: float = BUILD_TIMEOUT,
) -> dict[Arch, list[TestBinary] | RustError]:
    """The test binaries of ``manifest_path`` for every arch of ``arches`` (built with
    ``toolchain``), or the error of its build: in one cargo run when they can share it (see
    shared_env), else, or when that run fails, one arch after another. ``on_binary`` is told
    each binary as soon as it is built (a binary may be told twice after a failed shared run)."""
    manifest = Path(manifest_path).resolve()
    env = shared_env(toolchain, arches, manifest.parent, extras) if len(arches) > 1 else None
    if env is not None:
        select = [w for a in arches for w in target_args(toolchain, a)[0]]
        try:
            found = no_run(toolchain, manifest, arches, select, env, target_dir,
                           timeout=timeout * len(arches), on_binary=on_binary)  # fmt: skip
            return dict(found)
        except RustError:
            pass  # which arch failed, and why: each is built alone below, and says so itself
    results: dict[Arch, list[TestBinary] | RustError] = {}
    for a in arches:
        told = (lambda b, a=a: on_binary(a, b)) if on_binary is not None else None
        try:
            results[a] = build_tests(toolchain, manifest, a, target_dir, extras.get(a), timeout=timeout,
                                     on_binary=told)  # fmt: skip
        except RustError as exc:
            results[a] = exc
    return results
