"""WebAssembly end to end, through inner pytest runs with the real Go, the real Rust toolchains and
the real wasmtime-py: the demo's examples beside amd64, arm64, 386 and arm; Go's verdicts on wasm
as `go test` gives them; and what a machine without wasmtime-py or without the Rust target says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, write_module
from rusthelpers import REAL_HOME, write_crate
from wasmhelpers import need_rustup, nightly_with_wasm, rustup_rustc, toolchain_without_wasm

from pytest_multiarch import arch as archmod
from pytest_multiarch.run import aborted

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "polyglot"
TIMEOUT = 600
# arm64 under qemu, whatever binfmt_misc handlers other tests register and remove meanwhile.
QEMU_FOR_ARM64 = """
from pytest_multiarch.executors.qemu import QemuExecutor

def pytest_multiarch_executor(config, arch, preference):
    return QemuExecutor() if arch.name == "arm64" else None
"""
# Makes `import wasmtime` fail in the inner run, as on a machine without the package.
NO_WASMTIME = "import sys\n\nsys.modules['wasmtime'] = None\n"

pytestmark = pytest.mark.skipif(
    archmod.host().name != "amd64", reason="pairs native amd64 with emulated arm64"
)


@pytest.fixture
def wpytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, go_env: Mapping[str, str]
) -> pytest.Pytester:
    """``pytester`` whose inner runs share the outer Go cache and use rustup's and setup's Rust as
    the plugin chooses them (no $CARGO): rustup's for wasm, Debian's for 386 and arm."""
    for key, value in go_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CARGO_HOME", os.environ.get("CARGO_HOME") or str(REAL_HOME / ".cargo"))
    monkeypatch.setenv("RUSTUP_HOME", os.environ.get("RUSTUP_HOME") or str(REAL_HOME / ".rustup"))
    monkeypatch.setenv("CARGO_NET_OFFLINE", "true")
    monkeypatch.setenv("RUST_BACKTRACE", "0")
    for var in ("CARGO", "RUSTC"):
        monkeypatch.delenv(var, raising=False)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest_subprocess("-v", "-rs", "-p", "no:randomly", *args, timeout=TIMEOUT)
    everything = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in everything and "Traceback (most recent call last)" not in everything, (
        everything
    )
    return result


def test_the_demo_with_wasm_beside_the_cpus(wpytester: pytest.Pytester) -> None:
    need_rustup()  # Rust on wasm: without rustup the Rust half is skipped (its reason: test_wasm.py)
    shutil.copytree(EXAMPLES, wpytester.path / "polyglot", ignore=shutil.ignore_patterns("target"))
    wpytester.makeconftest(QEMU_FOR_ARM64)
    arches = ["amd64", "386", "arm", "arm64", "wasm"]
    result = run(wpytester, f"--arch={','.join(arches)}", "polyglot", "--arch-test-cache=off",
                 "--multiarch-report=r.json")  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the examples' portability bugs
    report = json.loads((wpytester.path / "r.json").read_text())
    cells = {(r["base"], r["arch"]): r["outcome"] for r in report["results"]}
    rust = "polyglot/rustcodec/Cargo.toml::lib::tests::large_header"
    go = "polyglot/gocodec/go.mod::example.com/gocodec::TestLargeHeader"
    assert {a: cells[(rust, a)] for a in arches} == {
        "amd64": "passed", "386": "failed", "arm": "failed", "arm64": "passed", "wasm": "failed",
    }  # fmt: skip
    # Go's wasm port has a 64-bit int: its word-size test passes there, as under `go test`.
    assert {a: cells[(go, a)] for a in arches} == {
        "amd64": "passed", "386": "failed", "arm": "failed", "arm64": "passed", "wasm": "passed",
    }  # fmt: skip
    result.stdout.fnmatch_lines([
        f"{go}: fails on 386, arm (passes on amd64, arm64, wasm) — exactly the 32-bit ones",
        f"{rust}: fails on 386, arm, wasm (passes on amd64, arm64) — exactly the 32-bit ones",
    ], consecutive=False)  # fmt: skip
    # Every Go and Rust test of the examples ran on wasm, as on amd64 (none skipped for want of a tool).
    for kind in ("go.mod::", "Cargo.toml::"):
        ran = {a: {b for (b, x), o in cells.items() if x == a and kind in b and o in ("passed", "failed")}
               for a in ("amd64", "wasm")}  # fmt: skip
        # Where a panic aborts, libtest ignores #[should_panic] tests, as `cargo test` does.
        ran["amd64"].discard("polyglot/rustcodec/Cargo.toml::lib::tests::empty_header_panics")
        assert ran["wasm"] and ran["wasm"] == ran["amd64"], kind
    should_panic = next(
        r for r in report["results"] if r["base"].endswith("::empty_header_panics") and r["arch"] == "wasm"
    )
    assert (should_panic["outcome"], should_panic["message"]) == ("skipped", aborted.SHOULD_PANIC)
    # On stable Rust a failing test aborts the process (panic=abort): its panic still reaches the report.
    large = next(r for r in report["results"] if r["base"] == rust and r["arch"] == "wasm")
    assert large["message"].startswith(
        "tests::large_header on wasm: thread 'main' panicked at src/lib.rs:"
    ), large["message"]
    assert "usize::MAX = 4294967295 < 5000000000" in large["message"] + large["output"]
    assert report["runs_on"]["wasm"].startswith("wasmtime-py ")
    # The fixtures: go_build and cargo_build make wasm modules, run_on_arch runs them (rdecode
    # prints usize's bits: 32 there).
    for test in ("test_decode_cli", "test_decode_cli_rejects_bad_input", "test_rust_decode_cli"):
        assert cells[(f"polyglot/test_decode_cli.py::{test}", "wasm")] == "passed", test


GO_TESTS = {
    "v_test.go": """
        package v

        import (
            "os"
            "strconv"
            "testing"
        )

        func TestPasses(t *testing.T) {}
        func TestFails(t *testing.T) { t.Fatal("on purpose") }
        func TestSkips(t *testing.T) { t.Skip("not here") }
        func TestIntIs64(t *testing.T) {
            if strconv.IntSize != 64 { t.Fatalf("IntSize %d", strconv.IntSize) }
        }
        func TestReadsTestdata(t *testing.T) {
            b, err := os.ReadFile("testdata/in.txt")
            if err != nil || string(b) != "hello\\n" { t.Fatalf("%q %v", b, err) }
        }
        func TestCwdIsThePackage(t *testing.T) {
            wd, err := os.Getwd()
            if err != nil || wd != os.Getenv("PWD") { t.Fatalf("%q %v", wd, err) }
            if _, err := os.Stat(wd + "/v_test.go"); err != nil { t.Fatal(err) }
        }
        func TestSubtests(t *testing.T) {
            t.Run("ok", func(t *testing.T) {})
            t.Run("bad", func(t *testing.T) { t.Error("sub fails") })
        }
    """,
    "testdata/in.txt": "hello\n",
}


def go_test_verdicts(go: str, module: Path, shims: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``GOOS=wasip1 GOARCH=wasm go test -json``'s verdict per top-level test, with the shim
    ``go_wasip1_wasm_exec`` on PATH (Go looks it up there)."""
    run_env = {
        **os.environ,
        **env,
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "PATH": f"{shims}:{os.environ['PATH']}",
    }
    res = subprocess.run([go, "test", "-json", "-count=1", "./..."], cwd=module, env=run_env,
                         capture_output=True, text=True, timeout=TIMEOUT, check=False)  # fmt: skip
    verdicts = {}
    for line in res.stdout.splitlines():
        ev = json.loads(line)
        if ev.get("Test") and "/" not in ev["Test"] and ev.get("Action") in ("pass", "fail", "skip"):
            verdicts[ev["Test"]] = {"pass": "passed", "fail": "failed", "skip": "skipped"}[ev["Action"]]
    return verdicts


