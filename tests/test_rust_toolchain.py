"""pytest_multiarch.toolchains.rust against the real thing: Debian's Rust 1.85 (installed by
`setup` unpacks it; see tests/rusthelpers.py), the cross gcc linkers and qemu-user.

The parser tests read libtest output captured from tests/fixtures/rust/sample_crate built for
s390x (tests/fixtures/rust/captured/; regenerate by running that crate's lib test binary under
qemu-s390x-static with RUSTC_BOOTSTRAP=1 RUST_BACKTRACE=0 and the arguments named in each test).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from rusthelpers import debian_rust_home

from pytest_multiarch import arch as archmod
from pytest_multiarch import executors, proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.outcome import TestOutcome
from pytest_multiarch.run import batch
from pytest_multiarch.run.supervise import Limits
from pytest_multiarch.toolchains import rust
from pytest_multiarch.toolchains.rust import build as rust_build

RUST_HOME = debian_rust_home()
FIXTURES = Path(__file__).parent / "fixtures" / "rust"
SAMPLE = FIXTURES / "sample_crate"
CAPTURED = FIXTURES / "captured"
HOST_TRIPLE = "x86_64-unknown-linux-gnu"
# What libtest prints for the two ignored tests, and the tests that run.
IGNORED = {"tests::slow_one": "slow", "tests::ignored_without_reason": "ignored (#[ignore])"}


def _clean_env() -> dict[str, str]:
    """This process's environment without the variables that would pick another toolchain."""
    return {k: v for k, v in os.environ.items() if k not in ("CARGO", "RUSTC")}


@pytest.fixture(scope="module")
def toolchain() -> rust.RustToolchain:
    cargo = RUST_HOME / "bin" / "cargo"
    if not os.access(cargo, os.X_OK):
        pytest.skip(f"Debian's Rust is not installed at {RUST_HOME}: run scripts/bootstrap.sh")
    return rust.find_toolchain(cargo, env=_clean_env())


def _captured(name: str) -> bytes:
    return (CAPTURED / name).read_bytes()


# ---------------------------------------------------------------------------------------------
# Parsing libtest output (captured from real runs)


def test_parse_captured_run() -> None:
    run = rust.parse_libtest_json(_captured("s390x_run.jsonl"))
    out = run.outcomes
    assert {n: o.status for n, o in out.items()} == {
        "tests::adds": "passed",
        "tests::crashes_if_asked": "passed",
        "tests::divides_by_zero": "passed",  # should_panic, and it panicked as expected
        "tests::endianness_is_little": "failed",
        "tests::ignored_without_reason": "skipped",
        "tests::panics_in_spawned_thread": "failed",
        "tests::slow_one": "skipped",
        "tests::spawned_threads_pass": "passed",
        "tests::writes_past_the_capture": "passed",
    }
    assert out["tests::adds"].output == "adding on s390x\n"  # --show-output keeps passing output
    assert out["tests::adds"].duration > 0
    endian = out["tests::endianness_is_little"]
    assert endian.message.startswith("thread 'tests::endianness_is_little' panicked at src/lib.rs:")
    assert endian.message.endswith("assertion `left == right` failed: read as big-endian")
    assert "left: 16777216" in endian.output
    # The spawned thread's panic is the root cause; the test's own join().expect() panic follows.
    spawned = out["tests::panics_in_spawned_thread"]
    assert spawned.message.startswith("thread '<unnamed>' panicked at src/lib.rs:")
    assert spawned.message.endswith(": boom in worker thread")
    assert "worker thread panicked" in spawned.output
    assert {n: out[n].message for n in IGNORED} == IGNORED
    # A raw write to fd 1 bypasses libtest's capture; it still belongs to the test that ran it.
    assert out["tests::writes_past_the_capture"].output == "uncaptured line\n"
    assert run.started == list(out)  # one test thread: started in name order, all finished
    assert run.unfinished() == [] and run.partial == {} and run.output == ""


