"""Bad input, end to end: what a user gets from an inner pytest run (pytester, real go, cargo and
qemu-user) when an architecture name, a marker, a manifest, a binary, an emulator or a toolchain is
wrong, when test names are prefixes of others, when paths hold spaces and non-ASCII characters, and
when a test binary misbehaves with its stdout or its processes.

Every case asserts the message that names the cause and the fix, the exit status and per-item
outcomes, that the rest of the run still runs and reports, and that no traceback of the plugin nor
its internal exception class names reach the user.

Architecture lists are kept to the host and one emulated architecture: Go shares the outer run's
build cache (``gopytester``); each Rust crate is compiled cold, for two targets at most.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, processes_matching, section, write_module
from rusthelpers import write_crate
from stubs import write_executable

from pytest_multiarch import arch as archmod
from pytest_multiarch.toolchains.go import build as gobuild
from pytest_multiarch.toolchains.go import find as gofind

HOST = archmod.host().name
# An architecture this machine never runs natively, so always through qemu-user.
EMULATED = "s390x" if HOST != "s390x" else "arm64"
BOTH = f"--arch={HOST},{EMULATED}"
TIMEOUT = 180  # for an inner pytest run: far above what any of them needs

VALID_NAMES = (
    f"Valid names: {', '.join(archmod.known_names())}, native, all, musl "
    f"(aliases: {', '.join(sorted(n for a in archmod.ARCHES for n in a.aliases))})"
)
MARKER_USAGE = '@pytest.mark.arch("arm64", "s390x") or @pytest.mark.arch(exclude=["386"])'
SPARC = "SPARC is not supported by pytest-multiarch"

# What must never reach a user: a traceback (ours or pytest's INTERNALERROR), a frame in the
# plugin's files, or the name of one of its exception classes.
_INTERNALS = re.compile(
    r"Traceback|INTERNALERROR|pytest_multiarch[./]\w|\b(?:ArchMarkerError|ArchError|ElfMismatch|ELFError|"
    r"GoError|RustError|RustBuildError|RustToolchainError|ExecutorUnavailable|BuildFailed|"
    r"MultiarchFailure|CollectError)\b"
)


def run(pytester: pytest.Pytester, *args: str, timeout: float = TIMEOUT) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-v", "-rs", *args, timeout=timeout)


def outcomes_of_spaced_ids(result: pytest.RunResult) -> dict[str, str]:
    """outcomes_by_id for node ids whose paths hold spaces: its pattern stops at the first space."""
    verbose = re.compile(r"^(.+?::\S+) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b")
    return {m.group(1): m.group(2).lower() for line in result.outlines if (m := verbose.match(line))}


def assert_clean(result: pytest.RunResult) -> None:
    """No traceback, no plugin frame, no internal exception class name in what the user sees."""
    text = result.stdout.str() + "\n" + result.stderr.str()
    leaks = [line for line in text.splitlines() if _INTERNALS.search(line)]
    assert not leaks, "internals shown to the user:\n" + "\n".join(leaks)


GOOD_GO = """
    package good

    import "testing"

    func TestGood(t *testing.T) {}
"""
GOOD_RUST = """
    #[cfg(test)]
    mod tests {
        #[test]
        fn adds() { assert_eq!(2 + 2, 4) }
    }
