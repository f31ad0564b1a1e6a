"""Python tests that drive a Go binary on every selected architecture."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_decode_cli(arch, go_build, run_on_arch):
    binary = go_build(HERE / "gocodec" / "cmd" / "decode")
    result = run_on_arch(binary, "2a000000").check()
    assert result.stdout.split() == [arch.name, "42"]


def test_decode_cli_rejects_bad_input(arch, go_build, run_on_arch):
    result = run_on_arch(go_build(HERE / "gocodec" / "cmd" / "decode"), "xyz")
    assert result.returncode == 2
    assert "usage" in result.stderr


@pytest.mark.arch(exclude=["386", "arm", "mips", "mipsle", "wasm"])  # wasm: wasm32
def test_big_values_64bit_only(arch):
    assert arch.bits == 64


def test_rust_decode_cli(arch, cargo_build, run_on_arch):
    binary = cargo_build(HERE / "rustcodec", bin="rdecode")
    result = run_on_arch(binary, "2a000000").check()
    assert result.stdout.split() == [str(arch.bits), "42"]
