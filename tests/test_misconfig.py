"""Misconfiguration is never green: a toolchain or emulator the user named that does not work is
a failure naming the setting and the fix (never a skip, which would hide every failure of those
tests), and an empty --arch is a usage error. Real go, cargo and qemu; stand-ins only for the
broken tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, write_module
from rusthelpers import write_crate
from stubs import write_executable

from pytest_multiarch import arch as archmod
from pytest_multiarch.toolchains import rust as rusttool

HOST = archmod.host().name
EMULATED = "s390x" if HOST != "s390x" else "arm64"
BOTH = f"--arch={HOST},{EMULATED}"
TIMEOUT = 300

# Passes natively, fails on the emulated arch: a skip of the emulated cells would hide a failure.
GO_TEST = """
    package m

    import (
        "runtime"
        "testing"
    )

    func TestWord(t *testing.T) {
        if runtime.GOARCH == "s390x" || runtime.GOARCH == "arm64" {
            t.Fatal("fails here")
        }
    }
"""
RUST_LIB = """
    #[cfg(test)]
    mod tests {
        #[test]
        fn adds() { assert_eq!(2 + 2, 4) }
    }
"""
GO_BUILD_TEST = """
    import pathlib

    def test_build(arch, go_build):
        go_build(pathlib.Path(__file__).parent / "m")
"""
CARGO_BUILD_TEST = """
    import pathlib

    def test_build(arch, cargo_build):
        cargo_build(pathlib.Path(__file__).parent / "crate")
"""
GO_FIX = "Fix: point it at a go (e.g. /usr/local/go/bin/go), or unset it to use the go on PATH"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-v", "-rs", "-p", "no:cacheprovider", *args, timeout=TIMEOUT)


def _failures(result: pytest.RunResult) -> list[str]:
    """The short summary's FAILED/ERROR lines, whole (-rA width is not limited: read the sections)."""
    return [ln for ln in result.outlines if ln.startswith(("FAILED ", "ERROR "))]


def _go_project(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_gobuild=GO_BUILD_TEST)
    return write_module(pytester.path, "m", {"m_test.go": GO_TEST})


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
@pytest.mark.parametrize("named", ["missing", "not a go", "cannot run"])
def test_a_named_go_that_does_not_work_fails_naming_multiarch_go(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, named: str, strict: bool
) -> None:
    mod = _go_project(gopytester)
    path = gopytester.path / "bin" / "go"
    path.parent.mkdir()
    if named == "not a go":  # runs, says nothing, exits 0: `go list` would list no package at all
        write_executable(path, "#!/bin/sh\nexit 0\n")
    elif named == "cannot run":
        write_executable(path, "not a program\n")
    monkeypatch.setenv("MULTIARCH_GO", str(path))
    result = run(gopytester, BOTH, *(["--arch-strict"] if strict else []))
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert outcomes_by_id(result) == {
        f"m/go.mod::[{HOST}]": "failed",
        f"m/go.mod::[{EMULATED}]": "failed",
        f"test_gobuild.py::test_build[{HOST}]": "failed",
        f"test_gobuild.py::test_build[{EMULATED}]": "failed",
    }
    why = {
        "missing": f"MULTIARCH_GO={path} is not an executable go. {GO_FIX}",
        "not a go": f"MULTIARCH_GO={path} is not a working go: `{path} version` printed nothing, not a Go "
        f"version. {GO_FIX}",
        "cannot run": f"MULTIARCH_GO={path} is not a working go: {path} does not run (*). {GO_FIX}",
    }[named]
    result.stdout.fnmatch_lines_random([
        f"cannot list the Go tests of {mod / 'go.mod'}: {why}",
        f"go_build({str(mod)!r}) for {HOST}: {why}",
        f"go_build({str(mod)!r}) for {EMULATED}: {why}",
    ])  # fmt: skip
    assert "an error because of --arch-strict" not in result.stdout.str()  # named: an error anyway
    assert "SKIPPED" not in result.stdout.str()