def test_parse_captured_crash() -> None:
    # Same binary with SAMPLE_CRATE_CRASH=1: tests::crashes_if_asked aborts the process.
    run = rust.parse_libtest_json(_captured("s390x_crash.jsonl"))
    assert run.outcomes["tests::adds"].status == "passed"
    assert run.unfinished() == ["tests::crashes_if_asked"]
    assert run.partial == {"tests::crashes_if_asked": ""}


def test_parse_failure_messages_and_noise() -> None:
    # Lines as libtest 1.85 prints them (seen in a scratch crate): a should_panic test that did
    # not panic, one whose panic did not match, the 60-second "timeout" note (not a result),
    # uncaptured text without a newline glued to the next event, and text outside any test.
    stdout = textwrap.dedent("""\
        banner before the suite
        { "type": "suite", "event": "started", "test_count": 3 }
        { "type": "test", "event": "started", "name": "tests::no_panic" }
        { "type": "test", "name": "tests::no_panic", "event": "failed", "exec_time": 0.000000921, "message": "test did not panic as expected" }
        { "type": "test", "event": "started", "name": "tests::wrong_panic" }
        { "type": "test", "name": "tests::wrong_panic", "event": "failed", "exec_time": 0.000059398, "stdout": "\\nthread 'tests::wrong_panic' panicked at src/lib.rs:5:24:\\nbar\\n", "message": "panic did not contain expected string\\n      panic message: `\\"bar\\"`,\\n expected substring: `\\"foo\\"`" }
        { "type": "test", "event": "started", "name": "tests::slow" }
        { "type": "test", "event": "timeout", "name": "tests::slow" }
        raw no newline{ "type": "test", "name": "tests::slow", "event": "ok", "exec_time": 61.0 }
        { "type": "suite", "event": "failed", "passed": 1, "failed": 2, "ignored": 0, "measured": 0, "filtered_out": 0, "exec_time": 61.1 }
        """).encode()  # noqa: E501
    run = rust.parse_libtest_json(stdout, b"stderr is not folded in")
    assert run.outcomes["tests::no_panic"].message == "test did not panic as expected"
    wrong = run.outcomes["tests::wrong_panic"]
    assert wrong.message == "panic did not contain expected string"
    assert "expected substring" in wrong.output and "bar" in wrong.output
    assert run.outcomes["tests::slow"].status == "passed"
    assert run.outcomes["tests::slow"].output == "raw no newline"
    assert run.output == "banner before the suite\n"


def test_parse_listings() -> None:
    listed = rust.parse_json_list(_captured("s390x_list.jsonl").decode())
    assert listed is not None
    by_name = {t.name: t for t in listed}
    assert by_name["tests::slow_one"].ignored and by_name["tests::slow_one"].ignore_reason == "slow"
    assert by_name["tests::ignored_without_reason"].ignored
    assert by_name["tests::adds"].source_path == "src/lib.rs" and by_name["tests::adds"].line > 0
    # libtest 1.85's terse --list shows ignored tests too, unmarked; --ignored lists only them.
    terse = rust.parse_terse_list(_captured("s390x_list_terse.txt").decode())
    assert terse == [t.name for t in listed]
    assert set(rust.parse_terse_list(_captured("s390x_list_terse_ignored.txt").decode())) == set(IGNORED)
    assert rust.parse_json_list("tests::adds: test\n") is None  # an old libtest: plain listing


def test_test_args() -> None:
    base = ["-Z", "unstable-options", "--format", "json", "--report-time", "--show-output"]
    assert rust.test_args(["b", "a"], ["a", "b"]) == base  # libtest's threads, as under cargo test
    assert rust.test_args(["a"], ["a", "b"], serial=True) == [*base, "--test-threads=1", "--exact", "a"]
    assert rust.RUN_ENV == {"RUSTC_BOOTSTRAP": "1"}


