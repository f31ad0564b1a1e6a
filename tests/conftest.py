"""Helpers for tests that drive the real Go toolchain, directly or through an inner pytest run.

``pytester`` points ``HOME`` at its temporary directory, which would give every inner run a cold
Go build cache (the standard library compiled again for every architecture, ~9 s each). The
``gopytester`` fixture hands the inner runs the outer run's ``GOCACHE``/``GOPATH`` instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from rusthelpers import REAL_HOME, RUST_HOME
from stubs import write_executable

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors import binfmt_misc as binfmt
from pytest_multiarch.toolchains.go import find as gofind
from pytest_multiarch.toolchains.rust import debian as debian_rust


@pytest.fixture(scope="session")
def go() -> str:
    found = gofind.find_go()  # as the plugin finds it (PATH, /usr/local/go, Debian's /usr/lib/go-1.N)
    if found is None:
        pytest.fail("these tests need the real Go toolchain: install Go 1.21+ (scripts/bootstrap.sh)")
    return found


@pytest.fixture(scope="session")
def go_env(go: str) -> dict[str, str]:
    """Go's cache and path settings of the outer run (read before pytester moves HOME)."""
    res = subprocess.run(
        [go, "env", "-json", "GOCACHE", "GOPATH", "GOMODCACHE"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    env: dict[str, str] = json.loads(res.stdout)
    env["GOTOOLCHAIN"] = "local"  # never download a toolchain in a test
    env["GOPROXY"] = "off"  # nor modules: the test modules have no dependencies
    return env


@pytest.fixture
def gopytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, go_env: Mapping[str, str]
) -> pytest.Pytester:
    """``pytester`` whose inner runs share the outer Go build cache."""
    for key, value in go_env.items():
        monkeypatch.setenv(key, value)
    return pytester


@pytest.fixture(scope="session")
def rust_env() -> dict[str, str]:
    """The environment inner runs need for Debian's Rust 1.85 (skips when it is not installed)."""
    cargo, rustc = RUST_HOME / "bin" / "cargo", RUST_HOME / "bin" / "rustc"
    if not (os.access(cargo, os.X_OK) and os.access(rustc, os.X_OK)):
        pytest.skip(f"Debian's Rust with cross std is not at {RUST_HOME}: run scripts/bootstrap.sh")
    return {
        "CARGO": str(cargo),
        "RUSTC": str(rustc),
        # pytester points HOME at its tmp dir: keep cargo's and rustup's homes where they are.
        "CARGO_HOME": os.environ.get("CARGO_HOME") or str(REAL_HOME / ".cargo"),
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME") or str(REAL_HOME / ".rustup"),
        "CARGO_NET_OFFLINE": "true",  # the crates here have no dependencies
        "RUST_BACKTRACE": "0",  # shorter failure texts, whatever the outer environment says
    }


@pytest.fixture(scope="session")
def bare_rust_env(rust_env: Mapping[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``rust_env`` with Debian's Rust 1.85 copied (hard links) without its library source, so no
    std can be built from source with it: a toolchain that lacks something, whatever this machine has."""
    prefix = tmp_path_factory.mktemp("bare") / "rust-1.85"
    shutil.copytree(
        RUST_HOME, prefix, copy_function=os.link, symlinks=True,
        ignore=lambda d, names: [n for n in names if Path(d, n) in (RUST_HOME / "usr/src", RUST_HOME / "bin")
                                 or n == debian_rust.MARKER],
    )  # fmt: skip
    (prefix / "bin").mkdir()
    host = archmod.host()
    multiarch = "i386-linux-gnu" if host.name == "386" else host.gnu_triple
    for tool in ("cargo", "rustc", "rustdoc"):
        (prefix / "bin" / tool).write_text(debian_rust.wrapper(prefix, tool, multiarch))
        (prefix / "bin" / tool).chmod(0o755)
    (prefix / "usr/lib/rustlib/src/rust").unlink(missing_ok=True)
    return {**rust_env, "CARGO": str(prefix / "bin" / "cargo"), "RUSTC": str(prefix / "bin" / "rustc")}


@pytest.fixture
def logged_tools(rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$CARGO and $RUSTC: wrappers that record each call (see rusthelpers.calls), then run
    Debian's Rust."""
    log = rpytester.path / "calls.log"
    tools = rpytester.path / "tools"
    tools.mkdir()
    for name in ("cargo", "rustc"):
        real = RUST_HOME / "bin" / name
        write_executable(tools / name, f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexec "{real}" "$@"\n')
        monkeypatch.setenv(name.upper(), str(tools / name))
    return log


@pytest.fixture
def rpytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, rust_env: Mapping[str, str]
) -> pytest.Pytester:
    """``pytester`` whose inner runs use Debian's Rust 1.85."""
    for key, value in rust_env.items():
        monkeypatch.setenv(key, value)
    return pytester


def _snapshot() -> tuple[bool, list[binfmt.Handler]]:
    return binfmt.mounted(), binfmt.handlers()


@pytest.fixture
def kernel_handlers() -> Iterator[None]:
    """Root and binfmt_misc needed; whatever the test changes is put back."""
    if os.geteuid() != 0:
        pytest.skip("registering binfmt_misc handlers needs root")
    if not binfmt.MOUNT.is_dir():
        pytest.skip(f"this kernel has no binfmt_misc ({binfmt.MOUNT} is missing)")
    was_mounted, before = _snapshot()
    yield
    for h in binfmt.handlers():
        if h not in before:
            (binfmt.MOUNT / h.name).write_text("-1")
    for h in before:  # re-register what a test replaced (by --force)
        if h not in binfmt.handlers():
            pytest.fail(f"the test removed a handler it did not add: {h.name}")
    if not was_mounted and binfmt.mounted() and not binfmt.handlers():
        subprocess.run(["umount", str(binfmt.MOUNT)], check=False, timeout=30)