def test_go_verdicts_on_wasm_are_go_tests(
    wpytester: pytest.Pytester, go: str, go_env: Mapping[str, str]
) -> None:
    module = write_module(wpytester.path, "v", GO_TESTS)
    shims = wpytester.path / "shims"
    subprocess.run([sys.executable, "-m", "pytest_multiarch", "shims", str(shims), "--arch=wasm"],
                   capture_output=True, timeout=60, check=True)  # fmt: skip
    expected = go_test_verdicts(go, module, shims, go_env)
    assert expected == {
        "TestPasses": "passed", "TestFails": "failed", "TestSkips": "skipped", "TestIntIs64": "passed",
        "TestReadsTestdata": "passed", "TestCwdIsThePackage": "passed", "TestSubtests": "failed",
    }  # fmt: skip
    result = run(wpytester, "--arch=wasm", "v", "--arch-test-cache=off")
    ours = {nodeid.split("::")[-1].removesuffix("[wasm]"): o for nodeid, o in outcomes_by_id(result).items()}
    assert ours == expected


def test_without_wasmtime_py_wasm_is_skipped_saying_the_fix(wpytester: pytest.Pytester) -> None:
    wpytester.makeconftest(NO_WASMTIME)
    write_module(
        wpytester.path, "v", {"v_test.go": 'package v\n\nimport "testing"\n\nfunc TestA(t *testing.T) {}\n'}
    )
    result = run(wpytester, "--arch=amd64,wasm", "v")
    assert result.ret == pytest.ExitCode.OK
    assert outcomes_by_id(result) == {"v/go.mod::example.com/v::TestA[amd64]": "passed",
                                      "v/go.mod::example.com/v::TestA[wasm]": "skipped"}  # fmt: skip
    said = re.search(r"SKIPPED \[1\] .*cannot run wasm binaries: (.*)", result.stdout.str())
    assert said is not None, result.stdout.str()
    assert "the Python package wasmtime (wasmtime-py) is not installed in" in said.group(1)
    assert (
        f"Fix: {sys.executable} -m pip install 'wasmtime>=50' (or: python -m pytest_multiarch setup"
        in said.group(1)
    )
    strict = run(wpytester, "--arch=amd64,wasm", "v", "--arch-strict")
    assert strict.ret != pytest.ExitCode.OK
    assert "the Python package wasmtime (wasmtime-py) is not installed" in strict.stdout.str()