def test_package_ids() -> None:
    pv = rust_build._package_name_version
    assert pv("path+file:///work/sample_crate#0.1.0", "x") == ("sample_crate", "0.1.0")
    assert pv("path+file:///work/dir#my-crate@0.2.3-beta.1", "dir") == ("my-crate", "0.2.3-beta.1")
    assert pv("registry+https://github.com/rust-lang/crates.io-index#libc@0.2.1", "x") == ("libc", "0.2.1")
    assert pv("my-crate 1.0.0 (path+file:///work/dir)", "dir") == ("my-crate", "1.0.0")


# ---------------------------------------------------------------------------------------------
# Discovery


def _record(sysroot: Path = Path("/nonexistent")) -> rust.RustToolchain:
    """A toolchain record for lookups that only need its host triple (no tool is run)."""
    return rust.RustToolchain(Path("/bin/cargo"), Path("/bin/rustc"), sysroot, "1.85.0", HOST_TRIPLE)


def test_find_cargo_order(tmp_path: Path) -> None:
    debian = str(RUST_HOME / "bin" / "cargo")
    if not os.access(debian, os.X_OK) or not shutil.which("cargo"):
        pytest.skip(f"needs {debian} and a cargo on PATH")
    env = _clean_env()
    on_path = shutil.which("cargo", path=env.get("PATH"))
    assert rust.find_cargo(None, env) == on_path
    assert rust.find_cargo(debian, env) == debian  # explicit beats PATH
    assert rust.find_cargo(debian, {**env, "CARGO": str(on_path)}) == on_path  # $CARGO beats explicit
    assert rust.find_rustc(debian, env) == str(RUST_HOME / "bin" / "rustc")  # beside cargo beats PATH
    assert rust.find_rustc(debian, {**env, "RUSTC": "/bin/true"}) == "/bin/true"
    with pytest.raises(rust.RustToolchainError, match="cargo not found"):
        rust.find_toolchain(tmp_path / "no-cargo", env={"PATH": str(tmp_path)})


def test_toolchain_and_installed_targets(toolchain: rust.RustToolchain) -> None:
    assert toolchain.version == "1.85.0" and toolchain.host == HOST_TRIPLE
    assert toolchain.sysroot == RUST_HOME / "usr"
    assert toolchain.rustup_toolchain is None
    assert {HOST_TRIPLE, "aarch64-unknown-linux-gnu", "s390x-unknown-linux-gnu"} <= set(
        rust.installed_targets(toolchain)
    )


def test_linker_from_cargo_config(tmp_path: Path) -> None:
    s390x = archmod.get("s390x")
    var = "CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_LINKER"
    home, project = tmp_path / "cargo-home", tmp_path / "ws" / "crates" / "a"
    project.mkdir(parents=True)
    home.mkdir()
    env = {"PATH": "/nonexistent", "CARGO_HOME": str(home)}
    assert rust.find_linker(_record(), s390x, project, env) is None

    (home / "config.toml").write_text('[target.s390x-unknown-linux-gnu]\nlinker = "home-ld"\n')
    assert rust.find_linker(_record(), s390x, project, env) == rust.Linker(
        "home-ld", str(home / "config.toml")
    )

    ws_cargo = tmp_path / "ws" / ".cargo"
    ws_cargo.mkdir()
    (ws_cargo / "config.toml").write_text('[target.s390x-unknown-linux-gnu]\nlinker = "ws-ld"\n')
    assert rust.find_linker(_record(), s390x, project, env).program == "ws-ld"  # type: ignore[union-attr]  # None fails
    (ws_cargo / "config").write_text('[target.s390x-unknown-linux-gnu]\nlinker = "legacy-ld"\n')
    assert rust.find_linker(_record(), s390x, project, env).program == "legacy-ld"  # type: ignore[union-attr]  # None fails
    (project / ".cargo").mkdir()
    (project / ".cargo" / "config.toml").write_text("[target.aarch64-unknown-linux-gnu]\nlinker = 'x'\n")
    assert rust.find_linker(_record(), s390x, project, env).program == "legacy-ld"  # type: ignore[union-attr]  # None fails

    assert rust.find_linker(_record(), s390x, project, {**env, var: "env-ld"}) == rust.Linker(
        "env-ld", f"env {var}"
    )
    # The host needs no linker unless one is configured.
    assert rust.find_linker(_record(), archmod.get("amd64"), project, env) is None


