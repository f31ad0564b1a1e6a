"""Building and listing at once (Rust): a test binary is listed (its emulated ``--list`` run) as
soon as cargo has finished it, while cargo still compiles the crate's other targets. Items exist
only once every binary is listed, so batches start after the build. Real cargo, real qemu."""

from __future__ import annotations

import shutil

import pytest
from gohelpers import outcomes_by_id
from rusthelpers import RUST_HOME, write_crate
from stubs import write_executable

SLOW_FUNCTIONS = 1500  # seconds of rustc for the integration test target

LIB = """
    pub fn one() -> u32 { 1 }

    #[cfg(test)]
    mod tests {
        #[test]
        fn is_one() { assert_eq!(super::one(), 1); }
    }
"""


def slow_target() -> str:
    body = [
        f"fn f{i}(x: u64) -> u64 {{ let mut y = x.wrapping_mul({i + 3}); "
        f"for j in 0..{i % 7 + 2} {{ y ^= y << 3 ^ j; }} y }}\n"
        for i in range(SLOW_FUNCTIONS)
    ]
    body.append("#[test]\nfn all() {\n    let mut s = 0u64;\n")
    body += [f"    s = s.wrapping_add(f{i}(s));\n" for i in range(SLOW_FUNCTIONS)]
    body.append("    assert!(s > 0 || s == 0);\n    assert_eq!(overlap::one(), 1);\n}\n")
    return "".join(body)


def test_a_binary_is_listed_while_cargo_builds_the_next(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if qemu is None:
        pytest.skip("no qemu-aarch64")
    write_crate(
        rpytester.path / "overlap", {"src/lib.rs": LIB, "tests/slow.rs": slow_target()}, name="overlap"
    )
    tools, log = rpytester.path / "tools", rpytester.path / "times.log"
    tools.mkdir()
    cargo = RUST_HOME / "bin" / "cargo"
    write_executable(tools / "cargo", (
        f'#!/bin/sh\n"{cargo}" "$@"\nrc=$?\n'
        f'[ "$1 $2" = "test --no-run" ] && echo "$(date +%s%N) cargo-ended" >> "{log}"\nexit $rc\n'
    ))  # fmt: skip
    write_executable(
        tools / "qemu", f'#!/bin/sh\necho "$(date +%s%N) qemu $*" >> "{log}"\nexec "{qemu}" "$@"\n'
    )
    monkeypatch.setenv("CARGO", str(tools / "cargo"))
    monkeypatch.setenv("MULTIARCH_QEMU_ARM64", str(tools / "qemu"))
    result = rpytester.runpytest_subprocess("-v", "--arch=arm64", "--arch-executor=qemu", timeout=600)
    assert outcomes_by_id(result) == {
        "overlap/Cargo.toml::lib::tests::is_one[arm64]": "passed",
        "overlap/Cargo.toml::tests/slow::all[arm64]": "passed",
    }, result.stdout.str()
    events = [line.split(" ", 1) for line in log.read_text().splitlines()]
    ended = [int(t) for t, what in events if what == "cargo-ended"]
    lib_listed = [int(t) for t, what in events if "--list" in what and "/deps/overlap-" in what]
    slow_listed = [int(t) for t, what in events if "--list" in what and "/deps/slow-" in what]
    assert len(ended) == 1 and lib_listed and slow_listed, events
    # The lib's test binary was listed before cargo had finished compiling tests/slow.rs.
    assert lib_listed[0] < ended[0], f"listed {(lib_listed[0] - ended[0]) / 1e9:.2f} s after cargo ended"