def test_a_named_go_that_works_is_used(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, go: str
) -> None:
    _go_project(gopytester)
    monkeypatch.setenv("MULTIARCH_GO", go)
    result = run(gopytester, BOTH, "-k", "not test_build")
    assert outcomes_by_id(result) == {
        f"m/go.mod::example.com/m::TestWord[{HOST}]": "passed",
        f"m/go.mod::example.com/m::TestWord[{EMULATED}]": "failed",
    }


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("CARGO", "CARGO={path} is not an executable cargo. Fix: point CARGO at a cargo, or unset it"),
        ("multiarch_cargo", "multiarch_cargo = {path} is not an executable cargo. Fix: point the ini option "
         "multiarch_cargo at a cargo, or remove it"),
        ("RUSTC", "RUSTC={path} is not an executable rustc. Fix: point RUSTC at a rustc, or unset it "
         "(then the rustc beside cargo is used)"),
    ],
)  # fmt: skip
def test_a_named_cargo_or_rustc_that_is_missing_fails_naming_it(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, setting: str, message: str
) -> None:
    crate = write_crate(rpytester.path / "crate", {"src/lib.rs": RUST_LIB}, name="crate")
    rpytester.makepyfile(test_cargobuild=CARGO_BUILD_TEST)
    missing = rpytester.path / "nowhere" / setting.lower()
    if setting == "multiarch_cargo":
        monkeypatch.delenv("CARGO")  # the environment variable would win over the ini option
        rpytester.makeini(f"[pytest]\nmultiarch_cargo = {missing}\n")
    else:
        monkeypatch.setenv(setting, str(missing))
    result = run(rpytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert outcomes_by_id(result) == {
        f"crate/Cargo.toml::[{HOST}]": "failed",
        f"crate/Cargo.toml::[{EMULATED}]": "failed",
        f"test_cargobuild.py::test_build[{HOST}]": "failed",
        f"test_cargobuild.py::test_build[{EMULATED}]": "failed",
    }
    why = message.format(path=missing)
    result.stdout.fnmatch_lines_random([
        f"cannot collect the Rust tests of {crate / 'Cargo.toml'}: {why}",
        f"cargo_build({str(crate)!r}) for {HOST}: {why}",
        f"cargo_build({str(crate)!r}) for {EMULATED}: {why}",
    ])  # fmt: skip


def test_a_named_rustc_that_does_not_run_fails_naming_it(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, rust_env: dict[str, str]
) -> None:
    """Today's skip said the std was missing and never named RUSTC."""
    write_crate(rpytester.path / "crate", {"src/lib.rs": RUST_LIB}, name="crate")
    broken = write_executable(rpytester.path / "rustc", "#!/bin/sh\necho 'rustc: broken' >&2\nexit 3\n")
    monkeypatch.setenv("RUSTC", str(broken))
    result = run(rpytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        f"crate/Cargo.toml::[{HOST}]": "failed",
        f"crate/Cargo.toml::[{EMULATED}]": "failed",
    }
    result.stdout.fnmatch_lines([
        f"`{broken} -vV` exited with status 3:",
        f"rustc: broken (the toolchain named by CARGO={rust_env['CARGO']}, RUSTC={broken})",
    ])  # fmt: skip


@pytest.mark.parametrize("qemu", ["missing", "not a qemu"])
def test_a_named_emulator_that_does_not_work_fails_and_stays_in_arch_all(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, qemu: str
) -> None:
    write_module(gopytester.path, "m", {"m_test.go": GO_TEST})
    variable = f"MULTIARCH_QEMU_{EMULATED.upper()}"
    path = gopytester.path / "qemu"
    if qemu == "not a qemu":  # would "run" every binary by doing nothing
        write_executable(path, "#!/bin/sh\nexit 0\n")
    monkeypatch.setenv(variable, str(path))
    qn = archmod.get(EMULATED).qemu_name
    what = "an executable" if qemu == "missing" else f"a QEMU (`{path} --version` names no QEMU version)"
    why = (
        f"cannot run {EMULATED} binaries: {variable}={path} is not {what}. Fix: point it at a qemu-{qn}, "
        f"or unset it to use qemu-{qn}-static from PATH"
    )
    result = run(gopytester, BOTH, "--arch-executor=qemu")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result)[f"m/go.mod::example.com/m::TestWord[{EMULATED}]"] == "error"
    result.stdout.fnmatch_lines([why])
    # --arch=all is what this machine can run: a named emulator that does not work is not left
    # out of it quietly, it fails there too.
    everything = run(gopytester, "--arch=all", "--arch-executor=qemu", "-k", EMULATED)
    assert everything.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(everything) == {f"m/go.mod::example.com/m::TestWord[{EMULATED}]": "error"}


@pytest.mark.parametrize("value", ["", " ", ",", f"{HOST},", f"{HOST},,{EMULATED}"])
def test_an_empty_arch_is_a_usage_error(gopytester: pytest.Pytester, value: str) -> None:
    write_module(gopytester.path, "m", {"m_test.go": GO_TEST})
    result = run(gopytester, f"--arch={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    what = "names no architecture" if not value.strip(" ,") else "has an empty architecture name"
    assert result.stderr.lines[0] == (
        f"ERROR: --arch: {'--arch=' + value!r} {what} (an unset variable, as in --arch=$ARCHES?). Fix: give "
        "names, e.g. --arch=amd64,arm64, or leave --arch out to run on the native architecture only"
    )
    assert "::" not in result.stdout.str()  # nothing collected, nothing ran


def test_an_empty_arch_in_addopts_is_a_usage_error_too(gopytester: pytest.Pytester) -> None:
    gopytester.makeini("[pytest]\naddopts = --arch=\n")
    result = run(gopytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'--arch=' names no architecture" in result.stderr.str()


# --- the checks themselves ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[""], [" "], [",,"], ["amd64,"], ["amd64", ""], [",arm64"]])
def test_reject_empty_refuses_empty_names(values: list[str]) -> None:
    with pytest.raises(archmod.ArchError):
        archmod.reject_empty(values)


@pytest.mark.parametrize("values", [[], ["amd64"], ["amd64,arm64", "s390x"], [" amd64 , arm64 "]])
def test_reject_empty_accepts_names(values: list[str]) -> None:
    archmod.reject_empty(values)


def test_named_settings_and_problems(tmp_path: Path) -> None:
    cargo = write_executable(tmp_path / "cargo", "#!/bin/sh\n")
    env = {"PATH": "/usr/bin:/bin"}
    assert rusttool.named_settings(None, env) == []
    assert rusttool.named_problem(None, env) is None
    assert rusttool.named_settings(cargo, env) == [f"multiarch_cargo = {cargo}"]
    assert rusttool.named_problem(cargo, env) is None
    # $CARGO wins over the ini option, which is then not checked at all.
    assert rusttool.named_settings("/nowhere", {**env, "CARGO": str(cargo)}) == [f"CARGO={cargo}"]
    assert rusttool.named_problem("/nowhere", {**env, "CARGO": str(cargo)}) is None
    problem = rusttool.named_problem(None, {**env, "RUSTC": "/nowhere/rustc"})
    assert problem is not None and problem.startswith(
        "RUSTC=/nowhere/rustc is not an executable rustc. Fix: "
    )
    # A named rustc is the only candidate: no fallback to the one beside cargo or on PATH.
    assert rusttool.find_rustc(cargo, {**env, "RUSTC": "/nowhere/rustc"}) is None
