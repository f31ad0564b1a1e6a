"""The musl columns (amd64-musl, arm64-musl, 386-musl): the registry and its parsing, the Go and
Rust build choices, the diagnosis, and end to end with the real go, cargo/rustc (rustup's musl
std, linked by rust-lld) and qemu-user."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, section, write_module
from rusthelpers import REAL_HOME, write_crate

from pytest_multiarch import arch as archmod
from pytest_multiarch import elf, nodeid
from pytest_multiarch.executors.native import runs_natively
from pytest_multiarch.report.diagnosis import shared_trait
from pytest_multiarch.toolchains import rust
from pytest_multiarch.toolchains.go import build as gobuild
from pytest_multiarch.toolchains.rust import musl

MUSL = {"amd64-musl": "amd64", "arm64-musl": "arm64", "386-musl": "386"}
TRIPLES = {"amd64-musl": "x86_64-unknown-linux-musl", "arm64-musl": "aarch64-unknown-linux-musl",
           "386-musl": "i686-unknown-linux-musl"}  # fmt: skip
RUSTUP_CARGO = REAL_HOME / ".cargo" / "bin" / "cargo"
RUSTUP = REAL_HOME / ".cargo" / "bin" / "rustup"
ON_AMD64 = archmod.host().name == "amd64"


# ---------------------------------------------------------------------------------------------
# The registry and its parsing


@pytest.mark.parametrize(("name", "twin"), sorted(MUSL.items()))
def test_a_musl_column_is_its_twins_cpu_with_musl(name: str, twin: str) -> None:
    m, g = archmod.get(name), archmod.get(twin)
    assert (m.name, m.libc, g.libc) == (name, "musl", "gnu")
    same = ("goarch", "goarm", "bits", "endian", "qemu_name", "elf_machine", "elf_class", "oci_platform",
            "goos", "gnu_triple", "debian_arch")  # fmt: skip
    assert all(getattr(m, f) == getattr(g, f) for f in same)
    assert m.rust_triple == TRIPLES[name]
    assert m != g and str(m) == name


@pytest.mark.parametrize(
    ("alias", "name"),
    [("x86_64-musl", "amd64-musl"), ("X86_64-MUSL", "amd64-musl"), ("aarch64-musl", "arm64-musl"),
     ("i386-musl", "386-musl"), ("i686-musl", "386-musl"), ("i686-linux-musl", "386-musl")],
)  # fmt: skip
def test_musl_aliases(alias: str, name: str) -> None:
    assert archmod.get(alias).name == name


def test_all_is_the_glibc_cpus_and_musl_adds_the_musl_columns() -> None:
    everything = archmod.parse_list(["all"])
    assert [a.name for a in everything] == [*archmod.known_names()[:13], "wasm"]
    assert all(a.libc == "gnu" for a in everything)
    assert [a.name for a in archmod.parse_list(["musl"])] == ["amd64-musl", "arm64-musl", "386-musl"]
    both = archmod.parse_list(["all,musl"])
    assert len(both) == 17 and both[-3:] == archmod.parse_list(["musl"])
    # ``all`` and ``musl`` take from what the machine can run (settings passes that).
    runnable = [archmod.get("amd64"), archmod.get("amd64-musl")]
    assert archmod.parse_list(["all", "musl"], all_arches=runnable) == runnable
    assert archmod.parse_list(["arm64-musl,arm64"]) == [archmod.get("arm64-musl"), archmod.get("arm64")]


def test_a_near_miss_suggests_the_musl_name() -> None:
    with pytest.raises(archmod.ArchError, match=r"Did you mean 'amd64-musl'\?.*native, all, musl"):
        archmod.get("amd64musl")


@pytest.mark.skipif(not ON_AMD64, reason="the native/emulated split below is an amd64 host's")
def test_musl_columns_run_where_their_cpu_runs() -> None:
    assert runs_natively(archmod.get("amd64-musl")) and runs_natively(archmod.get("386-musl"))
    assert not runs_natively(archmod.get("arm64-musl"))


def test_node_ids_name_the_musl_column_not_its_twin() -> None:
    arches = ["amd64", "amd64-musl", "386"]
    assert nodeid.arch_in_nodeid("t.py::f[1-amd64-musl]", arches) == "amd64-musl"
    assert nodeid.arch_in_nodeid("t.py::f[amd64-musl-2]", arches) == "amd64-musl"
    assert nodeid.arch_in_nodeid("t.py::f[amd64-2]", arches) == "amd64"
    assert nodeid.arch_in_nodeid("t.py::f[musl]", arches) is None
    assert nodeid.base_id("t.py::f[1-amd64-musl]", "amd64-musl") == "t.py::f[1]"


def test_markers_and_xfail_lines_name_musl_columns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.arch("amd64-musl", "arm64")
        def test_narrowed(arch):
            assert arch.name in ("amd64-musl", "arm64")

        @pytest.mark.arch(exclude=["386-musl"])
        def test_excluded(arch):
            assert arch.name != "386-musl"
        """
    )
    result = pytester.runpytest("--arch=amd64,amd64-musl,386-musl", "-v")
    result.assert_outcomes(passed=3)
    assert "test_excluded[amd64-musl] PASSED" in result.stdout.str()
    assert "test_excluded[386-musl]" not in result.stdout.str()


