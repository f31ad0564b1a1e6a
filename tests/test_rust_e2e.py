"""Rust crates end to end: inner pytest runs (``pytester``) with the real cargo/rustc (Debian's
Rust with cross std, as `python -m pytest_multiarch setup` unpacks it; see tests/rusthelpers.py), the
cross linkers and real qemu-user. No mocks: every crate here is compiled and run.

Each inner run builds into its own ``.pytest_cache``, so every test compiles its crate cold
(~1-3 s per architecture): the architecture lists are kept short.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, processes_matching, section, write_module
from rusthelpers import REAL_HOME, debian_rust_home, write_crate

from pytest_multiarch import elf
from pytest_multiarch.toolchains.rust import debian as debian_rust

RUSTUP_CARGO = REAL_HOME / ".cargo" / "bin" / "cargo"

# The library of the endianness/word-size crate: each test fails on a known set of arches.
ARCHY_LIB = """
    //! Behaves differently per architecture.

    /// Native-endian read of little-endian bytes: the bug the endianness test catches.
    ///
    /// ```
    /// assert_eq!(archy::read_le([1, 0, 0, 0]), 1);
    /// ```
    pub fn read_le(bytes: [u8; 4]) -> u32 {
        u32::from_ne_bytes(bytes)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn little_endian() {
            assert_eq!(read_le([1, 0, 0, 0]), 1, "bytes read as big-endian");
        }

        #[test]
        fn word_is_64_bits() {
            assert_eq!(usize::BITS, 64, "pointer width");
            assert_eq!(std::mem::size_of::<*const u8>(), 8);
        }

        #[test]
        #[should_panic(expected = "divide by zero")]
        fn divides_by_zero() {
            let zero = std::hint::black_box(0u32);
            let _ = 1 / zero;
        }

        #[test]
        #[ignore = "needs the network"]
        fn needs_network() {}
    }
"""
ARCHY_INTEGRATION = """
    #[test]
    fn roundtrip() {
        let wire = 0x0102_0304u32.to_ne_bytes();
        assert_eq!(archy::read_le(wire), 0x0102_0304);
    }
