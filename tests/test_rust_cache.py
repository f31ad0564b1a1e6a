"""Rust collection from the cache: a re-run with nothing changed starts no cargo, rustc or
emulator to build and list; an edit, or a binary that is gone, builds again. Real cargo/qemu."""

from __future__ import annotations

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
