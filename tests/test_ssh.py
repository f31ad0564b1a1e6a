"""The ssh executor against real OpenSSH servers on 127.0.0.1 (see sshhelpers.py for how a
loopback server plays an arm64 or s390x machine): the examples give the qemu executor's cells,
a re-run stages nothing, batches spread over two hosts, and nothing is left running."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import sshhelpers
from gohelpers import write_module
from sshhelpers import SshServer, running_under, staged_programs_running, write_ssh_config
from stubs import sigint_default

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors import binfmt_misc as binfmt
from pytest_multiarch.executors import ssh_remote, ssh_stage
from pytest_multiarch.executors.ssh import runs_on_machine
from pytest_multiarch.run import limits

pytestmark = pytest.mark.skipif(bool(sshhelpers.missing()), reason=sshhelpers.missing() or "-")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "polyglot"
ARM64, S390X = archmod.get("arm64"), archmod.get("s390x")
Servers = Callable[..., SshServer]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Start sshd servers (``make(alias, machine)``); each is stopped after the test, and nothing
    of what they ran may still be running by then."""
    made: list[SshServer] = []

    def make(alias: str, machine: str = "aarch64", start: bool = True) -> SshServer:
        server = SshServer(tmp_path / alias, alias, machine)
        made.append(server)
        return server.start() if start else server

    yield make
    left = [line for s in made for line in running_under(s.cache)]
    for s in made:
        s.stop()
    for line in running_under(tmp_path):  # an orphan the servers' kill did not reach
        os.kill(int(line.split()[0]), 9)
    assert left == [], "left running on the remote side after the run"


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A directory for the control sockets (XDG_RUNTIME_DIR of the inner runs), short enough to
    be used (see ssh_remote.runtime_dir), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def foreign(kernel_handlers: None) -> None:
    """binfmt_misc handlers for arm64 and s390x (the kernel_handlers fixture takes them back)."""
    for a in (ARM64, S390X):
        if shutil.which(f"qemu-{a.qemu_name}-static") is None:
            pytest.skip(
                f"qemu-{a.qemu_name}-static is missing: python -m pytest_multiarch setup --arch={a.name}"
            )
    binfmt.install([a for a in (ARM64, S390X) if binfmt.handler_for(a) is None])