"""


# ---------------------------------------------------------------------------------------------
# Helpers


def run(pytester: pytest.Pytester, *args: str, timeout: float = 240) -> pytest.RunResult:
    """An inner run in a fresh interpreter (the plugin's state, threads and processes with it)."""
    return pytester.runpytest_subprocess("-v", *args, timeout=timeout)


def table_row(result: pytest.RunResult, arch: str) -> list[str]:
    """The per-architecture totals of ``arch``: [passed, failed, skipped, errors, runs on...]."""
    rows = [line.split() for line in result.outlines if re.match(rf"^{re.escape(arch)}\s+\d+\s+\d+", line)]
    assert len(rows) == 1, f"expected one table row for {arch}:\n{result.stdout.str()}"
    return rows[0][1:5] + rows[0][7:]  # without the time and slowdown columns


def built_executables(pytester: pytest.Pytester, triple: str, crate: str) -> list[Path]:
    """The test executables an inner run built for ``triple`` from crate ``crate``."""
    deps = pytester.path / ".pytest_cache" / "d" / "multiarch" / "cargo-target" / triple / "debug" / "deps"
    return [p for p in deps.glob(f"{crate}-*") if p.suffix == "" and os.access(p, os.X_OK)]


# ---------------------------------------------------------------------------------------------
# One crate, many architectures


def test_crate_results_per_architecture(rpytester: pytest.Pytester) -> None:
    write_crate(
        rpytester.path, {"src/lib.rs": ARCHY_LIB, "tests/roundtrip.rs": ARCHY_INTEGRATION}, name="archy"
    )
    arches = ["amd64", "arm64", "arm", "386", "s390x", "ppc64le"]
    result = run(rpytester, f"--arch={','.join(arches)}", "-rs")

    expected: dict[str, str] = {}
    for a in arches:
        big_endian, bits32 = a == "s390x", a in ("arm", "386")
        expected[f"Cargo.toml::lib::tests::little_endian[{a}]"] = "failed" if big_endian else "passed"
        expected[f"Cargo.toml::lib::tests::word_is_64_bits[{a}]"] = "failed" if bits32 else "passed"
        expected[f"Cargo.toml::lib::tests::divides_by_zero[{a}]"] = "passed"
        expected[f"Cargo.toml::lib::tests::needs_network[{a}]"] = "skipped"
        expected[f"Cargo.toml::tests/roundtrip::roundtrip[{a}]"] = "passed"
    assert outcomes_by_id(result) == expected
    assert result.ret == pytest.ExitCode.TESTS_FAILED

    # Failures say why, with the test's own panic message.
    endian = section(result, "tests::little_endian [s390x]")
    assert "tests::little_endian on s390x: thread 'tests::little_endian' panicked at src/lib.rs:" in endian
    assert "bytes read as big-endian" in endian and "left: 16777216" in endian
    for a in ("arm", "386"):
        word = section(result, f"tests::word_is_64_bits [{a}]")
        assert "pointer width" in word and "left: 32" in word
    # The ignore reason, at the test's source line.
    result.stdout.fnmatch_lines(["SKIPPED [[]6[]] src/lib.rs:*: needs the network"])

    # The per-architecture table (passed failed skipped errors, runs on) and what failures share.
    assert table_row(result, "amd64") == ["4", "0", "1", "0", "native"]
    assert table_row(result, "arm64")[:5] == ["4", "0", "1", "0", "qemu"]
    assert table_row(result, "arm")[:5] == ["3", "1", "1", "0", "qemu"]
    assert table_row(result, "386") == ["3", "1", "1", "0", "native"]
    assert table_row(result, "s390x")[:5] == ["3", "1", "1", "0", "qemu"]
    assert table_row(result, "ppc64le")[:5] == ["4", "0", "1", "0", "qemu"]
    result.stdout.fnmatch_lines(
        [
            "*= multiarch: results per architecture =*",
            "Cargo.toml::lib::tests::little_endian: fails on s390x "
            "(passes on amd64, arm64, arm, 386, ppc64le) — exactly the big-endian ones",
            "Cargo.toml::lib::tests::word_is_64_bits: fails on arm, 386 "
            "(passes on amd64, arm64, s390x, ppc64le) — exactly the 32-bit ones",
            "note: Rust doc tests are not run cross-architecture*cargo test --doc*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_dash_k_runs_only_the_selected_item(rpytester: pytest.Pytester) -> None:
    # Every test leaves a marker file when it runs: deselected ones must not run at all.
    write_crate(
        rpytester.path,
        {
            "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            fn mark(name: &str) {
                std::fs::write(format!("ran-{}-{}", name, std::env::consts::ARCH), "").unwrap();
            }

            #[test]
            fn alpha() { mark("alpha") }

            #[test]
            fn beta() { mark("beta") }
        }
    """
        },
        name="picky",
    )
    result = run(rpytester, "--arch=arm64,s390x", "-k", "alpha and s390x")
    assert outcomes_by_id(result) == {"Cargo.toml::lib::tests::alpha[s390x]": "passed"}
    result.stdout.fnmatch_lines(["*1 passed, 3 deselected*"])
    assert sorted(p.name for p in rpytester.path.glob("ran-*")) == ["ran-alpha-s390x"]


# ---------------------------------------------------------------------------------------------
# Go and Rust in one run


def test_go_module_and_rust_crate_in_one_run(rpytester: pytest.Pytester, gopytester: pytest.Pytester) -> None:
    write_module(
        rpytester.path,
        "gomod",
        {
            "add_test.go": """
        package gomod

        import "testing"

        func TestAdd(t *testing.T) {
            if 2+2 != 4 {
                t.Fatal("math")
            }
        }

        func TestWordSize(t *testing.T) {
            if ^uint(0)>>32 == 0 {
                t.Fatal("32-bit uint")
            }
        }
    """
        },
    )
    write_crate(
        rpytester.path / "rscrate",
        {
            "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            #[test]
            fn adds() { assert_eq!(2 + 2, 4) }
        }
    """
        },
        name="rscrate",
    )
    result = run(rpytester, "--arch=amd64,arm")
    outcomes = outcomes_by_id(result)
    rust = {k: v for k, v in outcomes.items() if k.startswith("rscrate/")}
    go = {k: v for k, v in outcomes.items() if k.startswith("gomod/")}
    assert rust == {
        "rscrate/Cargo.toml::lib::tests::adds[amd64]": "passed",
        "rscrate/Cargo.toml::lib::tests::adds[arm]": "passed",
    }
    assert sorted(go.values()) == ["failed", "passed", "passed", "passed"], go
    assert [k for k, v in go.items() if v == "failed"] == [
        next(k for k in go if "TestWordSize" in k and k.endswith("[arm]"))
    ]
    assert len(outcomes) == 6
    # One table, both languages counted in it.
    assert result.stdout.str().count("multiarch: results per architecture") == 1
    assert table_row(result, "amd64")[:4] == ["3", "0", "0", "0"]
    assert table_row(result, "arm")[:4] == ["2", "1", "0", "0"]


# ---------------------------------------------------------------------------------------------
# Builds that fail, targets that cannot be built


def test_compile_error_fails_that_arch_only(rpytester: pytest.Pytester) -> None:
    # A type error that only 32-bit targets compile: arm fails to build, arm64 runs.
    write_crate(
        rpytester.path / "broken",
        {
            "src/lib.rs": """
        #[cfg(target_pointer_width = "32")]
        pub fn width() -> u32 {
            "thirty-two"
        }

        #[cfg(target_pointer_width = "64")]
        pub fn width() -> u32 {
            64
        }

        #[cfg(test)]
        mod tests {
            #[test]
            fn width_is_known() { assert!(super::width() > 0) }
        }
    """
        },
        name="broken",
    )
    rpytester.makepyfile(test_plain="def test_python_still_runs():\n    assert True\n")
    result = run(rpytester, "--arch=arm64,arm")
    assert outcomes_by_id(result) == {
        "broken/Cargo.toml::[arm]": "failed",
        "broken/Cargo.toml::lib::tests::width_is_known[arm64]": "passed",
        "test_plain.py::test_python_still_runs": "passed",
    }
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # a failed test, not an internal error
    text = section(result, "[arm]")
    assert "cargo test --no-run for arm failed" in text
    assert "error[E0308]: mismatched types" in text
    assert "src/lib.rs:3" in text and '"thirty-two"' in text
    assert "armv7-unknown-linux-gnueabihf" in text
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_missing_target_std_skips_with_fix(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, bare_rust_env: dict[str, str]
) -> None:
    for key, value in bare_rust_env.items():  # Debian's Rust without the source std is built from
        monkeypatch.setenv(key, value)
    write_crate(rpytester.path, {"src/lib.rs": ARCHY_LIB}, name="archy")
    result = run(rpytester, "--arch=riscv64", "-rs")
    assert outcomes_by_id(result) == {"Cargo.toml::[riscv64]": "skipped"}
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] Cargo.toml:1: Rust tests of */Cargo.toml cannot be built for riscv64: "
            "no prebuilt Rust std exists for riscv64gc-unknown-linux-gnu here, so it is built from source, "
            "and * holds none. Fix: *rustup component add rust-src*",
        ]
    )

    strict = run(rpytester, "--arch=riscv64", "--arch-strict")
    assert outcomes_by_id(strict) == {"Cargo.toml::[riscv64]": "failed"}
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    text = section(strict, "[riscv64]")
    assert "no prebuilt Rust std exists for riscv64gc-unknown-linux-gnu here" in text
    assert "(an error because of --arch-strict)" in text