def test_arch_musl_selects_the_musl_columns_this_machine_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_libc(arch):\n    assert arch.libc == 'musl'\n")
    result = pytester.runpytest("--arch=musl", "-v")
    ran = {line.split("[")[1].split("]")[0] for line in result.outlines if " PASSED" in line}
    result.assert_outcomes(passed=len(ran))
    assert ran <= set(MUSL) and {n for n in MUSL if runs_natively(archmod.get(n))} <= ran


# ---------------------------------------------------------------------------------------------
# Build choices


def test_go_builds_a_musl_column_static_whatever_cgo_says() -> None:
    for name, goarch in MUSL.items():
        env = gobuild.build_env(archmod.get(name), cgo=True)
        assert (env["GOARCH"], env["CGO_ENABLED"], env["GOOS"]) == (goarch, "0", "linux")
        assert "CC" not in env or env["CC"] == os.environ.get("CC")
    assert gobuild.build_env(archmod.get("amd64"), cgo=True)["CGO_ENABLED"] == "1"


def _rustup_like(tmp_path: Path, *, lld: bool) -> rust.RustToolchain:
    sysroot = tmp_path / "toolchains" / "stable-x86_64-unknown-linux-gnu"
    (sysroot / "lib/rustlib/x86_64-unknown-linux-gnu/bin").mkdir(parents=True)
    (sysroot / "lib/rustlib/multirust-channel-manifest.toml").write_text("")
    if lld:
        (sysroot / "lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld").write_bytes(b"")
    host = "x86_64-unknown-linux-gnu"
    return rust.RustToolchain(Path("/bin/cargo"), Path("/bin/rustc"), sysroot, "1.95.0", host)


def test_rust_musl_targets_take_rustups_std_and_rust_lld(tmp_path: Path) -> None:
    tc = _rustup_like(tmp_path, lld=True)
    for name, triple in TRIPLES.items():
        target = rust.rust_target(archmod.get(name), tc)
        assert target is not None
        assert target.describe() == f"{triple}, std: rustup target {triple}, linker rust-lld"
        debian = rust.rust_target(archmod.get(name))  # Debian's Rust: still rustup's std, or none
        assert debian is not None and debian.std.kind == "rustup" and not debian.builds_std
        linker = rust.find_linker(tc, archmod.get(name), tmp_path, env={"PATH": "/usr/bin"})
        assert linker is not None
        assert linker.program == str(tc.sysroot / "lib/rustlib" / tc.host / "bin/rust-lld")
        assert linker.source == musl.SOURCE
        env = rust.build_env(tc, archmod.get(name), tmp_path)
        assert env[rust.linker_env_var(triple)] == linker.program  # the one thing a musl build sets
        assert "RUSTFLAGS" not in env or env["RUSTFLAGS"] == os.environ.get("RUSTFLAGS")
    # A linker the user set for the triple still wins.
    var = rust.linker_env_var(TRIPLES["arm64-musl"])
    named = rust.find_linker(tc, archmod.get("arm64-musl"), tmp_path, env={var: "my-ld"})
    assert named is not None and named.program == "my-ld"
    assert rust.find_linker(_rustup_like(tmp_path / "x", lld=False), archmod.get("arm64-musl"), tmp_path,
                            env={"PATH": "/usr/bin"}) is None  # fmt: skip


