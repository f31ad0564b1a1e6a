"""Rust collection from the cache: a re-run with nothing changed starts no cargo, rustc or
emulator to build and list; an edit, or a binary that is gone, builds again. Real cargo/qemu."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id
from rusthelpers import calls, write_crate

LIB = """
    pub fn add(a: u32, b: u32) -> u32 { a + b }

    #[cfg(test)]
    mod tests {
        #[test]
        fn adds() { assert_eq!(super::add(2, 2), 4); }
    }
"""


def test_rerun_starts_no_cargo_or_rustc_and_edits_rebuild(
    rpytester: pytest.Pytester, logged_tools: Path
) -> None:
    crate = write_crate(rpytester.path / "adder", {"src/lib.rs": LIB}, name="adder")
    expected = {f"adder/Cargo.toml::lib::tests::adds[{a}]": "passed" for a in ("arm64", "s390x")}
    first = rpytester.runpytest_subprocess("-v", "--arch=arm64,s390x", timeout=240)
    assert outcomes_by_id(first) == expected
    assert any(c.startswith("cargo test --no-run") for c in calls(logged_tools))
    logged_tools.unlink()

    again = rpytester.runpytest_subprocess("-v", "--arch=arm64,s390x", timeout=240)
    assert outcomes_by_id(again) == expected
    assert calls(logged_tools) == [], "\n".join(calls(logged_tools))

    (crate / "src" / "lib.rs").write_text(LIB.replace("a + b", "a * b"))  # 2 * 2 is still 4
    edited = rpytester.runpytest_subprocess("-v", "--arch=arm64", timeout=240)
    assert outcomes_by_id(edited) == {"adder/Cargo.toml::lib::tests::adds[arm64]": "passed"}
    assert any(c.startswith("cargo test --no-run") for c in calls(logged_tools))

    # A test binary that is gone (the target dir cleaned by hand) is built again, not trusted.
    logged_tools.unlink()
    deps = rpytester.path / ".pytest_cache" / "d" / "multiarch" / "cargo-target" / "s390x-unknown-linux-gnu"
    for exe in (deps / "debug" / "deps").glob("adder-*"):
        if os.access(exe, os.X_OK) and exe.suffix == "":
            exe.unlink()
    rebuilt = rpytester.runpytest_subprocess("-v", "--arch=s390x", timeout=240)
    assert outcomes_by_id(rebuilt) == {"adder/Cargo.toml::lib::tests::adds[s390x]": "passed"}
    assert any(c.startswith("cargo test --no-run") for c in calls(logged_tools))


def test_cargo_build_fixture_reuses_binaries_across_sessions(
    rpytester: pytest.Pytester, logged_tools: Path
) -> None:
    write_crate(rpytester.path / "greet", {"src/main.rs": 'fn main() { print!("hi"); }\n'}, name="greet")
    rpytester.makepyfile(
        test_greet="""
        def test_greet(cargo_build, run_on_arch):
            assert run_on_arch(cargo_build("greet", bin="greet")).stdout == "hi"
        """
    )
    assert rpytester.runpytest_subprocess("--arch=arm64", "test_greet.py", timeout=240).ret == 0
    assert any(c.startswith("cargo build") for c in calls(logged_tools))
    logged_tools.unlink()
    assert rpytester.runpytest_subprocess("--arch=arm64", "test_greet.py", timeout=240).ret == 0
    assert calls(logged_tools) == []


TWO = """
    #[cfg(test)]
    mod tests {
        #[test]
        fn holds() { assert_eq!(1 + 1, 2); }

        #[test]
        fn reads_setting() { assert_ne!(std::env::var("SETTING").as_deref(), Ok("bad")); }
    }
"""


def test_reuse_passed_skips_only_identical_batches_that_passed(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_crate(rpytester.path / "two", {"src/lib.rs": TWO}, name="two")
    write_crate(rpytester.path / "one", {"src/lib.rs": LIB}, name="one")
    report = rpytester.path / "report.json"
    args = ("--arch=arm64", "-v", "--arch-reuse-passed", f"--multiarch-report={report}")
    monkeypatch.setenv("SETTING", "bad")
    assert "(cached)" not in rpytester.runpytest(*args).stdout.str()
    again = rpytester.runpytest(*args)
    outcomes = outcomes_by_id(again)
    assert outcomes["two/Cargo.toml::lib::tests::reads_setting[arm64]"] == "failed"  # a failure runs again
    assert outcomes["two/Cargo.toml::lib::tests::holds[arm64]"] == "passed"  # in the failing batch: ran
    again.stdout.fnmatch_lines(["one/Cargo.toml::lib::tests::adds[[]arm64[]] PASSED (cached)*"])
    assert "holds[arm64] PASSED (cached)" not in again.stdout.str()
    cells = {c["nodeid"]: c for c in json.loads(report.read_text())["results"]}
    assert cells["one/Cargo.toml::lib::tests::adds[arm64]"]["cached"] is True
    assert cells["two/Cargo.toml::lib::tests::holds[arm64]"]["cached"] is False
    # Another environment is another run (libtest logs nothing of what a test reads: the whole
    # environment is in the key); without the option nothing is reused either.
    monkeypatch.setenv("SETTING", "good")
    assert "(cached)" not in rpytester.runpytest(*args).stdout.str()
    assert "(cached)" in rpytester.runpytest(*args).stdout.str()
    assert "(cached)" not in rpytester.runpytest(*args[:2]).stdout.str()
