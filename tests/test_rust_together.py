"""Several architectures' Rust test binaries from one cargo run (toolchains/rust/together.py),
with Debian's Rust 1.85 and the cross linkers: what may share a run, that one cargo process
builds them all, and that a run one arch breaks ends with each arch's own result."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from rusthelpers import debian_rust_home

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains import rust
from pytest_multiarch.toolchains.rust import together

ARCHES = [archmod.get("arm64"), archmod.get("s390x"), archmod.get("arm")]


@pytest.fixture(scope="module")
def toolchain() -> rust.RustToolchain:
    cargo = debian_rust_home() / "bin" / "cargo"
    if not os.access(cargo, os.X_OK):
        pytest.skip(f"Debian's Rust is not installed at {cargo.parent.parent}: run scripts/bootstrap.sh")
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO", "RUSTC")}
    tc = rust.find_toolchain(cargo, env=env)
    for a in ARCHES:
        missing = rust.readiness(tc, a, Path.cwd())
        if missing is not None:
            pytest.skip(str(missing))
    return tc


def _crate(where: Path, lib: str) -> Path:
    (where / "src").mkdir(parents=True)
    (where / "Cargo.toml").write_text('[package]\nname = "shared"\nversion = "0.1.0"\nedition = "2021"\n')
    (where / "src" / "lib.rs").write_text(lib)
    (where / "tests").mkdir()
    (where / "tests" / "it.rs").write_text("#[test]\nfn integration() {}\n")
    return where / "Cargo.toml"


def _counting(toolchain: rust.RustToolchain, log: Path) -> rust.RustToolchain:
    """The toolchain with a cargo that notes each of its runs (its --target arguments) in ``log``
    before it runs the real cargo."""
    wrapper = log.parent / "cargo"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {toolchain.cargo} "$@"\n')
    wrapper.chmod(0o755)
    return dataclasses.replace(toolchain, cargo=wrapper)


def test_arches_that_differ_only_in_their_own_targets_share_an_environment(
    toolchain: rust.RustToolchain, tmp_path: Path
) -> None:
    env = together.shared_env(toolchain, ARCHES, tmp_path, {})
    assert env is not None
    # Each arch's linker is a variable of its own target's, so all of them are in the shared one.
    assert env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"].endswith("aarch64-linux-gnu-gcc")
    assert env["CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_LINKER"].endswith("s390x-linux-gnu-gcc")
    # The same value for every arch is shared too; a different one (a hook's) is not.
    same = {a: {"FEATURE_FLAG": "1"} for a in ARCHES}
    assert together.shared_env(toolchain, ARCHES, tmp_path, same) is not None
    differ = {a: {"FEATURE_FLAG": a.name} for a in ARCHES}
    assert together.shared_env(toolchain, ARCHES, tmp_path, differ) is None
    only_one: dict[Arch, dict[str, str]] = {ARCHES[0]: {"FEATURE_FLAG": "1"}}
    assert together.shared_env(toolchain, ARCHES, tmp_path, only_one) is None


def test_one_cargo_run_builds_every_arch(toolchain: rust.RustToolchain, tmp_path: Path) -> None:
    manifest = _crate(tmp_path / "crate", "#[test]\nfn unit() { assert_eq!(1 + 1, 2); }\n")
    log = tmp_path / "cargo-runs"
    told: list[tuple[str, str]] = []
    found = together.build_each(
        _counting(toolchain, log), manifest, ARCHES, tmp_path / "target", {},
        on_binary=lambda a, b: told.append((a.name, b.kind)),
    )  # fmt: skip
    runs = log.read_text().splitlines()
    assert len(runs) == 1, runs
    assert all(f"--target {a.rust_triple}" in runs[0] for a in ARCHES)
    for a in ARCHES:
        binaries = found[a]
        assert not isinstance(binaries, rust.RustError), binaries
        assert sorted(b.kind for b in binaries) == ["lib", "test"]
        assert all(b.triple == a.rust_triple for b in binaries)
        # Each lives under its own target's directory, and each was told as soon as it was built.
        assert all(f"/{a.rust_triple}/" in str(b.executable) for b in binaries)
        assert sorted(k for n, k in told if n == a.name) == ["lib", "test"]


def test_a_run_one_arch_breaks_ends_with_each_arch_own_result(
    toolchain: rust.RustToolchain, tmp_path: Path
) -> None:
    lib = '#[cfg(target_arch = "s390x")]\ncompile_error!("no s390x port yet");\n#[test]\nfn unit() {}\n'
    manifest = _crate(tmp_path / "crate", lib)
    log = tmp_path / "cargo-runs"
    found = together.build_each(_counting(toolchain, log), manifest, ARCHES, tmp_path / "target", {})
    runs = log.read_text().splitlines()
    # The shared run failed; then each arch was built alone, so each has its own verdict.
    assert len(runs) == 1 + len(ARCHES), runs
    broken = found[archmod.get("s390x")]
    assert isinstance(broken, rust.RustBuildError)
    assert "no s390x port yet" in str(broken) and "for s390x" in str(broken)
    for name in ("arm64", "arm"):
        binaries = found[archmod.get(name)]
        assert not isinstance(binaries, rust.RustError), binaries
        assert sorted(b.kind for b in binaries) == ["lib", "test"]
