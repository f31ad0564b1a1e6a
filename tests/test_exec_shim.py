"""`python -m pytest_multiarch exec` as `go test -exec`, as the `go_linux_<arch>_exec` shim on
PATH, and as cargo's target runner: real go test and cargo test on the examples give their own
verdicts under emulation (the byte-order bug fails on s390x only); stdin, stdout, stderr, the exit
status and signals pass through."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "polyglot"
RUNNER = f"{sys.executable} -m pytest_multiarch exec"
ECHO_GO = """
package main

import (
\t"fmt"
\t"io"
\t"os"
\t"strconv"
)

func main() {
\tdata, _ := io.ReadAll(os.Stdin)
\tfmt.Printf("out:%s:%q\\n", data, os.Args[1:])
\tfmt.Fprintf(os.Stderr, "err:%d\\n", len(data))
\tif len(os.Args) > 1 && os.Args[1] == "kill" {
\t\tp, _ := os.FindProcess(os.Getpid())
\t\tp.Signal(os.Kill)
\t}
\tcode, _ := strconv.Atoi(os.Getenv("CODE"))
\tos.Exit(code)
}
"""


def _go_test(module: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [env["GO"], "test", "-count=1", *args, "./..."], cwd=module, env={**os.environ, **env},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture
def gocodec(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / "gocodec", tmp_path / "gocodec"))


@pytest.fixture
def gotest_env(go: str, go_env: Mapping[str, str]) -> dict[str, str]:
    """conftest's Go settings, and which go runs `go test` (Debian's is not on PATH)."""
    return {**go_env, "GO": go}


def test_go_test_exec_gives_go_tests_own_verdicts(gocodec: Path, gotest_env: Mapping[str, str]) -> None:
    go_env = gotest_env
    ok = _go_test(gocodec, {**go_env, "GOARCH": "arm64"}, "-exec", RUNNER)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Not the first line: Go 1.23 prints "? ... [no test files]" packages first, 1.26 after.
    assert re.search(r"^ok\s+example\.com/gocodec\s", ok.stdout, re.M), ok.stdout
    bad = _go_test(gocodec, {**go_env, "GOARCH": "s390x"}, "-v", "-exec", RUNNER)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    fails = [line for line in bad.stdout.splitlines() if line.startswith("--- FAIL")]
    assert len(fails) == 1 and fails[0].startswith("--- FAIL: TestDecodeWire"), bad.stdout
    assert "host byte order is not the wire's" in bad.stdout  # the test's own message, as go test shows it


def test_go_linux_arch_exec_shims_on_path(
    gocodec: Path, gotest_env: Mapping[str, str], tmp_path: Path
) -> None:
    go_env = gotest_env
    shims = tmp_path / "shims"
    argv = [sys.executable, "-m", "pytest_multiarch", "shims", str(shims), "--arch=s390x,arm64"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    assert sorted(p.name for p in shims.iterdir()) == ["go_linux_arm64_exec", "go_linux_s390x_exec"]
    assert "CARGO_TARGET_<TRIPLE>_RUNNER" in res.stderr
    path = f"{shims}{os.pathsep}{os.environ['PATH']}"
    bad = _go_test(gocodec, {**go_env, "GOARCH": "s390x", "PATH": path})  # no -exec: go finds the shim
    assert bad.returncode == 1 and "--- FAIL: TestDecodeWire" in bad.stdout, bad.stdout + bad.stderr
    assert _go_test(gocodec, {**go_env, "GOARCH": "arm64", "PATH": path}).returncode == 0


@pytest.mark.parametrize(("triple", "gcc", "status"), [
    ("aarch64-unknown-linux-gnu", "aarch64-linux-gnu-gcc", 0),
    ("s390x-unknown-linux-gnu", "s390x-linux-gnu-gcc", 101),
])  # fmt: skip
def test_cargo_runner_gives_cargo_tests_own_verdicts(
    tmp_path: Path, rust_env: Mapping[str, str], triple: str, gcc: str, status: int
) -> None:
    crate = Path(
        shutil.copytree(
            EXAMPLES / "rustcodec", tmp_path / "rustcodec", ignore=shutil.ignore_patterns("target")
        )
    )
    key = triple.upper().replace("-", "_")
    env = {**os.environ, **rust_env, f"CARGO_TARGET_{key}_RUNNER": RUNNER, f"CARGO_TARGET_{key}_LINKER": gcc,
           "CARGO_TARGET_DIR": str(tmp_path / "target")}  # fmt: skip
    res = subprocess.run([rust_env["CARGO"], "test", "--target", triple], cwd=crate, env=env,
                         capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert res.returncode == status, res.stdout + res.stderr
    failed = [line for line in res.stdout.splitlines() if line.endswith("... FAILED")]
    assert failed == ([] if status == 0 else ["test tests::decode_wire ... FAILED"]), res.stdout
    assert "Running" in res.stderr and "pytest_multiarch exec" not in res.stderr  # the runner is silent


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory, go: str, go_env: Mapping[str, str]) -> Path:
    src = tmp_path_factory.mktemp("echo")
    (src / "main.go").write_text(ECHO_GO)
    (src / "go.mod").write_text("module echo\n\ngo 1.21\n")
    subprocess.run([go, "build", "-o", "echo-s390x", "."], cwd=src, env={**os.environ, **go_env,
                   "GOARCH": "s390x", "CGO_ENABLED": "0"}, check=True, timeout=300)  # fmt: skip
    return src / "echo-s390x"


def _exec(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest_multiarch", "exec", *args]
    env = {**os.environ, **env}
    return subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, timeout=120)


def test_stdio_exit_status_and_signals_pass_through(echo: Path) -> None:
    res = _exec(str(echo), "a b", "--", "-x", stdin="hello", CODE="7")
    assert (res.returncode, res.stdout, res.stderr) == (7, 'out:hello:["a b" "--" "-x"]\n', "err:5\n")
    killed = _exec(str(echo), "kill")
    assert killed.returncode == 128 + 9  # SIGKILL, as a shell reports it
    assert _exec("--arch=s390x", "--", str(echo), stdin="x").returncode == 0


def test_what_cannot_run_says_why(echo: Path, tmp_path: Path) -> None:
    wrong = _exec("--arch=arm64", str(echo))
    assert wrong.returncode == 126
    assert "is built for s390x, not arm64; rebuild it with GOARCH=arm64" in wrong.stderr
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    not_elf = _exec(str(script))
    assert not_elf.returncode == 126 and "is not an ELF executable (a script: #!/bin/sh)" in not_elf.stderr
    missing = _exec(str(tmp_path / "nothing"))
    assert missing.returncode == 127 and "no such file" in missing.stderr
    no_qemu = _exec(str(echo), MULTIARCH_QEMU_S390X=str(tmp_path / "nope"), MULTIARCH_EXECUTOR="qemu")
    assert no_qemu.returncode == 126 and "MULTIARCH_QEMU_S390X" in no_qemu.stderr