def test_cc_crates_missing_compiler_is_read_from_both_cc_spellings() -> None:
    new = '  error occurred in cc-rs: failed to find tool "aarch64-linux-musl-gcc": No such file (os error 2)'
    old = "  error occurred: Failed to find tool. Is `musl-gcc` installed?"
    assert musl.missing_c_compiler(new) == "aarch64-linux-musl-gcc"
    assert musl.missing_c_compiler(old) == "musl-gcc"
    assert musl.missing_c_compiler("error: could not compile `x`") is None
    assert "apt-get install musl-tools" in musl.c_compiler_fix(archmod.get("amd64-musl"))
    assert "CC_aarch64_unknown_linux_musl" in musl.c_compiler_fix(archmod.get("arm64-musl"))


# ---------------------------------------------------------------------------------------------
# The diagnosis


@pytest.mark.parametrize(
    ("failed", "ran", "said"),
    [
        (["amd64-musl", "arm64-musl"], ["amd64", "amd64-musl", "arm64", "arm64-musl"],
         "exactly the musl ones"),
        (["amd64", "arm64"], ["amd64", "amd64-musl", "arm64", "arm64-musl"], "exactly the glibc ones"),
        (["386", "386-musl", "arm"], ["amd64", "386", "386-musl", "arm", "arm64-musl", "s390x"],
         "exactly the 32-bit ones"),
        (["s390x", "mips64"], ["amd64", "amd64-musl", "386-musl", "s390x", "mips64"],
         "exactly the big-endian ones"),
        (["amd64-musl"], ["amd64", "amd64-musl", "arm64-musl"], "amd64-musl only"),
    ],
)  # fmt: skip
def test_diagnosis_with_musl_columns(failed: list[str], ran: list[str], said: str) -> None:
    assert shared_trait(failed, ran) == f" — {said}"


# ---------------------------------------------------------------------------------------------
# End to end

TIMEOUT = 300


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-v", "-rs", *args, timeout=TIMEOUT)