def inner(
    cwd: Path, *args: str, env: Mapping[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:xdist", *args]
    return subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def cells(report: Path) -> dict[tuple[str, str], str]:
    data = json.loads(report.read_text())
    return {(r["base"], r["arch"]): r["outcome"] for r in data["results"]}


def blobs(server: SshServer) -> dict[str, int]:
    d = server.cache / "blobs"
    return {p.name: p.stat().st_mtime_ns for p in d.iterdir()} if d.is_dir() else {}


def test_remotes_parse_and_name_their_hosts() -> None:
    found = ssh_remote.parse_remotes(
        ["arm64=ci@graviton-1 aarch64=ci@graviton-2,s390x=ssh://linux1@z.example:2222"]
    )
    assert [(r.arch.name, r.host) for r in found] == [
        ("arm64", "graviton-1"), ("arm64", "graviton-2"), ("s390x", "z.example")]  # fmt: skip
    for bad in ("arm64", "=host", "sparc=host", "arm64=-oProxyCommand=x"):
        with pytest.raises(ValueError):
            ssh_remote.parse_remotes([bad])
    with pytest.raises(ValueError, match="both arm64 and s390x"):
        ssh_remote.parse_remotes(["arm64=h s390x=h"])
    fits = [("aarch64", "arm64"), ("aarch64", "arm"), ("armv7l", "arm"), ("x86_64", "386"),
            ("mips64", "mips64le"), ("aarch64", "arm64-musl"), ("x86_64", "386-musl")]  # fmt: skip
    misfits = [("s390x", "arm64"), ("aarch64", "s390x"), ("ppc64le", "ppc64"), ("armv7l", "arm64")]
    for (machine, arch), ok in [*((f, True) for f in fits), *((m, False) for m in misfits)]:
        assert runs_on_machine(archmod.get(arch), machine) is ok, (machine, arch)
    # a real machine of the arch runs at native speed: no emulation factor
    assert limits.factor({}, "ssh", "arm64") == 1.0
    assert limits.factor({"arm64": 20}, "ssh", "arm64") == 1.0
    assert limits.factor({"ssh:arm64": 3}, "ssh", "arm64") == 3.0


@pytest.mark.usefixtures("foreign")
def test_examples_on_remote_arm64_and_s390x_match_qemu_and_rerun_stages_nothing(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str], rust_env: Mapping[str, str], runtime: Path
) -> None:
    arm, z = servers("remote-arm", "aarch64"), servers("remote-z", "s390x")
    config = write_ssh_config(tmp_path / "ssh_config", [arm, z])
    shutil.copytree(EXAMPLES, tmp_path / "polyglot", ignore=shutil.ignore_patterns("target"))
    env = {**go_env, **rust_env, "XDG_RUNTIME_DIR": str(runtime)}  # nothing may be left there
    qemu = inner(tmp_path, "--arch=arm64,s390x", "--arch-executor=qemu", "polyglot",
                 "--multiarch-report=q.json",
                 env=env)  # fmt: skip
    assert qemu.returncode in (0, 1), qemu.stdout + qemu.stderr
    remote = ["--arch=arm64,s390x", "--arch-executor=ssh", "--arch-remote=arm64=remote-arm",
              "--arch-remote=s390x=remote-z", "-o", f"multiarch_ssh_config={config}", "polyglot"]  # fmt: skip
    first = inner(tmp_path, *remote, "--multiarch-report=s.json", env=env)
    assert first.returncode == qemu.returncode, first.stdout + first.stderr
    want, got = cells(tmp_path / "q.json"), cells(tmp_path / "s.json")
    assert got == want and len(got) > 20, first.stdout[-4000:]
    runs_on = json.loads((tmp_path / "s.json").read_text())["runs_on"]
    assert runs_on["arm64"].startswith("ssh remote-arm (aarch64, Linux ")
    assert runs_on["s390x"].startswith("ssh remote-z (s390x, Linux ")
    assert "ssh remote-arm (aarch64, Linux" in first.stdout  # the terminal's "runs on" column
    assert "Go's test-result cache is not used for tests run by the ssh executor" in first.stdout
    staged = blobs(arm)
    assert staged and "ssh remote-arm:" in first.stdout
    assert running_under(arm.cache) == [] and running_under(z.cache) == []

    again = inner(tmp_path, *remote, "--multiarch-report=s2.json", env=env)
    assert again.returncode == first.returncode, again.stdout + again.stderr
    assert cells(tmp_path / "s2.json") == want
    for alias in ("remote-arm", "remote-z"):  # the summary counts what went over the wire
        line = next(x for x in again.stdout.splitlines() if f"ssh {alias}:" in x)
        assert "staged 0 file(s), 0 bytes" in line, line
    assert blobs(arm) == staged  # not even rewritten
    assert list(runtime.iterdir()) == []


def _sleepy_module(root: Path, packages: int, seconds: int) -> Path:
    """Packages whose one test sleeps. A long one (> 60 s) points its stdout and stderr at
    /dev/null and ignores SIGPIPE and SIGHUP, so that a closed ssh channel cannot end it by
    chance (only the wrapper's kill may), starts a grandchild ``sleep``, and then writes
    its pid to ``$SLEEPY_MARK/p<i>`` (a variable sent because multiarch_ssh_env names it)."""
    files = {}
    for i in range(packages):
        files[f"p{i}/p_test.go"] = f"""
            package p{i}

            import (
                "os"
                "os/exec"
                "os/signal"
                "strconv"
                "syscall"
                "testing"
                "time"
            )

            func TestSleep(t *testing.T) {{
                if {seconds} > 60 {{
                    signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
                    null, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
                    _ = syscall.Dup3(int(null.Fd()), 1, 0)
                    _ = syscall.Dup3(int(null.Fd()), 2, 0)
                    child := exec.Command("sleep", "{seconds}")
                    if err := child.Start(); err != nil {{
                        t.Fatal(err)
                    }}
                    pid := []byte(strconv.Itoa(child.Process.Pid))
                    _ = os.WriteFile(os.Getenv("SLEEPY_MARK")+"/p{i}", pid, 0o644) // all set up
                }}
                time.Sleep({seconds} * time.Second)
            }}
            """
    return write_module(root, "sleepy", files)


@pytest.mark.usefixtures("foreign")
def test_batches_spread_over_two_hosts_of_one_arch(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    a, b = servers("remote-a"), servers("remote-b")
    config = write_ssh_config(tmp_path / "ssh_config", [a, b])
    _sleepy_module(tmp_path, 4, 1)
    res = inner(tmp_path, "--arch=arm64", "--arch-executor=ssh", "--arch-remote=arm64=remote-a",
                "--arch-remote=arm64=remote-b", "-o", f"multiarch_ssh_config={config}",
                "--arch-test-cache=off",
                "sleepy", env=go_env)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    used = {alias: int(m.group(1)) for alias in ("remote-a", "remote-b")
            for m in [re.search(rf"ssh {alias}: (\d+) test process", res.stdout)] if m}  # fmt: skip
    assert sum(used.values()) == 4 and min(used.values()) >= 1, used
    assert "ssh remote-a (aarch64, Linux" in res.stdout and "remote-b (aarch64, Linux" in res.stdout


def _one_test_module(root: Path) -> Path:
    return write_module(root, "one", {"one_test.go": """
        package one

        import "testing"

        func TestOne(t *testing.T) {}
        """})  # fmt: skip


def _ssh_args(config: Path, alias: str = "remote-arm") -> list[str]:
    return ["--arch=arm64", "--arch-executor=ssh", f"--arch-remote=arm64={alias}", "-o",
            f"multiarch_ssh_config={config}", "--arch-test-cache=off"]  # fmt: skip


def test_connection_refused_names_the_host_and_the_command_that_checks(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    down = servers("remote-arm", start=False)  # configured, never started: nothing listens there
    config = write_ssh_config(tmp_path / "ssh_config", [down])
    _one_test_module(tmp_path)
    res = inner(tmp_path, *_ssh_args(config), "one", env=go_env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "ssh remote-arm: cannot connect to remote-arm" in res.stdout and "Connection refused" in res.stdout
    assert f"ssh -F {config} -o BatchMode=yes remote-arm true" in res.stdout


def test_host_key_mismatch_and_unknown_host_are_errors_with_their_fix(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    server = servers("remote-arm")
    config = write_ssh_config(tmp_path / "ssh_config", [server])
    _one_test_module(tmp_path)
    other = SshServer(tmp_path / "impostor", "remote-arm", "aarch64")  # keys only, never started
    server.trust(other.host_pub)
    res = inner(tmp_path, *_ssh_args(config), "one", env=go_env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "the host key of remote-arm does not match the one in known_hosts" in res.stdout
    assert "ssh-keygen -R remote-arm" in res.stdout
    server.known_hosts.write_text("")
    res = inner(tmp_path, *_ssh_args(config), "one", env=go_env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "remote-arm's host key is not in known_hosts" in res.stdout
    assert f"`ssh -F {config} remote-arm` once and accept the key" in res.stdout


def test_a_host_of_another_architecture_is_an_error_not_a_wrong_column(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    server = servers("remote-arm", "s390x")
    config = write_ssh_config(tmp_path / "ssh_config", [server])
    _one_test_module(tmp_path)
    res = inner(tmp_path, *_ssh_args(config), "one", env=go_env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "it is configured for arm64, but `uname -m` there says s390x" in res.stdout
    assert not (server.cache / "blobs").exists()  # nothing was sent to the wrong machine


def test_a_full_remote_disk_says_so_and_how_to_free_it(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    server = servers("remote-arm")
    config = write_ssh_config(tmp_path / "ssh_config", [server])
    _one_test_module(tmp_path)
    server.cache.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(server.cache)],
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs as the remote cache: {mounted.stderr.strip()}")
    try:
        res = inner(tmp_path, *_ssh_args(config), "one", env=go_env)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "no space left in" in res.stdout, res.stdout
        assert "python -m pytest_multiarch remote prune remote-arm" in res.stdout
        assert [p.name for p in (server.cache / "tmp").iterdir()] == []  # the half transfer is gone
        assert not (server.cache / "blobs").exists() or not any((server.cache / "blobs").iterdir())
    finally:
        subprocess.run(["umount", str(server.cache)], timeout=60, check=False)


def _wait_for(predicate: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.05)


def _start_inner(cwd: Path, *args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:xdist", *args]
    return subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=sigint_default)  # fmt: skip


@pytest.mark.usefixtures("foreign")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_pytest_killed_or_stopped_mid_batch_leaves_no_test_process_on_the_remote(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str], sig: signal.Signals,
    monkeypatch: pytest.MonkeyPatch, runtime: Path,
) -> None:
    server = servers("remote-arm")
    config = write_ssh_config(tmp_path / "ssh_config", [server])
    _sleepy_module(tmp_path, 1, 300)
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    pytest_proc = _start_inner(tmp_path, *_ssh_args(config), "-o", "multiarch_ssh_env=SLEEPY_MARK", "sleepy",
                               env={**go_env, "SLEEPY_MARK": str(marks)})  # fmt: skip
    try:
        _wait_for(lambda: (marks / "p0").exists(), 120, "the test started on the remote")
        assert staged_programs_running(server)
        if sig == signal.SIGKILL:
            os.killpg(pytest_proc.pid, sig)  # pytest and everything in its group, at once
        else:
            os.kill(pytest_proc.pid, sig)  # Ctrl-C, a CI job cancelled: pytest stops the session
        pytest_proc.wait(timeout=60)
        # The bound is 5 s; checked generously (a loaded 2-core machine).
        _wait_for(lambda: not running_under(server.cache), 15, f"{running_under(server.cache)} ended")
        _wait_for(lambda: _gone(int((marks / "p0").read_text())), 5, "its grandchild ended")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pytest_proc.pid, signal.SIGKILL)
        pytest_proc.wait(timeout=30)
    # What a killed run could not remove (its control socket's directory), the next one does.
    left = list(runtime.iterdir())
    assert len(left) == (1 if sig == signal.SIGKILL else 0), left
    assert all(p.name.startswith(f"pm-ssh-{pytest_proc.pid}-") for p in left)
    ssh_remote.runtime_dir().rmdir()
    assert list(runtime.iterdir()) == []


@pytest.mark.usefixtures("foreign")
def test_a_timeout_kills_the_remote_test_and_the_rest_of_the_batch_runs(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    server = servers("remote-arm")
    config = write_ssh_config(tmp_path / "ssh_config", [server])
    write_module(tmp_path, "slow", {"slow_test.go": """
        package slow

        import (
            "os"
            "os/exec"
            "strconv"
            "testing"
            "time"
        )

        func TestHangs(t *testing.T) {
            child := exec.Command("sleep", "300") // a grandchild: the group kill takes it too
            if err := child.Start(); err != nil {
                t.Fatal(err)
            }
            _ = os.WriteFile(os.Getenv("SLEEPY_MARK")+"/hang", []byte(strconv.Itoa(child.Process.Pid)), 0o644)
            time.Sleep(300 * time.Second)
        }

        func TestQuick(t *testing.T) {
            if os.Getenv("MULTIARCH_ARCH") != "arm64" {
                t.Fatal("the plugin's variables did not reach the remote")
            }
            if os.Getenv("SECRET_TOKEN") != "" || os.Getenv("SLEEPY_MARK") == "" {
                t.Fatal("only the plugin's variables and those named are sent")
            }
        }
        """})  # fmt: skip
    marks = tmp_path / "marks"
    marks.mkdir()
    res = inner(tmp_path, *_ssh_args(config), "--arch-test-timeout=3", "-v",
                "-o", "multiarch_ssh_env=SLEEPY_MARK",
                "slow", env={**go_env, "SLEEPY_MARK": str(marks), "SECRET_TOKEN": "s3cret"})  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert "TestQuick[arm64] PASSED" in res.stdout and "TestHangs[arm64] FAILED" in res.stdout
    assert "timed out after 3 s under ssh remote-arm" in res.stdout  # factor 1: native seconds
    _wait_for(lambda: not running_under(server.cache), 5, "the remote test and its sleep ended")
    _wait_for(lambda: _gone(int((marks / "hang").read_text())), 5, "its grandchild ended")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.usefixtures("foreign")
def test_a_dropped_connection_mid_batch_is_an_infra_error_naming_the_host(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    server = servers("remote-arm")
    config = write_ssh_config(tmp_path / "ssh_config", [server])
    _sleepy_module(tmp_path, 1, 300)
    marks = tmp_path / "marks"
    marks.mkdir()
    pytest_proc = _start_inner(tmp_path, *_ssh_args(config), "-o", "multiarch_ssh_env=SLEEPY_MARK", "sleepy",
                               env={**go_env, "SLEEPY_MARK": str(marks)})  # fmt: skip
    try:
        _wait_for(lambda: (marks / "p0").exists(), 120, "the test started on the remote")
        assert staged_programs_running(server)
        killed = server.kill_sessions()  # the server's per-connection processes: the link is gone
        assert killed
        out, _ = pytest_proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pytest_proc.pid, signal.SIGKILL)
        pytest_proc.wait(timeout=30)
    assert pytest_proc.returncode == 1, out
    assert (
        "the connection to the remote machine failed" in out
        and "ssh connection to remote-arm was lost" in out
    )
    _wait_for(lambda: not running_under(server.cache), 5, "the remote test ended with its connection")
    _wait_for(lambda: _gone(int((marks / "p0").read_text())), 5, "its grandchild ended")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_multiarch", *args], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def test_doctor_checks_each_remote_and_prune_empties_its_cache(tmp_path: Path, servers: Servers) -> None:
    arm, wrong = servers("remote-arm", "aarch64"), servers("remote-z", "x86_64")
    config = write_ssh_config(tmp_path / "ssh_config", [arm, wrong])
    res = _cli("doctor", "--arch=arm64", "--arch-remote=arm64=remote-arm", "--arch-remote=s390x=remote-z",
               "--ssh-config", str(config))  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    arm_block, z_block = res.stdout.split("s390x      CANNOT RUN  (remote remote-z)")
    assert "arm64      ok  (remote remote-arm)" in arm_block
    reach = r"ok reach ssh remote-arm \(aarch64, Linux [\d.]+\); round trip \d+ ms; \d+ cores"
    assert re.search(reach, arm_block)
    assert f"GiB free in {arm.cache}" in arm_block
    assert "-- arch  ssh remote-z: it is configured for s390x, but `uname -m` there says x86_64" in z_block
    assert "a remote machine is not ready" in res.stderr
    assert re.search(r"^arm64      ok\n    ok run   ssh remote-arm \(aarch64, Linux", res.stdout, re.M)

    (arm.cache / "blobs").mkdir(parents=True, exist_ok=True)
    (arm.cache / "blobs" / ("0" * 64)).write_bytes(b"x")
    res = _cli("remote", "prune", "remote-arm", "--ssh-config", str(config))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"removed {arm.cache} on remote-arm" in res.stdout
    assert not arm.cache.exists() and arm.cache_home.is_dir()  # only the cache, nothing around it

    down = servers("remote-down", start=False)
    config = write_ssh_config(tmp_path / "ssh_config2", [down])
    res = _cli("remote", "prune", "remote-down", "--ssh-config", str(config))
    assert res.returncode == 1 and "Connection refused" in res.stderr and "fix: " in res.stderr


@pytest.mark.usefixtures("foreign")
def test_a_crash_mid_batch_is_recovered_as_locally_and_its_reproduce_line_runs(
    tmp_path: Path, servers: Servers, go_env: Mapping[str, str]
) -> None:
    server = servers("remote-arm")
    config = write_ssh_config(tmp_path / "ssh_config", [server])
    write_module(tmp_path, "crash", {"crash_test.go": """
        package crash

        import (
            "syscall"
            "testing"
        )

        func TestA(t *testing.T) {}

        func TestCrash(t *testing.T) {
            _ = syscall.Kill(syscall.Getpid(), syscall.SIGKILL)
        }

        func TestZ(t *testing.T) {}
        """})  # fmt: skip
    qemu = inner(tmp_path, "--arch=arm64", "--arch-executor=qemu", "--arch-test-cache=off", "crash",
                 "--multiarch-report=q.json", env=go_env)  # fmt: skip
    res = inner(tmp_path, *_ssh_args(config), "crash", "--multiarch-report=s.json", env=go_env)
    assert res.returncode == qemu.returncode == 1, res.stdout + res.stderr
    assert cells(tmp_path / "s.json") == cells(tmp_path / "q.json")
    assert sorted(cells(tmp_path / "s.json").values()) == ["failed", "passed", "passed"]
    assert "the test process killed by SIGKILL while this test was running" in res.stdout
    found = re.search(r"\(reproduce: (.*)\)$", res.stdout, re.M)
    assert found, res.stdout
    line = found.group(1)
    staged_cwd = "'cd \"${XDG_CACHE_HOME:-$HOME/.cache}/pytest-multiarch/trees/"
    assert f"ssh -F {config} remote-arm {staged_cwd}" in line
    again = subprocess.run(["bash", "-c", line.replace("TestCrash", "TestA")], capture_output=True, text=True,
                           timeout=120, check=False)  # fmt: skip
    assert again.returncode == 0 and "--- PASS: TestA" in again.stdout, again.stdout + again.stderr


def test_staging_copies_what_the_toolchains_use_as_working_directory(tmp_path: Path) -> None:
    files = {"m_test.go": "package m\n", "testdata/a/b.txt": "b", "sub/x.go": "package x\n", ".git/c": ""}
    pkg = write_module(tmp_path, "m", files)
    assert [f.path for f in ssh_stage.tree_files(pkg)] == ["go.mod", "m_test.go", "testdata/a/b.txt"]
    crate = tmp_path / "crate"
    for rel in ("Cargo.toml", "src/lib.rs", "tests/data/x.bin", "target/debug/big", ".hidden/y"):
        (crate / rel).parent.mkdir(parents=True, exist_ok=True)
        (crate / rel).write_text(rel)
    assert [f.path for f in ssh_stage.tree_files(crate)] == ["Cargo.toml", "src/lib.rs", "tests/data/x.bin"]
    assert ssh_stage.tree_files(tmp_path) == []  # neither: the test runs in an empty directory
    before = ssh_stage.tree_key(ssh_stage.tree_files(crate))
    (crate / "src/lib.rs").write_text("changed")
    assert ssh_stage.tree_key(ssh_stage.tree_files(crate)) != before