"""


# --- a. unknown architectures and malformed markers -------------------------------------------


@pytest.mark.parametrize("where", ["--arch", "ini addopts"])
def test_unknown_arch_on_the_command_line_or_in_the_ini_is_a_usage_error(
    pytester: pytest.Pytester, where: str
) -> None:
    pytester.makepyfile(test_py="def test_py(arch):\n    raise AssertionError('must not run')\n")
    args = []
    if where == "ini addopts":
        pytester.makeini("[pytest]\naddopts = --arch=amd64,sparc\n")
    else:
        args.append("--arch=amd64,sparc")
    result = pytester.runpytest_subprocess(*args, timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # A real architecture the plugin does not support: said plainly, not "Did you mean 'arm'?".
    expected = f"ERROR: --arch: unknown architecture 'sparc': {SPARC}. {VALID_NAMES}"
    assert expected in result.stderr.lines, result.stderr.str()
    assert "Did you mean" not in result.stderr.str()
    assert result.stdout.str().strip() == ""  # stopped before collecting, nothing ran
    assert_clean(result)


@pytest.mark.parametrize(("marker", "message"), [
    ('arch("sparc")',
     f"@pytest.mark.arch: unknown architecture 'sparc': {SPARC}. {VALID_NAMES}"),
    ("arch(3)",
     f"@pytest.mark.arch takes architecture names as strings, not 3 (int). Fix: write {MARKER_USAGE}"),
    ('arch(["arm64", "s390x"])',
     "@pytest.mark.arch takes architecture names as strings, not ['arm64', 's390x'] (list) (unpack a list: "
     f"@pytest.mark.arch(*names)). Fix: write {MARKER_USAGE}"),
    ("arch()",
     "@pytest.mark.arch() names no architecture, so it narrows nothing. "
     f"Fix: write {MARKER_USAGE}, or remove the marker"),
    ('arch("")', f"@pytest.mark.arch: an empty architecture name (''). {VALID_NAMES}"),
], ids=lambda v: v if v.startswith("arch(") else "")  # fmt: skip
def test_malformed_arch_marker_is_a_collection_error_naming_test_cause_and_fix(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked(arch):
            pass
        """,
        test_good="def test_good(arch):\n    pass\n",
    )
    result = run(pytester, BOTH)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's way with a collection error
    # The message alone: the test, the marker, the cause and the fix.
    text = section(result, "ERROR collecting test_bad.py").splitlines()
    assert text[0] == f"test_bad.py::test_marked: {message}"
    assert all(line.startswith("!!!") for line in text[1:])  # nothing else in the section
    result.stdout.fnmatch_lines(["*Interrupted: 1 error during collection*"])
    result.stdout.fnmatch_lines(["*collected 2 items / 1 error"])
    assert_clean(result)


def test_malformed_markers_leave_the_other_tests_running_under_continue_on_collection_errors(
    pytester: pytest.Pytester,
) -> None:
    for i, marker in enumerate(['arch("sparc")', "arch(3)", "arch()", 'arch("")']):
        pytester.makepyfile(
            **{f"test_bad{i}": f"import pytest\n\n@pytest.mark.{marker}\ndef test_x(arch):\n    pass\n"}
        )
    pytester.makepyfile(test_good="def test_good(arch):\n    pass\n")
    result = run(pytester, BOTH, "--continue-on-collection-errors")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {f"test_good.py::test_good[{a}]": "passed" for a in (HOST, EMULATED)}
    for i in range(4):
        assert section(result, f"ERROR collecting test_bad{i}.py").startswith(f"test_bad{i}.py::test_x: ")
    result.stdout.fnmatch_lines(["*2 passed, 4 errors*"])
    assert_clean(result)


# --- b. manifests that do not parse ------------------------------------------------------------


