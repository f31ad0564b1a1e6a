"""The docker executor with a real Docker engine (started here when none runs) and real binfmt_misc
handlers: Go and Rust binaries of foreign architectures in containers, timeouts that kill the
container, no container left behind, and a clear skip when there is no engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gohelpers import check_test_cache, outcomes_by_id, section, write_module
from rusthelpers import write_crate
from test_binfmt import CHILD_MODULE

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors import binfmt_misc as binfmt


def _engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine on the default socket: the one running, or one started here."""
    if _engine_answers():
        return
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        pytest.skip("no Docker engine runs, and dockerd cannot be started here (install docker.io, as root)")
    log = Path(tempfile.gettempdir()) / "pytest-multiarch-dockerd.log"
    with log.open("ab") as out:
        subprocess.Popen(
            ["dockerd", "--iptables=false", "--bridge=none"],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip  # an engine for the rest of the machine's life, like a service
    deadline = time.monotonic() + 60
    while not _engine_answers():
        if time.monotonic() > deadline:
            pytest.skip(f"dockerd did not start within 60 s (see {log})")
        time.sleep(0.5)


def _containers() -> list[str]:
    res = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", "label=pytest-multiarch=run"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return res.stdout.split()


@pytest.fixture
def engine_and_handlers(docker_engine: None, kernel_handlers: None) -> Iterator[None]:
    """An engine, the kernel's handlers restored afterwards, and no container of ours left."""
    before = _containers()
    yield
    assert _containers() == before, "a container was left behind"


pytestmark = pytest.mark.usefixtures("engine_and_handlers")

RUST_LIB = """
    pub fn read_le(b: [u8; 4]) -> u32 { u32::from_ne_bytes(b) }

    #[cfg(test)]
    mod tests {
        #[test]
        fn little_endian() { assert_eq!(super::read_le([1, 0, 0, 0]), 1, "read as big-endian"); }

        #[test]
        fn threads() {
            let h = std::thread::spawn(|| 40 + 2);
            assert_eq!(h.join().unwrap(), 42);
        }
    }
"""


def test_go_and_rust_outcomes_match_qemu(rpytester: pytest.Pytester, gopytester: pytest.Pytester) -> None:
    write_module(rpytester.path, "child", {
        **CHILD_MODULE,
        "tmp_test.go": 'package child\n\nimport (\n\t"os"\n\t"path/filepath"\n\t"testing"\n)\n\n'
                       "func TestTempDir(t *testing.T) {\n"
                       '\tif err := os.WriteFile(filepath.Join(t.TempDir(), "f"), nil, 0o600); err != nil {\n'
                       "\t\tt.Fatal(err)\n\t}\n}\n",
    })  # fmt: skip
    write_crate(rpytester.path / "endian", {"src/lib.rs": RUST_LIB}, name="endian")
    if any(h.matches(archmod.get(a)) for h in binfmt.handlers() for a in ("arm64", "s390x")):
        pytest.skip("this machine has arm64/s390x handlers of its own: qemu would run foreign children too")
    docker = rpytester.runpytest_subprocess(
        "-v", "--arch=arm64,s390x", "--binfmt-install", "--arch-executor=docker", timeout=600
    )
    qemu = rpytester.runpytest_subprocess("-v", "--arch=arm64,s390x", "--arch-executor=qemu", timeout=600)
    in_docker, under_qemu = outcomes_by_id(docker), outcomes_by_id(qemu)
    assert len(in_docker) == 10, docker.stdout.str()
    # The same verdicts, except the test that runs a foreign child, which only containers (and
    # binfmt) can run: the kernel hands the child to QEMU through the F-flag handler.
    child = "child/go.mod::example.com/child::TestRunsAForeignChild[{}]"
    for a in ("arm64", "s390x"):
        assert in_docker.pop(child.format(a)) == "passed"
        assert under_qemu.pop(child.format(a)) == "failed"
    assert in_docker == under_qemu
    assert in_docker["endian/Cargo.toml::lib::tests::little_endian[s390x]"] == "failed"
    assert in_docker["child/go.mod::example.com/child::TestTempDir[arm64]"] == "passed"
    docker.stdout.fnmatch_lines([f"{a} * docker linux/{a} (engine *" for a in ("arm64", "s390x")])


def test_go_results_are_cached_from_containers_too(gopytester: pytest.Pytester) -> None:
    # The test log is written from inside the container into a directory mounted for it.
    check_test_cache(gopytester, "--arch=arm64", "--binfmt-install", "--arch-executor=docker")


def test_a_hanging_test_is_killed_with_its_container(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "hang", {
        "hang_test.go": 'package hang\n\nimport (\n\t"testing"\n\t"time"\n)\n\n'
                        "func TestOK(t *testing.T) {}\n\n"
                        "func TestHang(t *testing.T) { time.Sleep(time.Hour) }\n",
    })  # fmt: skip
    start = time.monotonic()
    res = gopytester.runpytest_subprocess(
        "-v", "--arch=arm64", "--binfmt-install", "--arch-executor=docker", "--arch-timeout=8",
        "--arch-timeout-scale=docker=1", timeout=300
    )
    assert time.monotonic() - start < 120
    ids = "hang/go.mod::example.com/hang::{}[arm64]"
    assert outcomes_by_id(res) == {ids.format("TestOK"): "passed", ids.format("TestHang"): "failed"}
    hung = section(res, "TestHang [arm64]")
    assert "timed out after" in hung
    assert "(reproduce: docker run --rm --platform linux/arm64 -v " in hung  # the command to paste
    # The per-test limit too: the container's output is followed live, so the hung test is seen
    # running, stopped (SIGQUIT: Go's goroutine dump), and the tests after it run again.
    start = time.monotonic()
    res = gopytester.runpytest_subprocess(
        "-v", "--arch=arm64", "--binfmt-install", "--arch-executor=docker", "--arch-test-timeout=3",
        "--arch-timeout-scale=docker=1", timeout=300
    )
    assert time.monotonic() - start < 60
    assert outcomes_by_id(res) == {ids.format("TestOK"): "passed", ids.format("TestHang"): "failed"}
    hung = section(res, "TestHang [arm64]")
    assert "timed out after 3 s under docker linux/arm64" in hung
    assert "goroutine " in hung and "TestHang(" in hung


def test_no_engine_is_a_skip_naming_the_socket(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_file = 'package p\n\nimport "testing"\n\nfunc TestA(t *testing.T) {}\n'
    write_module(gopytester.path, "plain", {"p_test.go": test_file})
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    res = gopytester.runpytest_subprocess("-rs", "--arch=arm64", "--arch-executor=docker", timeout=300)
    res.stdout.fnmatch_lines(["SKIPPED*no Docker engine answers at unix:///nonexistent/docker.sock*docker.io*"])
    args = ("--arch=arm64", "--arch-executor=docker", "--arch-strict")
    strict = gopytester.runpytest_subprocess(*args, timeout=300)
    assert strict.ret != 0