@pytest.fixture(scope="session")
def musl_rust_env() -> dict[str, str]:
    """rustup's cargo with the musl std of the three columns: added as `setup` adds it (skips
    when there is no rustup, or its download fails)."""
    if not os.access(RUSTUP_CARGO, os.X_OK):
        pytest.skip(f"no rustup cargo at {RUSTUP_CARGO} (Debian's Rust has no musl std)")
    env = {**os.environ, "CARGO_HOME": str(REAL_HOME / ".cargo"), "RUSTUP_HOME": str(REAL_HOME / ".rustup")}
    env["PATH"] = f"{RUSTUP_CARGO.parent}:{env.get('PATH', '')}"
    env.pop("CARGO", None)
    env.pop("RUSTC", None)
    setup = [sys.executable, "-m", "pytest_multiarch", "setup", "--arch=musl", "--without=qemu,go,cross",
             "--rust-from=rustup", "--quiet"]  # fmt: skip
    subprocess.run(setup, env=env, capture_output=True, timeout=600, check=False)
    sysroot = subprocess.run(
        [str(RUSTUP_CARGO.parent / "rustc"), "--print", "sysroot"], env=env, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    lacking = [t for t in TRIPLES.values() if not (Path(sysroot) / "lib/rustlib" / t / "lib").is_dir()]
    if lacking:
        pytest.skip(f"`setup --arch=musl` could not add the musl std ({', '.join(lacking)}) to {sysroot}")
    return {
        "CARGO": str(RUSTUP_CARGO),
        "RUSTC": str(RUSTUP_CARGO.parent / "rustc"),
        "CARGO_HOME": env["CARGO_HOME"],
        "RUSTUP_HOME": env["RUSTUP_HOME"],
        "RUST_BACKTRACE": "0",
    }


@pytest.fixture
def mpytester(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    musl_rust_env: Mapping[str, str],
    go_env: Mapping[str, str],
) -> pytest.Pytester:
    """``pytester`` whose inner runs use rustup's cargo (with the musl std) and the outer Go cache."""
    for key, value in {**go_env, **musl_rust_env}.items():
        monkeypatch.setenv(key, value)
    return pytester


STATIC_LIB = """
    /// Whether this very program has no ELF interpreter (PT_INTERP): statically linked.
    pub fn linked_statically() -> bool {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let wide = exe[4] == 2;
        let u16_at = |o: usize| u16::from_ne_bytes([exe[o], exe[o + 1]]) as usize;
        let u32_at = |o: usize| u32::from_ne_bytes(exe[o..o + 4].try_into().unwrap()) as usize;
        let (phoff, size, count) = if wide {
            (u64::from_ne_bytes(exe[0x20..0x28].try_into().unwrap()) as usize, u16_at(0x36), u16_at(0x38))
        } else {
            (u32_at(0x1c), u16_at(0x2a), u16_at(0x2c))
        };
        (0..count).all(|i| u32_at(phoff + i * size) != 3)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn built_for_musl() {
            assert!(cfg!(target_env = "musl"), "target_env is not musl");
        }

        #[test]
        fn statically_linked() {
            assert!(super::linked_statically(), "the test binary has an ELF interpreter");
        }

        #[test]
        fn threads_and_heap() {
            let h = std::thread::spawn(|| (0..1000u64).map(|i| i * i).collect::<Vec<_>>().len());
            assert_eq!(h.join().unwrap(), 1000);
        }
    }
"""


def test_rust_crate_on_glibc_and_musl_columns(mpytester: pytest.Pytester) -> None:
    write_crate(mpytester.path, {"src/lib.rs": STATIC_LIB}, name="staticky")
    arches = ["amd64", "amd64-musl", "arm64-musl", "386-musl"]
    start = time.monotonic()
    result = run(mpytester, f"--arch={','.join(arches)}")
    cold = time.monotonic() - start
    expected = {}
    for a in arches:
        on_musl = a.endswith("-musl")
        expected[f"Cargo.toml::lib::tests::built_for_musl[{a}]"] = "passed" if on_musl else "failed"
        expected[f"Cargo.toml::lib::tests::statically_linked[{a}]"] = "passed" if on_musl else "failed"
        expected[f"Cargo.toml::lib::tests::threads_and_heap[{a}]"] = "passed"
    assert outcomes_by_id(result) == expected, result.stdout.str()
    assert "target_env is not musl" in section(result, "tests::built_for_musl [amd64]")
    result.stdout.fnmatch_lines(["*tests::built_for_musl: fails on amd64 (passes on amd64-musl, arm64-musl, "
                                 "386-musl) — exactly the glibc ones*"])  # fmt: skip
    # What cargo built: static ELF programs of each column's CPU.
    deps = mpytester.path / ".pytest_cache" / "d" / "multiarch" / "cargo-target"
    for a in ("amd64-musl", "arm64-musl", "386-musl"):
        (binary,) = [p for p in (deps / TRIPLES[a] / "debug" / "deps").glob("staticky-*") if p.suffix == ""]
        info = elf.read(binary)
        assert info.static and info.machine == archmod.get(a).elf_machine, info.describe()
    start = time.monotonic()
    again = run(mpytester, f"--arch={','.join(arches)}")
    warm = time.monotonic() - start
    assert outcomes_by_id(again) == expected
    print(f"musl crate: cold {cold:.1f}s, warm {warm:.1f}s")


def test_cc_crate_without_musl_c_compiler_is_a_skip_that_says_so(mpytester: pytest.Pytester) -> None:
    write_crate(
        mpytester.path,
        {
            "build.rs": 'fn main() { cc::Build::new().file("src/add.c").compile("add"); }\n',
            "src/add.c": "int c_add(int a, int b) { return a + b; }\n",
            "src/lib.rs": """
                extern "C" { fn c_add(a: i32, b: i32) -> i32; }
                #[cfg(test)]
                mod tests {
                    #[test]
                    fn adds_in_c() { assert_eq!(unsafe { super::c_add(2, 3) }, 5); }
                }
            """,
        },
        name="withc",
        manifest_extra='\n[build-dependencies]\ncc = "1"\n',
    )
    result = run(mpytester, "--arch=amd64,arm64-musl")
    assert outcomes_by_id(result) == {
        "Cargo.toml::lib::tests::adds_in_c[amd64]": "passed",  # glibc: the host's gcc compiles the C
        "Cargo.toml::[arm64-musl]": "skipped",
    }, result.stdout.str()
    result.stdout.fnmatch_lines([
        "SKIPPED *cannot be built for arm64-musl: the crate compiles C (the cc crate) for "
        "aarch64-unknown-linux-musl, and there is no musl C compiler for it here (cc looked for "
        "aarch64-linux-musl-gcc). Fix: Debian has no musl C cross compiler for arm64: set "
        "CC_aarch64_unknown_linux_musl*",
    ])  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    strict = run(mpytester, "--arch=arm64-musl", "--arch-strict")
    assert outcomes_by_id(strict) == {"Cargo.toml::[arm64-musl]": "failed"}


GO_STATIC_TEST = """
    package m

    import (
    \t"debug/elf"
    \t"os"
    \t"testing"
    )

    func TestStaticallyLinked(t *testing.T) {
    \texe, err := os.Executable()
    \tif err != nil {
    \t\tt.Fatal(err)
    \t}
    \tf, err := elf.Open(exe)
    \tif err != nil {
    \t\tt.Fatal(err)
    \t}
    \tdefer f.Close()
    \tfor _, p := range f.Progs {
    \t\tif p.Type == elf.PT_INTERP {
    \t\t\tt.Fatal("the test binary has an ELF interpreter: dynamically linked")
    \t\t}
    \t}
    }

    func TestBuiltWithoutCgo(t *testing.T) {
    \tif cgoOn {
    \t\tt.Fatal("built with cgo")
    \t}
    }

    func TestAdds(t *testing.T) {
    \tif 2+2 != 4 {
    \t\tt.Fatal("arithmetic")
    \t}
    }
"""


def test_go_module_on_glibc_and_musl_columns(gopytester: pytest.Pytester) -> None:
    """With multiarch_go_cgo on, the glibc column links with cgo (dynamic); the musl columns are
    CGO_ENABLED=0 whatever the setting: static."""
    write_module(gopytester.path, "m", {
        "m_test.go": GO_STATIC_TEST,
        "cgo_on.go": '//go:build cgo\n\npackage m\n\n// int one(void) { return 1; }\nimport "C"\n\n'
                     "var cgoOn = C.one() == 1\n",
        "cgo_off.go": "//go:build !cgo\n\npackage m\n\nvar cgoOn = false\n",
    })  # fmt: skip
    gopytester.makeini("[pytest]\nmultiarch_go_cgo = true\n")
    arches = ["amd64", "amd64-musl", "arm64-musl"]
    result = run(gopytester, f"--arch={','.join(arches)}")
    expected = {}
    for a in arches:
        on_musl = a.endswith("-musl")
        expected[f"m/go.mod::example.com/m::TestStaticallyLinked[{a}]"] = "passed" if on_musl else "failed"
        expected[f"m/go.mod::example.com/m::TestBuiltWithoutCgo[{a}]"] = "passed" if on_musl else "failed"
        expected[f"m/go.mod::example.com/m::TestAdds[{a}]"] = "passed"
    assert outcomes_by_id(result) == expected, result.stdout.str()
    result.stdout.fnmatch_lines(["*TestStaticallyLinked: fails on amd64 (passes on amd64-musl, arm64-musl)"
                                 " — exactly the glibc ones*"])  # fmt: skip


def _doctor(env: Mapping[str, str], *arches: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "pytest_multiarch", "doctor", f"--arch={','.join(arches)}"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return res.stdout


def test_doctor_shows_the_musl_target_std_and_rust_lld(musl_rust_env: Mapping[str, str]) -> None:
    out = _doctor(musl_rust_env, "arm64-musl", "x86_64-musl")
    arm64 = out.split("arm64-musl", 1)[1].split("amd64-musl", 1)[0]
    assert "ok go    builds GOARCH=arm64" in arm64
    assert "ok rust  builds aarch64-unknown-linux-musl with rustc" in arm64
    assert "std: rustup target aarch64-unknown-linux-musl, linker /" in arm64 and "/bin/rust-lld" in arm64
    assert "amd64-musl ok" in out


def test_debian_rust_has_no_musl_std_and_says_what_to_do(rust_env: Mapping[str, str]) -> None:
    out = _doctor(rust_env, "arm64-musl")
    assert "-- rust  the Rust 1.85.0 standard library for aarch64-unknown-linux-musl is not installed" in out
    assert "Debian has none to add (Debian packages no Rust std for musl targets)" in out
    assert "fix: use a rustup toolchain (multiarch_cargo / $CARGO) and run: rustup target add " \
           "aarch64-unknown-linux-musl" in out  # fmt: skip


def test_python_tests_build_and_run_programs_on_musl_columns(mpytester: pytest.Pytester) -> None:
    """go_build, cargo_build and run_on_arch on the musl columns: static programs of the CPU."""
    write_module(mpytester.path, "gotool", {"main.go": """
        package main

        import (
        \t"fmt"
        \t"runtime"
        )

        func main() { fmt.Println(runtime.GOARCH) }
    """})  # fmt: skip
    write_crate(mpytester.path / "rtool", {"src/main.rs": """
        fn main() {
            println!("{}", if cfg!(target_env = "musl") { "musl" } else { "gnu" });
        }
    """}, name="rtool")  # fmt: skip
    mpytester.makepyfile(
        test_tools="""
        from pathlib import Path

        from pytest_multiarch import elf

        HERE = Path(__file__).parent

        def test_tools(arch, go_build, cargo_build, run_on_arch):
            gobin = go_build(HERE / "gotool")
            assert run_on_arch(gobin).stdout.strip() == arch.goarch
            rbin = cargo_build(HERE / "rtool")
            assert run_on_arch(rbin).stdout.strip() == arch.libc
            assert elf.read(rbin).static is (arch.libc == "musl")
    """
    )
    result = run(mpytester, "test_tools.py", "--arch=amd64,amd64-musl,arm64-musl")
    result.assert_outcomes(passed=3)


def test_debian_rust_skips_the_musl_columns_with_the_fix(rpytester: pytest.Pytester) -> None:
    write_crate(rpytester.path, {"src/lib.rs": STATIC_LIB}, name="staticky")
    result = run(rpytester, "--arch=arm64-musl")
    assert outcomes_by_id(result) == {"Cargo.toml::[arm64-musl]": "skipped"}
    result.stdout.fnmatch_lines([
        "SKIPPED *cannot be built for arm64-musl: the Rust 1.85.0 standard library for "
        "aarch64-unknown-linux-musl is not installed in *, and Debian has none to add (Debian packages no "
        "Rust std for musl targets). Fix: use a rustup toolchain (multiarch_cargo / $CARGO) and run: "
        "rustup target add aarch64-unknown-linux-musl",
    ])  # fmt: skip