def test_linker_on_path() -> None:
    gcc = shutil.which("s390x-linux-gnu-gcc")
    if gcc is None:
        pytest.skip("s390x-linux-gnu-gcc not installed (apt-get install gcc-s390x-linux-gnu)")
    env = {"PATH": os.environ["PATH"], "CARGO_HOME": "/nonexistent"}
    assert rust.find_linker(_record(), archmod.get("s390x"), "/", env) == rust.Linker(gcc, "PATH")


def test_readiness_without_the_library_source(bare_rust_env: dict[str, str], tmp_path: Path) -> None:
    bare = rust.find_toolchain(bare_rust_env["CARGO"], env=_clean_env())
    assert rust.library_source(bare) is None
    env = {**_clean_env(), "CARGO_HOME": str(tmp_path)}
    riscv = rust.readiness(bare, archmod.get("riscv64"), tmp_path, env)
    assert riscv is not None
    assert riscv.reason.startswith(
        "no prebuilt Rust std exists for riscv64gc-unknown-linux-gnu here, so it is built from source, and "
        f"{bare.sysroot / rust.SRC_DIR} holds none"
    )
    assert "rustup component add rust-src" in riscv.fix
    target = rust.rust_target(archmod.get("riscv64"), bare)
    assert target is not None and rust.builds_std(bare, target)
    s390x = rust.rust_target(archmod.get("s390x"), bare)
    assert s390x is not None and not rust.builds_std(bare, s390x)  # Debian's std is there


def test_readiness(toolchain: rust.RustToolchain, tmp_path: Path) -> None:
    env = {**_clean_env(), "CARGO_HOME": str(tmp_path)}
    for name in ("s390x", "arm64", "amd64"):
        if name != "amd64" and not shutil.which(f"{archmod.get(name).gnu_triple}-gcc"):
            continue
        assert rust.readiness(toolchain, archmod.get(name), tmp_path, env) is None, name

    # No std package: std is built from the prefix's source, which setup unpacks (or did not).
    mips64 = rust.readiness(toolchain, archmod.get("mips64"), tmp_path, {**env, "PATH": "/nonexistent"})
    assert mips64 is not None and "no linker for mips64-unknown-linux-gnuabi64" in mips64.reason
    if rust.library_source(toolchain) is None:
        assert "so it is built from source, and " in mips64.reason
        assert "python -m pytest_multiarch setup --arch=mips64" in mips64.fix
    else:
        assert "built from source" not in mips64.reason  # only the linker is missing

    no_gcc = rust.readiness(toolchain, archmod.get("s390x"), tmp_path, {**env, "PATH": "/nonexistent"})
    assert no_gcc is not None and "no linker for s390x-unknown-linux-gnu" in no_gcc.reason
    assert no_gcc.fix == "apt-get install gcc-s390x-linux-gnu libc6-dev-s390x-cross"

    no_triple = dataclasses.replace(archmod.get("mips"), rust_triple=None)
    assert "no Rust target for mips" in str(rust.readiness(toolchain, no_triple, tmp_path, env))
    unknown = dataclasses.replace(archmod.get("mips"), rust_triple="mips-unknown-plan9")
    assert "does not know the target mips-unknown-plan9" in str(
        rust.readiness(toolchain, unknown, tmp_path, env)
    )


