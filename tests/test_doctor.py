"""`python -m pytest_multiarch doctor`: one block per architecture, the fix for each gap, and an
exit status that says whether every requested architecture can run. Real tools, real qemu."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rusthelpers import debian_rust_home

from pytest_multiarch import arch as archmod

RUST_PREFIX_CARGO = debian_rust_home() / "bin" / "cargo"


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_multiarch", "doctor", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip


def block(output: str, arch: str) -> str:
    """The lines of one architecture's block."""
    lines = output.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split()[:1] == [arch])
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def test_ready_architectures_exit_zero_and_say_how_they_run() -> None:
    res = doctor("--arch", "arm64,386")
    assert res.returncode == 0, res.stderr
    arm64 = block(res.stdout, "arm64")
    assert arm64.splitlines()[0].split()[1] in ("ok", "runs;")
    assert "ok run   qemu " in arm64 and "qemu-aarch64" in arm64
    assert "ok go    builds GOARCH=arm64" in arm64
    assert "ok run   native" in block(res.stdout, "386")


def test_an_architecture_that_cannot_run_exits_nonzero_with_the_fix() -> None:
    res = doctor("--arch", "s390x", "--arch-executor", "native")
    assert res.returncode == 1
    s390x = block(res.stdout, "s390x")
    assert "CANNOT RUN" in s390x
    assert "cannot run s390x code natively" in s390x
    assert "fix: use --arch-executor=auto or qemu" in s390x
    assert "cannot run: s390x" in res.stderr


def test_a_missing_emulator_names_the_variable_that_points_nowhere() -> None:
    res = doctor("--arch", "mips64", env={"MULTIARCH_QEMU_MIPS64": "/nonexistent/qemu-mips64"})
    assert res.returncode == 1
    mips64 = block(res.stdout, "mips64")
    assert "MULTIARCH_QEMU_MIPS64=/nonexistent/qemu-mips64 is not an executable" in mips64
    assert "fix: point it at a qemu-mips64" in mips64


def test_missing_go_is_reported_with_its_fix_but_does_not_fail_the_run_check() -> None:
    res = doctor("--arch", "arm64", env={"MULTIARCH_GO": "/nonexistent/go"})
    assert res.returncode == 0  # arm64 still runs; only Go tests would skip
    arm64 = block(res.stdout, "arm64")
    assert "no go" in arm64.splitlines()[0]
    assert "-- go    MULTIARCH_GO=/nonexistent/go is not an executable go" in arm64


def test_unknown_architecture_is_a_usage_error_with_a_suggestion() -> None:
    res = doctor("--arch", "arm46")
    assert res.returncode == 2
    assert "unknown architecture 'arm46'" in res.stderr and "Did you mean 'arm64'?" in res.stderr


@pytest.mark.skipif(
    not RUST_PREFIX_CARGO.exists(), reason="needs Debian's Rust with cross std: scripts/bootstrap.sh"
)
def test_rust_readiness_per_architecture() -> None:
    res = doctor("--arch", "s390x,riscv64", "--cargo", str(RUST_PREFIX_CARGO))
    assert res.returncode == 0
    assert "ok rust  builds s390x-unknown-linux-gnu with rustc 1." in block(res.stdout, "s390x")
    assert f"({RUST_PREFIX_CARGO}: $CARGO)" in block(res.stdout, "s390x")  # which, and why
    assert "; std: Debian's libstd-rust-web-dev:s390x, linker " in block(res.stdout, "s390x")
    riscv64 = block(res.stdout, "riscv64")  # no std package: built from Debian's source
    assert "std: build-std from Debian's rust-web-src, linker " in riscv64
    if "no rust" in riscv64.splitlines()[0]:  # the source or the linker is missing: said with the fix
        assert "fix: " in riscv64


@pytest.mark.skipif(shutil.which("cargo") is None, reason="needs a cargo on PATH")
def test_the_rust_line_names_each_targets_std_source_and_linker() -> None:
    res = doctor("--arch", "mips64,loong64,amd64")
    mips64 = block(res.stdout, "mips64").splitlines()[3]
    assert "rust " in mips64 and "mips64-unknown-linux-gnuabi64" in mips64
    assert "std: build-std from " in mips64 and ", linker " in mips64
    loong64 = block(res.stdout, "loong64").splitlines()[3]
    assert "std: build-std from " in loong64 and ", linker " in loong64
    if loong64.startswith("    -- "):  # not ready: the linker it would take, not the one found
        assert loong64.endswith(", linker clang-19 driving ld.lld-22 (static)")
    if archmod.host().name == "amd64":
        amd64 = block(res.stdout, "amd64").splitlines()[3]
        assert amd64.startswith("    ok rust  builds x86_64-unknown-linux-gnu with rustc ")
        assert amd64.endswith(", linker cc")  # the host's own


@pytest.mark.skipif(
    not RUST_PREFIX_CARGO.exists(), reason="needs Debian's Rust with cross std: scripts/bootstrap.sh"
)
def test_doctor_finds_setups_rust_without_any_setting() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO", "RUSTC", "MULTIARCH_HOME")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not Path(p, "cargo").exists())
    res = subprocess.run(
        [sys.executable, "-m", "pytest_multiarch", "doctor", "--arch", "s390x"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    s390x = block(res.stdout, "s390x")
    assert "ok rust  builds s390x-unknown-linux-gnu" in s390x
    assert "provisioned by setup in" in s390x


def test_docker_without_an_engine_names_the_socket_and_the_fix() -> None:
    res = doctor("--arch=arm64", "--arch-executor=docker", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert res.returncode == 1
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in res.stdout
    assert "fix: install and start a Docker engine" in res.stderr
    assert "setup --arch" not in res.stderr  # setup installs no engine: not the fix here