def test_rustup_toolchain_without_target_says_rustup_target_add(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.access(RUSTUP_CARGO, os.X_OK):
        pytest.skip(f"no rustup cargo at {RUSTUP_CARGO}")
    sysroot = subprocess.run(
        [str(RUSTUP_CARGO.parent / "rustc"), "--print", "sysroot"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    if (Path(sysroot) / "lib/rustlib/aarch64-unknown-linux-gnu").is_dir():
        pytest.skip(f"the rustup toolchain at {sysroot} has the aarch64 std: nothing is missing")
    monkeypatch.delenv("CARGO")
    monkeypatch.delenv("RUSTC")
    write_crate(rpytester.path, {"src/lib.rs": ARCHY_LIB}, name="archy")
    rpytester.makeini(f"[pytest]\nmultiarch_cargo = {RUSTUP_CARGO}\n")
    result = run(rpytester, "--arch=arm64", "-rs")
    assert outcomes_by_id(result) == {"Cargo.toml::[arm64]": "skipped"}
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *cannot be built for arm64: the Rust * standard library for aarch64-unknown-linux-gnu "
            f"is not installed in {sysroot}. Fix: rustup target add --toolchain * aarch64-unknown-linux-gnu",
        ]
    )


# ---------------------------------------------------------------------------------------------
# Test binaries that misbehave


def test_dynamic_binary_with_threads_on_arm64(rpytester: pytest.Pytester) -> None:
    """glibc-dynamic aarch64 binaries under qemu, with libc6:arm64 also installed on the host:
    loading the libc of one sysroot and the loader of another hangs thread creation."""
    if subprocess.run(["dpkg", "-s", "libc6:arm64"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("libc6:arm64 is not installed: no second arm64 sysroot to mix up")
    write_crate(
        rpytester.path,
        {
            "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            use std::sync::{mpsc, Arc, Barrier};

            #[test]
            fn threads_meet_and_report() {
                let barrier = Arc::new(Barrier::new(8));
                let (tx, rx) = mpsc::channel();
                let handles: Vec<_> = (0..8u64).map(|i| {
                    let (barrier, tx) = (barrier.clone(), tx.clone());
                    std::thread::spawn(move || { barrier.wait(); tx.send(i * i).unwrap(); })
                }).collect();
                for h in handles { h.join().unwrap(); }
                drop(tx);
                assert_eq!(rx.iter().sum::<u64>(), 140);
            }
        }
    """
        },
        name="thready",
    )
    start = time.monotonic()
    result = run(rpytester, "--arch=arm64", "--arch-timeout=30", timeout=180)
    assert outcomes_by_id(result) == {"Cargo.toml::lib::tests::threads_meet_and_report[arm64]": "passed"}
    assert time.monotonic() - start < 60
    # It was the dynamically linked case (gnu targets' default), not a static binary.
    (binary,) = built_executables(rpytester, "aarch64-unknown-linux-gnu", "thready")
    info = elf.read(binary)
    assert info.machine == "EM_AARCH64"
    assert info.interpreter == "/lib/ld-linux-aarch64.so.1"


def test_panic_in_spawned_thread_fails_that_test(rpytester: pytest.Pytester) -> None:
    write_crate(
        rpytester.path,
        {
            "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            #[test]
            fn a_before() {}

            #[test]
            fn b_worker_panics() {
                std::thread::spawn(|| panic!("boom in worker thread")).join().unwrap();
            }

            #[test]
            fn c_after() {}
        }
    """
        },
        name="spawny",
    )
    result = run(rpytester, "--arch=arm64")
    assert outcomes_by_id(result) == {
        "Cargo.toml::lib::tests::a_before[arm64]": "passed",
        "Cargo.toml::lib::tests::b_worker_panics[arm64]": "failed",
        "Cargo.toml::lib::tests::c_after[arm64]": "passed",
    }
    text = section(result, "tests::b_worker_panics [arm64]")
    # The headline is the worker's panic (the root cause), not the join().unwrap() that followed.
    headline = text.splitlines()[0]
    assert headline.startswith("tests::b_worker_panics on arm64: thread '<unnamed>' panicked at src/lib.rs:")
    assert headline.endswith("boom in worker thread")
    assert "called `Result::unwrap()` on an `Err` value" in text
    assert "killed by" not in text  # a panic is not a crash: the process went on


def test_abort_fails_the_culprit_and_the_rest_run_again(rpytester: pytest.Pytester) -> None:
    write_crate(
        rpytester.path,
        {
            "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            #[test]
            fn a_before() {}

            #[test]
            fn b_aborts() {
                println!("about to abort");
                if cfg!(target_arch = "s390x") {
                    std::process::abort();
                }
            }

            #[test]
            fn c_after() {}
        }
    """
        },
        name="aborty",
    )
    result = run(rpytester, "--arch=amd64,s390x")
    assert outcomes_by_id(result) == {
        "Cargo.toml::lib::tests::a_before[amd64]": "passed",
        "Cargo.toml::lib::tests::a_before[s390x]": "passed",
        "Cargo.toml::lib::tests::b_aborts[amd64]": "passed",
        "Cargo.toml::lib::tests::b_aborts[s390x]": "failed",
        "Cargo.toml::lib::tests::c_after[amd64]": "passed",
        "Cargo.toml::lib::tests::c_after[s390x]": "passed",  # ran again in a fresh process
    }
    text = section(result, "tests::b_aborts [s390x]")
    headline = text.splitlines()[0]
    assert headline.startswith(
        "tests::b_aborts on s390x: the test process killed by SIGABRT while this test was running"
        " (reproduce: "
    ), headline
    # The reproduce line really reproduces the crash, from the package directory.
    m = re.search(r"\(reproduce: (.*)\)$", headline)
    assert m is not None
    words = shlex.split(m.group(1))
    assert "RUSTC_BOOTSTRAP=1" in words  # libtest takes `-Z unstable-options` only with it
    assert not [w for w in words if w.startswith("PYTEST_CURRENT_TEST=")]  # noise, not the test's env
    assert any("qemu-s390x" in word for word in words)
    assert any(Path(word).name.startswith("aborty-") for word in words)
    again = subprocess.run(m.group(1), shell=True, cwd=rpytester.path, capture_output=True, timeout=60)
    assert again.returncode in (-6, 128 + 6), again
    assert b'"name": "tests::b_aborts"' in again.stdout


def test_hanging_test_times_out_and_nothing_is_left_running(rpytester: pytest.Pytester) -> None:
    write_crate(
        rpytester.path,
        {
            "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            #[test]
            fn a_quick() {}

            #[test]
            fn b_hangs() {
                loop { std::thread::sleep(std::time::Duration::from_millis(100)); }
            }

            #[test]
            fn c_after() {}
        }
    """
        },
        name="sleepyzq",
    )
    start = time.monotonic()
    result = run(rpytester, "--arch=arm64", "--arch-timeout=5", "--arch-timeout-scale=arm64=1", timeout=120)
    elapsed = time.monotonic() - start
    assert outcomes_by_id(result) == {
        "Cargo.toml::lib::tests::a_quick[arm64]": "passed",
        "Cargo.toml::lib::tests::b_hangs[arm64]": "failed",
        "Cargo.toml::lib::tests::c_after[arm64]": "passed",
    }
    text = section(result, "tests::b_hangs [arm64]")
    assert re.match(
        r"tests::b_hangs on arm64: the test process was stopped: timed out after 5 s while this test "
        r"was running \(reproduce: ",
        text,
    ), text
    assert elapsed < 60
    left = processes_matching("sleepyzq-")
    assert left == [], "still running:\n" + "\n".join(left)


def test_harness_false_target_is_one_item(rpytester: pytest.Pytester) -> None:
    write_crate(
        rpytester.path,
        {
            "src/lib.rs": "pub fn answer() -> u32 { 42 }\n",
            "tests/plain_ok.rs": """
            fn main() {
                assert_eq!(plainy::answer(), 42);
                println!("fine on {}", std::env::consts::ARCH);
            }
        """,
            "tests/plain_fail.rs": """
            fn main() {
                eprintln!("wrong answer on {}", std::env::consts::ARCH);
                std::process::exit(3);
            }
        """,
        },
        name="plainy",
        manifest_extra="""
        [[test]]
        name = "plain_ok"
        harness = false

        [[test]]
        name = "plain_fail"
        harness = false
    """,
    )
    result = run(rpytester, "--arch=s390x", "-rP")
    assert outcomes_by_id(result) == {
        "Cargo.toml::tests/plain_fail[s390x]": "failed",
        "Cargo.toml::tests/plain_ok[s390x]": "passed",
    }
    text = section(result, "tests/plain_fail [s390x]")
    assert "tests/plain_fail on s390x: tests/plain_fail exited with status 3 (reproduce: " in text
    assert "wrong answer on s390x" in text
    result.stdout.fnmatch_lines(["*fine on s390x*"])  # the passing program's output, under -rP


# ---------------------------------------------------------------------------------------------
# cargo_build and run_on_arch from Python tests


def test_cargo_build_and_run_on_arch_fixtures(rpytester: pytest.Pytester) -> None:
    write_crate(
        rpytester.path / "toolcrate",
        {
            "src/bin/tool.rs": """
        fn main() {
            let who = std::env::args().nth(1).unwrap_or_default();
            let endian = if cfg!(target_endian = "big") { "big" } else { "little" };
            println!("{} {} {} {}", who, std::env::consts::ARCH, usize::BITS, endian);
        }
    """
        },
        name="toolcrate",
    )
    rpytester.makepyfile(
        test_tool="""
        from pathlib import Path

        CRATE = Path(__file__).parent / "toolcrate"

        def test_tool_reports_its_arch(arch, cargo_build, run_on_arch):
            exe = cargo_build(CRATE, bin="tool")
            res = run_on_arch(exe, "hello")
            assert res.returncode == 0, res.stderr
            who, rust_arch, bits, endian = res.stdout.split()
            assert (who, int(bits), endian) == ("hello", arch.bits, arch.endian)
            print("tool said:", res.stdout.strip())

        def test_tool_is_64_bit(arch, cargo_build, run_on_arch):
            res = run_on_arch(cargo_build(CRATE, bin="tool"))
            assert res.stdout.split()[-2] == "64"
    """
    )
    # riscv64: no std package for Debian's Rust, so cargo_build builds std from its source too.
    result = run(rpytester, "test_tool.py", "--arch=arm64,arm,s390x,riscv64", "-rsP", timeout=600)
    assert outcomes_by_id(result) == {
        "test_tool.py::test_tool_reports_its_arch[arm64]": "passed",
        "test_tool.py::test_tool_reports_its_arch[arm]": "passed",
        "test_tool.py::test_tool_reports_its_arch[s390x]": "passed",
        "test_tool.py::test_tool_reports_its_arch[riscv64]": "passed",
        "test_tool.py::test_tool_is_64_bit[arm64]": "passed",
        "test_tool.py::test_tool_is_64_bit[arm]": "failed",
        "test_tool.py::test_tool_is_64_bit[s390x]": "passed",
        "test_tool.py::test_tool_is_64_bit[riscv64]": "passed",
    }
    result.stdout.fnmatch_lines_random(
        [
            "tool said: hello aarch64 64 little",
            "tool said: hello arm 32 little",
            "tool said: hello s390x 64 big",
            "tool said: hello riscv64 64 little",
        ]
    )
    assert table_row(result, "arm")[:4] == ["1", "1", "0", "0"]
    assert table_row(result, "riscv64")[:4] == ["2", "0", "0", "0"]


def test_setups_toolchain_is_found_without_any_variable(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `setup`, plain `pytest --arch=...` builds with the prefix it unpacked: no CARGO, no
    ini option, and a cargo on PATH that lacks the target std does not stand in the way."""
    monkeypatch.delenv("CARGO")
    monkeypatch.delenv("RUSTC")
    monkeypatch.delenv("MULTIARCH_HOME", raising=False)
    if debian_rust_home().parent != debian_rust.root():
        pytest.skip(f"{debian_rust_home()} is not a prefix setup made under {debian_rust.root()}")
    write_crate(rpytester.path, {"src/lib.rs": ARCHY_LIB}, name="archy")
    result = run(rpytester, "--arch=arm64,s390x")
    outcomes = outcomes_by_id(result)
    assert outcomes, result.stdout.str()
    assert {o for i, o in outcomes.items() if "little_endian" in i} == {"passed", "failed"}
    # Built for both (an arch it could not build for would be one skipped `Cargo.toml::[arch]`).
    assert {i for i, o in outcomes.items() if o == "skipped"} == {
        f"Cargo.toml::lib::tests::needs_network[{a}]" for a in ("arm64", "s390x")
    }, result.stdout.str()