def test_readiness_debian_prefix_without_that_std(toolchain: rust.RustToolchain, tmp_path: Path) -> None:
    # A dpkg -x'd prefix like setup's, holding only the host's std: the fix is setup, which
    # unpacks the same version of Debian's std package for the target into that prefix.
    usr = tmp_path / "prefix" / "usr"
    (usr / "lib" / "rustlib").mkdir(parents=True)
    (usr / "lib" / "rustlib" / HOST_TRIPLE).symlink_to(toolchain.sysroot / "lib" / "rustlib" / HOST_TRIPLE)
    (usr / "share" / "doc" / "rustc-web").mkdir(parents=True)
    changelog = toolchain.sysroot / "share" / "doc" / "rustc-web" / "changelog.Debian.gz"
    (usr / "share" / "doc" / "rustc-web" / "changelog.Debian.gz").symlink_to(changelog)
    prefix_only_host = dataclasses.replace(toolchain, sysroot=usr)
    assert rust.installed_targets(prefix_only_host) == [HOST_TRIPLE]
    missing = rust.readiness(
        prefix_only_host, archmod.get("s390x"), tmp_path, {**_clean_env(), "CARGO_HOME": "/x"}
    )
    assert missing is not None and "s390x-unknown-linux-gnu is not installed" in missing.reason
    assert "the std of a target must be the exact version of rustc" in missing.reason
    assert missing.fix == "python -m pytest_multiarch setup --arch=s390x"


def test_readiness_rustup(tmp_path: Path) -> None:
    env = _clean_env()
    cargo = shutil.which("cargo", path=env.get("PATH"))
    if cargo is None or ".cargo" not in cargo:
        pytest.skip("no rustup cargo on PATH")
    tc = rust.find_toolchain(None, env=env)
    if tc.rustup_toolchain is None or "s390x-unknown-linux-gnu" in rust.installed_targets(tc):
        pytest.skip("rustup toolchain already has s390x, or is not rustup's")
    missing = rust.readiness(tc, archmod.get("s390x"), tmp_path, env)
    assert missing is not None
    assert f"rustup target add --toolchain {tc.rustup_toolchain} s390x-unknown-linux-gnu" in missing.fix


# ---------------------------------------------------------------------------------------------
# Building, listing and running for real


def test_build_error_shows_rustc_diagnostics(toolchain: rust.RustToolchain, tmp_path: Path) -> None:
    crate = tmp_path / "broken"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "broken"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "lib.rs").write_text('pub fn f() -> u32 {\n    "not a number"\n}\n')
    with pytest.raises(rust.RustBuildError) as err:
        rust.build_tests(toolchain, crate / "Cargo.toml", archmod.get("amd64"), target_dir=tmp_path / "t")
    text = str(err.value)
    assert "error[E0308]: mismatched types" in text
    assert "src/lib.rs:2:5" in text  # rustc's rendered snippet, as cargo would show it
    assert "cargo test --no-run for amd64" in text and len(err.value.diagnostics) == 1


class _Builds(dict[str, list[rust.TestBinary]]):
    """The sample crate's test binaries per architecture name, built on first use."""

    def __init__(self, toolchain: rust.RustToolchain, target_dir: Path) -> None:
        super().__init__()
        self.toolchain, self.target_dir = toolchain, target_dir

    def __missing__(self, name: str) -> list[rust.TestBinary]:
        a = archmod.get(name)
        missing = rust.readiness(self.toolchain, a, SAMPLE)
        if missing is not None:
            pytest.skip(str(missing))
        self[name] = rust.build_tests(self.toolchain, SAMPLE / "Cargo.toml", a, target_dir=self.target_dir)
        return self[name]


@pytest.fixture(scope="module")
def built(toolchain: rust.RustToolchain, tmp_path_factory: pytest.TempPathFactory) -> _Builds:
    # Target dir in a temporary directory: the repo stays clean (Cargo.lock is committed).
    return _Builds(toolchain, tmp_path_factory.mktemp("cargo-target"))


def _executor(a: Arch) -> executors.Executor:
    try:
        return executors.select(a)
    except executors.ExecutorUnavailable as exc:
        pytest.skip(str(exc))