def test_go_module_that_cannot_be_listed_errors_and_the_rest_runs(gopytester: pytest.Pytester) -> None:
    bad = write_module(gopytester.path, "badmod", {"x_test.go": GOOD_GO.replace("good", "bad")})
    (bad / "go.mod").write_text("module example.com/badmod\n\ngo 1.21\nthis is not a directive\n")
    # And a package go cannot list (two package clauses), next to one that is fine.
    write_module(gopytester.path, "goodmod", {
        "good/good_test.go": GOOD_GO, "clash/x_test.go": "package x\n", "clash/y_test.go": "package y\n",
    })  # fmt: skip
    result = run(gopytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    expected = {}
    for a in (HOST, EMULATED):
        expected[f"badmod/go.mod::[{a}]"] = "error"
        expected[f"goodmod/go.mod::clash::[{a}]"] = "error"
        expected[f"goodmod/go.mod::good::TestGood[{a}]"] = "passed"
    assert outcomes_by_id(result) == expected
    for a in (HOST, EMULATED):
        result.stdout.fnmatch_lines([
            f"cannot list the Go tests of package example.com/goodmod/clash for {a}: found packages x "
            f"(x_test.go) and y (y_test.go) in {gopytester.path / 'goodmod' / 'clash'}",
            "Fix: run `go vet example.com/goodmod/clash` in the module: it shows the same error",
        ])  # fmt: skip
    for a in (HOST, EMULATED):
        text = section(result, f"ERROR at setup of [{a}]").strip().splitlines()
        assert text[0] == (
            f"cannot list the Go tests of {bad / 'go.mod'} for {a}: `go list ./...` in {bad} for GOARCH={a} "
            "exited with status 1:"
        )
        assert text[1:-1] == ["go: errors parsing go.mod:", "go.mod:4: unknown directive: this"] or (
            text[1] == "go: errors parsing go.mod:" and text[2].endswith("go.mod:4: unknown directive: this")
        ), text
        assert text[-1] == (
            f"Fix: correct go.mod at the line go names above; `go mod edit -json` in {bad} shows whether "
            "go.mod parses"
        )
    result.stdout.fnmatch_lines(["*2 passed, 4 errors*"])
    assert_clean(result)


def test_cargo_toml_that_does_not_parse_errors_its_crate_and_the_rest_runs(
    rpytester: pytest.Pytester, gopytester: pytest.Pytester
) -> None:
    pytester = rpytester
    bad = write_crate(pytester.path / "badcrate", {"src/lib.rs": GOOD_RUST}, name="badcrate")
    (bad / "Cargo.toml").write_text(
        '[package]\nname = "badcrate"\nversion = "0.1.0"\nedition = "2021"\n[dependencies\n'
    )
    write_crate(pytester.path / "goodcrate", {"src/lib.rs": GOOD_RUST}, name="goodcrate")
    write_module(pytester.path, "goodmod", {"good_test.go": GOOD_GO})
    result = run(pytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    expected = {}
    for a in (HOST, EMULATED):
        expected[f"badcrate/Cargo.toml::[{a}]"] = "error"
        expected[f"goodcrate/Cargo.toml::lib::tests::adds[{a}]"] = "passed"
        expected[f"goodmod/go.mod::example.com/goodmod::TestGood[{a}]"] = "passed"
    assert outcomes_by_id(result) == expected
    manifest = bad / "Cargo.toml"
    for a in (HOST, EMULATED):
        text = section(result, f"ERROR at setup of [{a}]").strip().splitlines()
        assert text[0].startswith(f"cannot collect the Rust tests of {manifest}: it is not valid TOML: ")
        assert text[0].endswith("(at line 5, column 14)")
        assert text[1:] == [
            "5 | [dependencies",
            "  |              ^",
            f"Fix: correct the TOML syntax of {manifest} at line 5 (cargo cannot read it either)",
        ]
    result.stdout.fnmatch_lines(["*4 passed, 2 errors*"])
    assert_clean(result)


# --- c. a package that compiles on one architecture only ----------------------------------------


def test_package_that_compiles_on_one_arch_fails_its_items_on_the_other(gopytester: pytest.Pytester) -> None:
    write_module(gopytester.path, "one", {
        "only/only_host.go": f"""
            //go:build {HOST}

            package only

            func OnlyHere() int {{ return 1 }}
        """,
        "only/only_test.go": """
            package only

            import "testing"

            func TestUses(t *testing.T) { _ = OnlyHere() }

            func TestOther(t *testing.T) {}
        """,
        "good/good_test.go": GOOD_GO,
    })  # fmt: skip
    result = run(gopytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes_by_id(result) == {
        f"one/go.mod::only::TestUses[{HOST}]": "passed",
        f"one/go.mod::only::TestUses[{EMULATED}]": "failed",
        f"one/go.mod::only::TestOther[{HOST}]": "passed",
        f"one/go.mod::only::TestOther[{EMULATED}]": "failed",
        f"one/go.mod::good::TestGood[{HOST}]": "passed",
        f"one/go.mod::good::TestGood[{EMULATED}]": "passed",
    }
    headline = (
        f"build failed for {EMULATED}: go test -c example.com/one/only for {EMULATED} (GOARCH={EMULATED}) "
        "exited with status 1:"
    )
    for test in ("TestUses", "TestOther"):
        text = section(result, f"{test} [{EMULATED}]")
        assert text.splitlines()[0] == headline
        assert text.count("undefined: OnlyHere") == 1, text  # the compiler's error, once per item
        assert text.count("build failed for") == 1, text
        assert "only_test.go:5:" in text
    assert_clean(result)


# --- d. run_on_arch given something that is not a program for the test's arch -------------------

RUN_ON_ARCH_TESTS = """
    import pathlib

    HERE = pathlib.Path(__file__).parent
    OTHER = {{{host!r}: HERE / "hello-{emulated}", {emulated!r}: HERE / "hello-{host}"}}

    def test_script(arch, run_on_arch):
        run_on_arch(HERE / "tool.sh")

    def test_text(arch, run_on_arch):
        run_on_arch(HERE / "notes.txt")

    def test_other_arch(arch, run_on_arch):
        run_on_arch(OTHER[arch.name])

    def test_right_binary(arch, run_on_arch):
        assert run_on_arch(HERE / f"hello-{{arch.name}}").stdout == arch.goarch + "\\n"
"""
HELLO_GO = """
    package main

    import (
        "fmt"
        "runtime"
    )

    func main() { fmt.Println(runtime.GOARCH) }
"""


def test_run_on_arch_refuses_non_elf_and_foreign_binaries_naming_the_file(
    gopytester: pytest.Pytester, go: str
) -> None:
    pytester = gopytester
    hello = write_module(pytester.path, "hello", {"main.go": HELLO_GO})
    for a in (HOST, EMULATED):
        subprocess.run(
            [go, "build", "-o", str(pytester.path / f"hello-{a}"), "."],
            cwd=hello, env=gobuild.build_env(archmod.get(a)), check=True, timeout=300, capture_output=True,
        )  # fmt: skip
    shutil.rmtree(hello)  # not a module to collect
    write_executable(pytester.path / "tool.sh", f"#!/bin/sh\ntouch {pytester.path / 'script-ran'}\n")
    (pytester.path / "notes.txt").write_text("just some notes\nand more\n")
    pytester.makepyfile(test_run=RUN_ON_ARCH_TESTS.format(host=HOST, emulated=EMULATED))
    result = run(pytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = {}
    for a in (HOST, EMULATED):
        for name in ("test_script", "test_text", "test_other_arch"):
            outcomes[f"test_run.py::{name}[{a}]"] = "failed"
        outcomes[f"test_run.py::test_right_binary[{a}]"] = "passed"
    assert outcomes_by_id(result) == outcomes
    hint = "go_build(...) and cargo_build(...) return a program built for the test's architecture"
    for a, other in ((HOST, EMULATED), (EMULATED, HOST)):
        script, text = pytester.path / "tool.sh", pytester.path / "notes.txt"
        assert section(result, f"test_script[{a}]").strip() == (
            f"run_on_arch on {a}: {script} is not an ELF executable (a script: #!/bin/sh); cannot run it "
            f"on any architecture. {hint}"
        )
        assert section(result, f"test_text[{a}]").strip() == (
            f"run_on_arch on {a}: {text} is not an ELF executable (a text file starting 'just some notes'); "
            f"cannot run it on any architecture. {hint}"
        )
        want, got = archmod.get(a), archmod.get(other)
        assert section(result, f"test_other_arch[{a}]").strip() == (
            f"run_on_arch on {a}: {pytester.path / f'hello-{other}'} was built for {other} "
            f"({got.elf_machine} {got.bits}-bit {got.endian}-endian, static), not for {a} "
            f"(expected {want.elf_machine} {want.bits}-bit {want.endian}-endian); rebuild it for {a} "
            f"(GOARCH={want.goarch} or --target {want.rust_triple}). {hint}"
        )
    assert not (pytester.path / "script-ran").exists()  # refused, not run
    assert_clean(result)


# --- e. an emulator the user named that is missing or not executable ---------------------------


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
@pytest.mark.parametrize("emulator", ["missing", "not executable"])
def test_a_named_emulator_that_does_not_work_is_an_error_naming_the_variable(
    rpytester: pytest.Pytester, gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
    emulator: str, strict: bool,
) -> None:  # fmt: skip
    pytester = gopytester
    variable = f"MULTIARCH_QEMU_{EMULATED.upper()}"
    qemu = pytester.path / "bin" / f"qemu-{archmod.get(EMULATED).qemu_name}"
    if emulator == "not executable":
        qemu.parent.mkdir()
        shutil.copy(shutil.which(f"qemu-{archmod.get(EMULATED).qemu_name}-static") or "/bin/true", qemu)
        qemu.chmod(qemu.stat().st_mode & ~(stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    monkeypatch.setenv(variable, str(qemu))
    write_module(pytester.path, "m", {"m_test.go": GOOD_GO.replace("good", "m")})
    with_rust = emulator == "missing"  # the same check either way: one Rust build is enough
    if with_rust:
        write_crate(pytester.path / "crate", {"src/lib.rs": GOOD_RUST}, name="crate")
    write_module(pytester.path, "hello", {"main.go": HELLO_GO})
    pytester.makepyfile(
        test_run="""
        import pathlib

        def test_run(arch, go_build, run_on_arch):
            exe = go_build(pathlib.Path(__file__).parent / "hello")
            assert run_on_arch(exe).stdout == arch.goarch + "\\n"
        """
    )
    result = run(pytester, BOTH, *(["--arch-strict"] if strict else []))
    qn = archmod.get(EMULATED).qemu_name
    why = (
        f"cannot run {EMULATED} binaries: {variable}={qemu} is not an executable. Fix: point it at a "
        f"qemu-{qn}, or unset it to use qemu-{qn}-static from PATH"
    )
    outcomes = {
        f"m/go.mod::example.com/m::TestGood[{HOST}]": "passed",
        f"crate/Cargo.toml::lib::tests::adds[{HOST}]": "passed",
        f"test_run.py::test_run[{HOST}]": "passed",
        # Named, so never a skip, --arch-strict or not: a skip would turn the run green.
        f"m/go.mod::example.com/m::TestGood[{EMULATED}]": "error",
        f"crate/Cargo.toml::[{EMULATED}]": "failed",
        f"test_run.py::test_run[{EMULATED}]": "failed",
    }
    if not with_rust:
        outcomes = {k: v for k, v in outcomes.items() if not k.startswith("crate/")}
    assert outcomes_by_id(result) == outcomes
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert section(result, f"ERROR at setup of TestGood [{EMULATED}]").strip() == why
    if with_rust:
        assert section(result, f"[{EMULATED}]").strip() == why
    assert section(result, f"test_run[{EMULATED}]").strip() == why
    assert_clean(result)


# --- f. missing toolchains ----------------------------------------------------------------------

NO_GO_TESTS = """
    import pathlib

    def test_build(arch, go_build):
        go_build(pathlib.Path(__file__).parent / "hello")

    def test_plain_python():
        pass
"""


def _can_hide_paths() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    res = subprocess.run(["unshare", "-m", "mount", "--bind", "/", "/mnt"], capture_output=True, timeout=30)
    return res.returncode == 0


def test_missing_go_skips_naming_the_fix(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody named a go and there is none: a skip with the fix (a MULTIARCH_GO that points nowhere
    is an error instead: tests/test_misconfig.py)."""
    write_module(pytester.path, "m", {"m_test.go": GOOD_GO.replace("good", "m")})
    hello = write_module(pytester.path, "hello", {"main.go": HELLO_GO})
    pytester.makepyfile(test_build=NO_GO_TESTS)
    # PATH without go, and Go's usual places outside PATH hidden in a mount namespace of the
    # inner run only (this machine keeps them).
    if not _can_hide_paths():
        pytest.skip("hiding /usr/local/go and /usr/lib/go-1.* needs root and unshare -m")
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "go").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.delenv("MULTIARCH_GO", raising=False)
    empty = pytester.mkdir("empty")
    hide = " ".join(
        f"mount --bind {empty} {d} || exit 97;"
        for d in ["/usr/local/go", *map(str, Path("/usr/lib").glob("go-1.*"))]
        if Path(d).is_dir()
    )
    script = f'{hide} exec "{sys.executable}" -m pytest -p no:cacheprovider -v -rs {BOTH}'
    result = pytester.run("unshare", "-m", "sh", "-c", script, timeout=TIMEOUT)
    assert result.ret != 97, result.stderr.str()
    reason = (
        "Go toolchain not found (no `go` on PATH, /usr/local/go/bin/go or /usr/lib/go-1.*/bin/go). "
        f"Fix: {gofind.INSTALL_FIX}"
    )
    assert result.ret == pytest.ExitCode.OK
    assert outcomes_by_id(result) == {
        f"m/go.mod::[{HOST}]": "skipped",
        f"m/go.mod::[{EMULATED}]": "skipped",
        f"hello/go.mod::[{HOST}]": "skipped",
        f"hello/go.mod::[{EMULATED}]": "skipped",
        f"test_build.py::test_build[{HOST}]": "skipped",
        f"test_build.py::test_build[{EMULATED}]": "skipped",
        "test_build.py::test_plain_python": "passed",
    }
    skips = [line for line in result.outlines if line.startswith("SKIPPED")]
    mod = pytester.path / "m" / "go.mod"
    assert sorted(skips) == sorted([
        f"SKIPPED [2] m/go.mod:1: cannot list the Go tests of {mod}: {reason}",
        f"SKIPPED [2] hello/go.mod:1: cannot list the Go tests of {hello / 'go.mod'}: {reason}",
        f"SKIPPED [1] test_build.py:3: go_build({str(hello)!r}) for {HOST}: {reason}",
        f"SKIPPED [1] test_build.py:3: go_build({str(hello)!r}) for {EMULATED}: {reason}",
    ]), result.stdout.str()  # fmt: skip
    assert_clean(result)


def test_missing_rust_target_std_skips_that_arch_naming_the_fix(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, bare_rust_env: dict[str, str]
) -> None:
    for key, value in bare_rust_env.items():  # no riscv64 std, nor the source to build one
        monkeypatch.setenv(key, value)
    write_crate(rpytester.path / "crate", {
        "src/lib.rs": GOOD_RUST,
        "src/bin/tool.rs": 'fn main() { println!("{}", std::env::consts::ARCH) }\n',
    }, name="crate")  # fmt: skip
    rpytester.makepyfile(
        test_tool="""
        import pathlib

        def test_tool(arch, cargo_build, run_on_arch):
            exe = cargo_build(pathlib.Path(__file__).parent / "crate", bin="tool")
            assert run_on_arch(exe).returncode == 0
        """
    )
    result = run(rpytester, f"--arch={HOST},riscv64")
    assert result.ret == pytest.ExitCode.OK
    assert outcomes_by_id(result) == {
        f"crate/Cargo.toml::lib::tests::adds[{HOST}]": "passed",
        "crate/Cargo.toml::[riscv64]": "skipped",
        f"test_tool.py::test_tool[{HOST}]": "passed",
        "test_tool.py::test_tool[riscv64]": "skipped",
    }
    missing = (
        "no prebuilt Rust std exists for riscv64gc-unknown-linux-gnu here, so it is built from source, and "
        "*/bare*/usr/lib/rustlib/src/rust/library holds none. Fix: install the library source of Rust "
        "1.85.0 there, or use a rustup toolchain (multiarch_cargo / $CARGO) and run: "
        "rustup component add rust-src"
    )
    crate = rpytester.path / "crate"
    result.stdout.fnmatch_lines_random([
        f"SKIPPED [[]1[]] crate/Cargo.toml:1: Rust tests of {crate / 'Cargo.toml'} cannot be built for "
        f"riscv64: {missing}",
        f"SKIPPED [[]1[]] test_tool.py:*: cargo_build('{crate}') cannot build for riscv64: {missing}",
    ])  # fmt: skip
    assert_clean(result)


# --- g. names that are prefixes of others: exact selection -------------------------------------

PREFIX_GO = """
    package p

    import (
        "os"
        "runtime"
        "testing"
    )

    // Every test that runs appends "<name> <GOARCH>" to runs.log: what ran is counted, not guessed.
    func mark(t *testing.T) {
        f, err := os.OpenFile("runs.log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
        if err != nil {
            t.Fatal(err)
        }
        defer f.Close()
        f.WriteString(t.Name() + " " + runtime.GOARCH + "\\n")
    }

    func TestA(t *testing.T)     { mark(t) }
    func TestAB(t *testing.T)    { mark(t) }
    func TestA_B(t *testing.T)   { mark(t) }
    func TestÄpfel(t *testing.T) { mark(t) }
"""
PREFIX_RUST = """
    fn mark(name: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open("runs.log").unwrap();
        // One write: tests run in parallel threads, and writeln! may write in several pieces.
        f.write_all(format!("{} {}\n", name, std::env::consts::ARCH).as_bytes()).unwrap();
    }

    #[test] fn a() { mark("a") }
    #[test] fn ab() { mark("ab") }
    #[test] fn r#match() { mark("r#match") }

    mod m {
        #[test] fn x_y() { super::mark("m::x_y") }
        #[test] fn x_yz() { super::mark("m::x_yz") }
        mod x_y {
            #[test] fn a() { super::super::mark("m::x_y::a") }
        }
    }
"""
RUST_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "s390x": "s390x", "386": "x86", "arm": "arm"}


def _runs(path: Path) -> list[str]:
    log = path / "runs.log"
    lines = sorted(log.read_text().splitlines()) if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_prefix_names_and_odd_characters_select_exactly(
    rpytester: pytest.Pytester, gopytester: pytest.Pytester
) -> None:
    pytester = gopytester
    go_dir = write_module(pytester.path, "p", {"p_test.go": PREFIX_GO})
    crate = write_crate(pytester.path / "c", {"src/lib.rs": PREFIX_RUST}, name="c")
    go_ids = "p/go.mod::example.com/p::{}[{}]"
    rust_ids = "c/Cargo.toml::lib::{}[{}]"
    selected = [
        go_ids.format("TestA", HOST), go_ids.format("TestA", EMULATED), go_ids.format("TestÄpfel", EMULATED),
        rust_ids.format("a", HOST), rust_ids.format("r#match", EMULATED),
        rust_ids.format("m::x_y", HOST), rust_ids.format("m::x_y", EMULATED),
    ]  # fmt: skip
    result = run(pytester, BOTH, *selected)
    assert result.ret == pytest.ExitCode.OK
    assert outcomes_by_id(result) == dict.fromkeys(selected, "passed")
    assert _runs(go_dir) == sorted([f"TestA {HOST}", f"TestA {EMULATED}", f"TestÄpfel {EMULATED}"])
    r_host, r_emu = RUST_ARCH[HOST], RUST_ARCH[EMULATED]
    assert _runs(crate) == sorted([f"a {r_host}", f"m::x_y {r_host}", f"m::x_y {r_emu}", f"r#match {r_emu}"])

    # -k "TestA" would also match TestAB and TestA_B (pytest's substring match); what -k leaves is
    # exactly what the binary runs, however its regular expression would have matched.
    again = run(pytester, BOTH, "p", "-k", "TestA and not TestAB and not TestA_B")
    assert outcomes_by_id(again) == {go_ids.format("TestA", a): "passed" for a in (HOST, EMULATED)}
    again.stdout.fnmatch_lines(["*2 passed, 6 deselected*"])
    assert _runs(go_dir) == sorted([f"TestA {HOST}", f"TestA {EMULATED}"])
    assert_clean(result)
    assert_clean(again)


# --- h. paths with spaces and non-ASCII characters ---------------------------------------------


def test_paths_with_spaces_and_non_ascii_characters(
    rpytester: pytest.Pytester, gopytester: pytest.Pytester
) -> None:
    pytester = gopytester
    mod = write_module(pytester.path, "my módulo dir", {
        "where_test.go": """
            package where

            import (
                "os"
                "strings"
                "testing"
            )

            func TestWhere(t *testing.T) {
                wd, _ := os.Getwd()
                if !strings.HasSuffix(wd, "/my módulo dir") {
                    t.Fatalf("cwd %q", wd)
                }
            }

            func TestExits(t *testing.T) { os.Exit(3) }
        """,
        "cmd/hello/main.go": HELLO_GO,
    }, module="example.com/where")  # fmt: skip
    write_crate(pytester.path / "my crate dír", {
        "src/lib.rs": """
            #[test]
            fn manifest_dir() {
                assert!(env!("CARGO_MANIFEST_DIR").ends_with("/my crate dír"));
                assert!(std::env::current_dir().unwrap().ends_with("my crate dír"));
            }
        """,
        "src/bin/tool.rs": 'fn main() { println!("{}", std::env::consts::ARCH) }\n',
    }, name="mycrate")  # fmt: skip
    pytester.makepyfile(
        test_fixtures="""
        import pathlib

        HERE = pathlib.Path(__file__).parent

        def test_go(arch, go_build, run_on_arch):
            exe = go_build(HERE / "my módulo dir" / "cmd" / "hello")
            assert run_on_arch(exe).stdout == arch.goarch + "\\n"

        def test_rust(arch, cargo_build, run_on_arch):
            exe = cargo_build(HERE / "my crate dír", bin="tool")
            rust_arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch.name, arch.name)
            assert run_on_arch(exe).stdout == rust_arch + "\\n"
        """
    )
    result = run(pytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    expected = {}
    for a in (HOST, EMULATED):
        expected[f"my módulo dir/go.mod::example.com/where::TestWhere[{a}]"] = "passed"
        expected[f"my módulo dir/go.mod::example.com/where::TestExits[{a}]"] = "failed"
        expected[f"my crate dír/Cargo.toml::lib::manifest_dir[{a}]"] = "passed"
        expected[f"test_fixtures.py::test_go[{a}]"] = "passed"
        expected[f"test_fixtures.py::test_rust[{a}]"] = "passed"
    assert outcomes_of_spaced_ids(result) == expected
    # The reproduce line of the crash quotes the directory: pasted into a shell, it reproduces.
    text = section(result, f"TestExits [{EMULATED}]")
    m = re.search(r"\(reproduce: (.*)\)$", text.splitlines()[0])
    assert m is not None, text
    assert m.group(1).startswith(f"cd {shlex.quote(str(mod))} && ")  # quoted, not split at spaces
    again = subprocess.run(m.group(1), shell=True, capture_output=True, timeout=60)
    assert again.returncode == 3, again
    assert_clean(result)


# --- i. test binaries that close stdout, change process group, or leave children ---------------

PROCESSES_GO = """
    package pr

    import (
        "fmt"
        "os"
        "os/exec"
        "syscall"
        "testing"
    )

    func TestA1Before(t *testing.T) { fmt.Println("before") }

    // The test process leads its own session: setpgid is refused, and must not upset the run.
    func TestB2Setpgid(t *testing.T) { t.Logf("setpgid: %v", syscall.Setpgid(0, 0)) }

    // A child that outlives the test binary.
    func TestC3Forks(t *testing.T) {
        if err := exec.Command("sleep", "30.0173").Start(); err != nil {
            t.Fatal(err)
        }
    }

    // A child in a process group of its own: out of reach of a process-group kill.
    func TestD4ForksOwnGroup(t *testing.T) {
        cmd := exec.Command("sleep", "30.0174")
        cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
        if err := cmd.Start(); err != nil {
            t.Fatal(err)
        }
    }

    // A child that keeps the test's stdout open (a server logging to the test's output): the run
    // must not wait for it to close.
    func TestE5ForksHoldingStdout(t *testing.T) {
        cmd := exec.Command("sleep", "30.0175")
        cmd.Stdout = os.Stdout
        if err := cmd.Start(); err != nil {
            t.Fatal(err)
        }
    }

    func TestF6After(t *testing.T) { fmt.Println("after") }
"""
CLOSES_STDOUT_GO = """
    package cl

    import (
        "fmt"
        "os"
        "testing"
    )

    func TestA1Before(t *testing.T) { fmt.Println("before") }

    func TestB2ClosesStdout(t *testing.T) { os.Stdout.Close() }

    func TestC3After(t *testing.T) { fmt.Println("after") }
"""


def test_closed_stdout_setpgid_and_children_that_outlive_the_test(gopytester: pytest.Pytester) -> None:
    assert processes_matching("sleep 30.017") == []
    write_module(gopytester.path, "m", {"pr/pr_test.go": PROCESSES_GO, "cl/cl_test.go": CLOSES_STDOUT_GO})
    result = run(gopytester, BOTH, "-rP", "--arch-timeout=8")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the test that closes stdout fails
    outcomes = outcomes_by_id(result)
    for a in (HOST, EMULATED):
        for name in ("TestA1Before", "TestB2Setpgid", "TestC3Forks", "TestD4ForksOwnGroup",
                     "TestE5ForksHoldingStdout", "TestF6After"):  # fmt: skip
            assert outcomes.pop(f"m/go.mod::pr::{name}[{a}]") == "passed"
        # Around the test that closes stdout, the others keep their results (the ones after it
        # from a fresh process); its own result line was lost with its stdout, and a test without
        # a result is never passed, even though the process exited 0.
        assert outcomes.pop(f"m/go.mod::cl::TestA1Before[{a}]") == "passed"
        assert outcomes.pop(f"m/go.mod::cl::TestC3After[{a}]") == "passed"
        assert outcomes.pop(f"m/go.mod::cl::TestB2ClosesStdout[{a}]") == "failed"
        assert "=== RUN   TestB2ClosesStdout" in section(result, f"TestB2ClosesStdout [{a}]")
    assert outcomes == {}
    result.stdout.fnmatch_lines_random(["*pr_test.go:*: setpgid: operation not permitted"] * 2)
    left = processes_matching("sleep 30.017")
    assert left == [], "still running after the run:\n" + "\n".join(left)
    # The child holding stdout (30 s) did not hold the batch until --arch-timeout (8 s), which would
    # say "timed out": no wall-clock bound here, the machine may be loaded.
    assert "timed out" not in result.stdout.str()
    assert_clean(result)


def test_test_that_closes_stdout_fails_and_the_others_keep_their_results(gopytester: pytest.Pytester) -> None:
    # `go test` says ok here (test2json gives the running test the binary's final "ok"), but the
    # test's result line never came: the plugin does not call that passed (issue 16).
    write_module(gopytester.path, "cl", {"cl_test.go": CLOSES_STDOUT_GO})
    result = run(gopytester, BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    tests = ("TestA1Before", "TestB2ClosesStdout", "TestC3After")
    assert outcomes_by_id(result) == {
        f"cl/go.mod::example.com/cl::{n}[{a}]": "failed" if n == "TestB2ClosesStdout" else "passed"
        for n in tests
        for a in (HOST, EMULATED)
    }
    for a in (HOST, EMULATED):
        text = section(result, f"TestB2ClosesStdout [{a}]")
        assert text.startswith(
            f"TestB2ClosesStdout on {a}: the test process exited with status 0 while this test was "
            "running, before it reported a result: the test (or code it calls) ended the process"
        ), text
        assert "closed its standard output" in text.splitlines()[0]
    assert_clean(result)
