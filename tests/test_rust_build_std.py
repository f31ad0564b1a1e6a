"""Rust targets without a prebuilt std (tier 3 MIPS; riscv64 and ppc64 with Debian's Rust): cargo
builds std from the toolchain's library source (-Zbuild-std), once per toolchain and target dir,
and the tests then run and fail exactly where the architecture says. Real cargo, real QEMU."""

from __future__ import annotations

from pathlib import Path

import pytest
from gohelpers import outcomes_by_id
from rusthelpers import RUST_HOME, calls, write_crate

from pytest_multiarch.toolchains import rust

LIB = """
    #[cfg(test)]
    mod tests {
        #[test]
        fn little_endian() {
            assert_eq!(u32::from_ne_bytes([1, 0, 0, 0]), 1, "bytes read as big-endian");
        }

        #[test]
        fn word_is_64_bits() {
            assert_eq!(usize::BITS, 64, "pointer width");
        }

        #[test]
        fn adds() {
            assert_eq!(std::hint::black_box(2) + 2, 4);
        }
    }
"""
# Both are among what scripts/bootstrap.sh provisions (cross gcc included); big- and little-endian.
ARCHES = ("mips64", "mips64le")


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache (and cargo target dir) for the module's inner runs: std is built once."""
    return tmp_path_factory.mktemp("build-std-cache")


def test_std_is_built_once_and_tests_fail_where_the_architecture_says(
    rpytester: pytest.Pytester, logged_tools: Path, shared_cache: Path
) -> None:
    if rust.library_source(rust.find_toolchain(RUST_HOME / "bin" / "cargo")) is None:
        pytest.skip(f"{RUST_HOME} has no library source: python -m pytest_multiarch setup --arch=mips64")
    write_crate(rpytester.path / "archy", {"src/lib.rs": LIB}, name="archy")
    args = ("-v", f"--arch={','.join(ARCHES)}", f"--arch-cache-dir={shared_cache}")
    first = rpytester.runpytest_subprocess(*args, timeout=900)
    expected = {
        "archy/Cargo.toml::lib::tests::little_endian[mips64]": "failed",  # big-endian
        "archy/Cargo.toml::lib::tests::little_endian[mips64le]": "passed",
        "archy/Cargo.toml::lib::tests::word_is_64_bits[mips64]": "passed",
        "archy/Cargo.toml::lib::tests::word_is_64_bits[mips64le]": "passed",
        "archy/Cargo.toml::lib::tests::adds[mips64]": "passed",
        "archy/Cargo.toml::lib::tests::adds[mips64le]": "passed",
    }
    assert outcomes_by_id(first) == expected, first.stdout.str()
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    builds = [c for c in calls(logged_tools) if c.startswith("cargo test --no-run")]
    assert len(builds) == 2 and all(" -Zbuild-std " in c for c in builds), builds
    first.stdout.fnmatch_lines_random([
        "*multiarch: building the Rust tests of */archy/Cargo.toml for mips64, mips64le (first building std "
        "for mips64 (mips64-unknown-linux-gnuabi64) from Debian's rust-web-src, once per toolchain: about a "
        "minute; std for mips64le (mips64el-unknown-linux-gnuabi64) from Debian's rust-web-src, *) ...",
        "*::little_endian: fails on mips64 (passes on mips64le) — exactly the big-endian ones",
    ])  # fmt: skip

    # Nothing changed: no cargo, no rustc, std included.
    logged_tools.unlink()
    again = rpytester.runpytest_subprocess(*args, timeout=300)
    assert outcomes_by_id(again) == expected
    assert calls(logged_tools) == [], "\n".join(calls(logged_tools))

    # Another crate in the same target dir reuses the std built for the first.
    write_crate(rpytester.path / "other", {"src/lib.rs": LIB}, name="other")
    other = rpytester.runpytest_subprocess(*args, "other", timeout=300)
    assert outcomes_by_id(other) == {k.replace("archy/", "other/"): v for k, v in expected.items()}
    other.stdout.fnmatch_lines(["*multiarch: building the Rust tests of */other/Cargo.toml for mips64, mips64le ..."])  # noqa: E501
    other.stdout.no_fnmatch_line("*first building std*")
    std_units = [c for c in calls(logged_tools) if c.startswith("rustc --crate-name std ")]
    assert std_units == [], "std was compiled again"