def _run_all(
    binary: rust.TestBinary, a: Arch, extra_env: dict[str, str] | None = None
) -> dict[str, TestOutcome]:
    """List then run every test of ``binary`` in one emulated process, as the plugin does."""
    executor = _executor(a)
    env = proc.base_env(
        {**rust.RUN_ENV, **rust.cargo_env(binary), "RUST_BACKTRACE": "0", **(extra_env or {})}
    )
    names = [t.name for t in rust.list_tests_detailed(binary.executable, a, executor, env=env)]
    b = batch.Batch(
        executors.RunRequest(binary.executable, (), a, executor, env, binary.package_dir),
        lambda selected, serial: rust.test_args(selected, names, serial),
        rust.LibtestStream, Limits(batch=60),
    )  # fmt: skip
    return batch.run_tests(b, names)


def _by_kind(binaries: list[rust.TestBinary]) -> dict[str, rust.TestBinary]:
    return {b.binary_id: b for b in binaries}


@pytest.mark.parametrize("name", ["s390x", "arm64"])
def test_sample_crate_end_to_end(built: _Builds, name: str) -> None:
    a = archmod.get(name)
    binaries = _by_kind(built[name])
    assert set(binaries) == {
        "sample_crate",
        "sample_crate::bin/sample_tool",
        "sample_crate::integration",
        "sample_crate::custom_harness",
    }
    lib = binaries["sample_crate"]
    assert lib.kind == "lib" and lib.triple == a.rust_triple and lib.doctest
    assert rust.has_doctests(built[name]) and "doc tests" in rust.DOCTEST_NOTE.lower()
    assert not binaries["sample_crate::custom_harness"].harness

    out = _run_all(lib, a)
    status = {n: o.status for n, o in out.items()}
    big_endian = a.endian == "big"
    assert status == {
        "tests::adds": "passed",
        "tests::crashes_if_asked": "passed",
        "tests::divides_by_zero": "passed",
        "tests::endianness_is_little": "failed" if big_endian else "passed",
        "tests::ignored_without_reason": "skipped",
        "tests::panics_in_spawned_thread": "failed",
        "tests::slow_one": "skipped",
        "tests::spawned_threads_pass": "passed",
        "tests::writes_past_the_capture": "passed",
    }
    assert out["tests::adds"].output == f"adding on {'s390x' if big_endian else 'aarch64'}\n"
    assert {n: out[n].message for n in IGNORED} == IGNORED
    assert out["tests::panics_in_spawned_thread"].message.endswith(": boom in worker thread")
    if big_endian:
        assert "read as big-endian" in out["tests::endianness_is_little"].message

    for binary_id, test in [
        ("sample_crate::integration", "runs_where_cargo_test_would"),
        ("sample_crate::bin/sample_tool", "tool_adds"),
    ]:
        outcomes = _run_all(binaries[binary_id], a)
        assert all(o.status == "passed" for o in outcomes.values()), outcomes
        assert test in outcomes

    # harness = false: a plain program; run it as one test, without libtest's flags.
    custom = binaries["sample_crate::custom_harness"]
    plain = executors.run(
        executors.RunRequest(custom.executable, (), a, _executor(a), proc.base_env(), custom.package_dir, 60)
    )
    assert plain.returncode == 0 and "custom harness passed" in plain.stdout


def test_crash_mid_batch_keeps_the_other_results(built: _Builds) -> None:
    a = archmod.get("arm64")
    lib = _by_kind(built["arm64"])["sample_crate"]
    out = _run_all(lib, a, {"SAMPLE_CRATE_CRASH": "1"})
    crashed = out["tests::crashes_if_asked"]
    assert crashed.status == "failed"
    assert "killed by SIGABRT while this test was running" in crashed.message
    assert out["tests::adds"].status == "passed"  # finished before the crash: kept
    assert out["tests::spawned_threads_pass"].status == "passed"  # after it: run again
    assert out["tests::slow_one"].status == "skipped"


# ---------------------------------------------------------------------------------------------
# The mixed-sysroot trap (ENVIRONMENT.md): cross sysroot's loader + multiarch libc6:arm64 hang
# a threaded program at its first thread. libtest runs every test on a spawned thread.

MULTIARCH_LIBC = Path("/usr/lib/aarch64-linux-gnu/libc.so.6")
CROSS_LOADER = Path("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1")