def test_without_the_rust_target_wasm_is_skipped_saying_the_command(
    wpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bare = toolchain_without_wasm(rustup_rustc(), tmp_path_factory.mktemp("bare"))
    shutil.copytree(EXAMPLES / "rustcodec", wpytester.path / "rc", ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("CARGO", str(bare / "bin" / "cargo"))
    monkeypatch.setenv("RUSTC", str(bare / "bin" / "rustc"))
    result = run(wpytester, "--arch=wasm", "rc")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "SKIPPED [[]1[]] rc/Cargo.toml:1: Rust tests of * cannot be built for wasm: the Rust * standard "
        f"library for wasm32-wasip1 is not installed in {bare}. Fix: rustup target add --toolchain "
        f"{bare.name} wasm32-wasip1"
    ])  # fmt: skip
    strict = run(wpytester, "--arch=wasm", "rc", "--arch-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED


def test_go_files_for_wasip1_or_linux_only_are_collected_where_go_builds_them(
    wpytester: pytest.Pytester,
) -> None:
    test = 'package m\n\nimport "testing"\n\nfunc {}(t *testing.T) {{}}\n'
    write_module(wpytester.path, "m", {"a_test.go": test.format("TestAll"),
                                       "b_wasip1_test.go": test.format("TestOnlyWasip1"),
                                       "c_linux_test.go": test.format("TestOnlyLinux")})  # fmt: skip
    result = run(wpytester, "--arch=amd64,wasm", "m", "--arch-test-cache=off")
    assert outcomes_by_id(result) == {
        "m/go.mod::example.com/m::TestAll[amd64]": "passed",
        "m/go.mod::example.com/m::TestAll[wasm]": "passed",
        "m/go.mod::example.com/m::TestOnlyLinux[amd64]": "passed",
        "m/go.mod::example.com/m::TestOnlyWasip1[wasm]": "passed",
    }


def test_arch_cache_clear_empties_wasmtimes_compile_cache(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(arch):\n    pass\n")
    compiled = pytester.path / "bin" / "wasmtime" / "compiled" / "modules" / "earlier"
    compiled.parent.mkdir(parents=True)
    compiled.write_text("x")
    result = pytester.runpytest_subprocess("--arch=wasm", "--arch-cache-dir=bin", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK and compiled.exists()  # kept without the option
    result = pytester.runpytest_subprocess("--arch=wasm", "--arch-cache-dir=bin", "--arch-cache-clear", "-q")
    assert result.ret == pytest.ExitCode.OK and not compiled.exists()


UNWIND_CRATE = """\
#[cfg(test)]
mod tests {
    #[test]
    fn before() {}

    #[test]
    fn word_is_64_bits() {
        println!("checking the word size");
        assert_eq!(usize::BITS, 64, "usize is {} bits here", usize::BITS);
    }

    #[test]
    #[should_panic(expected = "expected")]
    fn panics_as_it_should() {
        panic!("expected");
    }

    #[test]
    fn after() {}
}
"""


def test_nightly_builds_wasm_tests_that_unwind_so_one_process_reports_every_test(
    wpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a nightly toolchain and its rust-src (what `setup --arch=wasm` adds for one), std is
    rebuilt with panic_unwind: the failing test fails with its own message, the #[should_panic]
    test runs and passes (on stable's panic=abort libtest ignores it), and the process survives
    them, so nothing is run again in a fresh process."""
    nightly = nightly_with_wasm(source=True)
    # build-std resolves std's own dependencies (the `wasip1` crate, say) from crates.io: online,
    # the first time on a machine, as for any user (cargo caches them in CARGO_HOME).
    monkeypatch.delenv("CARGO_NET_OFFLINE")
    crate = wpytester.path / "unwinding"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "unwinding"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "lib.rs").write_text(UNWIND_CRATE)
    monkeypatch.setenv("CARGO", str(nightly / "bin" / "cargo"))
    monkeypatch.setenv("RUSTC", str(nightly / "bin" / "rustc"))
    result = run(wpytester, "--arch=wasm", "unwinding")
    assert outcomes_by_id(result) == {
        "unwinding/Cargo.toml::lib::tests::before[wasm]": "passed",
        "unwinding/Cargo.toml::lib::tests::word_is_64_bits[wasm]": "failed",
        "unwinding/Cargo.toml::lib::tests::panics_as_it_should[wasm]": "passed",
        "unwinding/Cargo.toml::lib::tests::after[wasm]": "passed",
    }
    out = result.stdout.str()
    assert "usize is 32 bits here" in out and "checking the word size" in out
    # One process ran them all: no crash to recover from, no test run alone again.
    assert "while this test was running" not in out and "the test alone, uncaptured" not in out


def test_debians_rust_has_no_wasm_std_so_rust_on_wasm_is_skipped_saying_what_to_do(
    rpytester: pytest.Pytester,
) -> None:
    """Stock Debian 12 without rustup: Rust on wasm is skipped, naming the missing std and the
    fix, never a silent zero-test collection; the crate's tests still run on the other arches."""
    write_crate(rpytester.path / "c", {"src/lib.rs": "#[test]\nfn t() {}\n"}, name="debianwasm")
    result = rpytester.runpytest_subprocess("--arch=amd64,wasm", "-v", "-rs", "c", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.OK
    want = {"c/Cargo.toml::lib::t[amd64]": "passed", "c/Cargo.toml::[wasm]": "skipped"}
    assert outcomes_by_id(result) == want
    result.stdout.fnmatch_lines([
        "SKIPPED * cannot be built for wasm: the Rust 1.85.0 standard library for wasm32-wasip1 is not "
        "installed in *, and Debian has none to add (Debian packages no Rust std for wasm32-wasip1). "
        "Fix: use a rustup toolchain (multiarch_cargo / $CARGO) and run: rustup target add wasm32-wasip1",
    ])  # fmt: skip