@pytest.fixture
def mixed_sysroot() -> None:
    if not MULTIARCH_LIBC.exists():
        pytest.skip(
            "libc6:arm64 is not installed, so the mixed-sysroot case cannot happen here; install it with "
            "`dpkg --add-architecture arm64 && apt-get update && apt-get install libc6:arm64` "
            "(scripts/test.sh does)"
        )
    if not CROSS_LOADER.exists():
        pytest.skip("the aarch64 cross sysroot is missing: apt-get install libc6-dev-arm64-cross")


@pytest.mark.usefixtures("mixed_sysroot")
def test_threaded_rust_test_does_not_hang_with_multiarch_libc(built: _Builds) -> None:
    a = archmod.get("arm64")
    lib = _by_kind(built["arm64"])["sample_crate"]
    env = proc.base_env(rust.RUN_ENV)
    args = rust.test_args(["tests::spawned_threads_pass"], ["all"])
    res = executors.run(executors.RunRequest(lib.executable, tuple(args), a, _executor(a), env, "/", 30))
    assert not res.timed_out, f"hung: {res.invocation.shell_line()}"
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        rust.parse_libtest_json(res.stdout_bytes).outcomes["tests::spawned_threads_pass"].status == "passed"
    )
    if res.executor == "qemu":
        assert res.args[3:5] == ("-E", "LD_LIBRARY_PATH=/lib")


@pytest.mark.usefixtures("mixed_sysroot")
def test_mixed_sysroot_trap_is_real(built: _Builds) -> None:
    """The control for the test above: the same run without the guest LD_LIBRARY_PATH hangs."""
    a = archmod.get("arm64")
    lib = _by_kind(built["arm64"])["sample_crate"]
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None or executors.select(a).name != "qemu":
        pytest.skip("needs qemu-aarch64-static on a non-arm64 host")
    argv = [
        qemu,
        "-L",
        "/usr/aarch64-linux-gnu",
        str(lib.executable),
        "--exact",
        "tests::spawned_threads_pass",
    ]
    res = proc.run(argv, env=proc.base_env(), cwd="/", timeout=3)
    if not res.timed_out:
        pytest.skip(
            f"the trap did not reproduce here (the run {res.describe_exit()}): nothing to guard against"
        )
    # Listing starts no thread, so it works even in the mixed setup: the hang looks random.
    listed = proc.run([*argv[:4], "--list"], env=proc.base_env(), cwd="/", timeout=10)
    assert listed.ok and b"tests::spawned_threads_pass: test" in listed.stdout


def test_a_huge_captured_output_is_clipped_and_the_result_kept() -> None:
    """libtest puts a test's whole captured output in one JSON line: 8 MB of it here."""

    def event(**fields: object) -> str:
        return "{ " + json.dumps(fields)[1:]  # libtest writes `{ "type": ...`

    big = "".join(f'line {i} "q" \\ é\n' for i in range(300_000))
    lines = [
        event(type="test", event="started", name="t::big"),
        '{ "type": "test", "name": "t::big", "event": "failed", "exec_time": 1.5, "stdout": '
        + json.dumps(big) + " }",
        event(type="test", event="started", name="t::small"),
        event(type="test", name="t::small", event="ok"),
    ]  # fmt: skip
    raw = ("\n".join(lines) + "\n").encode()
    stream = rust.LibtestStream(limit=20_000, log="/logs/x.out")
    for i in range(0, len(raw), 65536):
        stream.feed(raw[i : i + 65536])
    run = stream.finish()
    big_outcome = run.outcomes["t::big"]
    assert (big_outcome.status, big_outcome.duration) == ("failed", 1.5)
    assert big_outcome.output.startswith('line 0 "q" \\ é\nline 1 "q"')
    assert big_outcome.output.endswith('line 299999 "q" \\ é\n')
    assert "characters cut; the whole output is in /logs/x.out ...]" in big_outcome.output
    assert len(big_outcome.output) < 20_200
    assert run.outcomes["t::small"].status == "passed" and run.unfinished() == []
