"""Which batch an item belongs to, read from its node id (all xdist's controller sees); and end to
end, with real go, cargo and qemu: every --dist mode, -k, --deselect, --lf and a plugin's own
deselection run each (test, arch) cell exactly as often as pytest reports it."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from gohelpers import write_module
from rusthelpers import write_crate

from pytest_multiarch.run.xdist import batch_scope


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        ("m/go.mod::p00::TestX[arm64]", "m/go.mod::p00[arm64]"),
        ("go.mod::example.com/m::TestX[s390x]", "go.mod::example.com/m[s390x]"),
        ("go.mod::d/b::TestY[arm]", "go.mod::d/b[arm]"),
        ("c/Cargo.toml::lib::tests::adds[arm64]", "c/Cargo.toml::lib[arm64]"),
        ("Cargo.toml::lib::adds[arm64]", "Cargo.toml::lib[arm64]"),
        ("Cargo.toml::tests/roundtrip::roundtrip[arm]", "Cargo.toml::tests/roundtrip[arm]"),
        # In no batch, or a batch of one: the item is its own scope.
        ("Cargo.toml::tests/program[arm]", "Cargo.toml::tests/program[arm]"),
        ("go.mod::[arm64]", "go.mod::[arm64]"),
        ("test_cli.py::test_decode[arm64]", "test_cli.py::test_decode[arm64]"),
        ("test_cli.py::test_plain", "test_cli.py::test_plain"),
    ],
)
def test_batch_scope(nodeid: str, scope: str) -> None:
    assert batch_scope(nodeid) == scope


def test_the_same_test_on_two_arches_is_two_batches() -> None:
    assert batch_scope("go.mod::p::TestA[arm64]") == batch_scope("go.mod::p::TestB[arm64]")
    assert batch_scope("go.mod::p::TestA[arm64]") != batch_scope("go.mod::p::TestA[s390x]")


# --- end to end: every (test, arch) cell runs once, whatever selects or distributes the tests -----------
# Each Go and Rust test appends "<test>[<GOARCH or Rust ARCH>]" to a file each time it runs: the test
# binaries themselves say how often each cell ran, whatever pytest reports.

EMULATED = "arm64"  # under qemu-user here (the tests run on amd64 machines)


def _go_package(name: str, tests: int, log: Path, fail: str = "") -> str:
    """A Go test file with ``tests`` tests that record each run in ``log``; ``fail`` fails on arm64."""
    lines = [f"package {name}", "", 'import (\n\t"os"\n\t"runtime"\n\t"testing"\n)', "",
             "func record(t *testing.T) {",
             f"\tf, err := os.OpenFile({json.dumps(str(log))}, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)",
             "\tif err != nil {\n\t\tpanic(err)\n\t}",
             f'\tf.WriteString("{name}." + t.Name() + "[" + runtime.GOARCH + "]\\n")',
             "\tf.Close()", "}", ""]  # fmt: skip
    for i in range(tests):
        failing = f"Test{i:02d}" == fail
        check = ' if runtime.GOARCH == "arm64" { t.Fatal("fails on arm64") }' if failing else ""
        lines.append(f"func Test{i:02d}(t *testing.T) {{ record(t);{check} }}")
    return "\n".join(lines) + "\n"


def _rust_lib(log: Path) -> str:
    """Three modules of three tests (loadscope's scopes are modules), each recording its runs."""
    lines = [
        "use std::io::Write;",
        "pub fn record(name: &str) {",
        f"    let path = {json.dumps(str(log))};",
        "    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();",
        '    f.write_all(format!("crate.{}[{}]\\n", name, std::env::consts::ARCH).as_bytes()).unwrap();',
        "}",
    ]
    for m in ("alpha", "beta", "gamma"):
        lines.append(f"#[cfg(test)]\nmod {m} {{")
        lines += [f'    #[test]\n    fn t{i}() {{ crate::record("{m}::t{i}"); }}' for i in range(3)]
        lines.append("}")
    return "\n".join(lines) + "\n"


def _runs(log: Path) -> Counter[str]:
    """How often each cell ran, by the test binaries' own record (Rust's ARCH named as Go's)."""
    if not log.exists():
        return Counter()
    return Counter(line.replace("[aarch64]", "[arm64]").replace("[x86_64]", "[amd64]")
                   for line in log.read_text().splitlines())  # fmt: skip


def _cell(nodeid: str) -> str:
    """``p0.Test03[arm64]`` or ``crate.alpha::t1[arm64]`` from a node id, as the tests record it."""
    test, arch = nodeid[:-1].rsplit("[", 1)
    if "go.mod::" in nodeid:
        package, name = test.split("go.mod::", 1)[1].split("::")
        return f"{package}.{name}[{arch}]"
    return f"crate.{test.split('::lib::', 1)[1]}[{arch}]"


def _reports(result: pytest.RunResult) -> Counter[str]:
    """How often each cell was reported (passed or failed), from -v lines with or without xdist."""
    found = [re.search(r"(?:^|\] )(PASSED|FAILED) (\S+\[\w+\])\s*$", ln) or
             re.match(r"^(\S+\[\w+\]) (PASSED|FAILED)", ln) for ln in result.outlines]  # fmt: skip
    ids = [m.group(2) if m.group(1) in ("PASSED", "FAILED") else m.group(1) for m in found if m]
    return Counter(_cell(i) for i in ids if "go.mod::" in i or "Cargo.toml::" in i)


@pytest.fixture(scope="module")
def arch_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One build cache for the module's inner runs: each project is built once."""
    return f"--arch-cache-dir={tmp_path_factory.mktemp('arch-cache')}"


@pytest.mark.parametrize("dist", [None, "load", "loadgroup", "loadscope", "loadfile", "worksteal", "each"])
def test_every_dist_mode_runs_each_cell_once_per_report(
    gopytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, rust_env: dict[str, str],
    arch_cache: str, dist: str | None,
) -> None:  # fmt: skip
    pytest.importorskip("xdist")
    for key, value in rust_env.items():
        monkeypatch.setenv(key, value)
    log = gopytester.path / "runs.log"
    write_module(gopytester.path, "m", {f"p{i}/p_test.go": _go_package(f"p{i}", 5, log) for i in range(2)})
    write_crate(gopytester.path / "crate", {"src/lib.rs": _rust_lib(log)}, name="crate")
    # The runs are counted: Go's result cache off (with --dist=each a worker would replay another's).
    args = [f"--arch=amd64,{EMULATED}", "-v", "-n", "2", arch_cache, "--arch-test-cache=off",
            *([f"--dist={dist}"] if dist else [])]  # fmt: skip
    result = gopytester.runpytest_subprocess(*args, timeout=600)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    reports = _reports(result)
    workers = 2 if dist == "each" else 1  # each: every worker runs (and reports) every test
    assert len(reports) == 2 * (10 + 9) and set(reports.values()) == {workers}, reports
    assert _runs(log) == reports  # no cell ran more often than it was reported
    if dist == "worksteal":
        result.stdout.fnmatch_lines(["*PytestConfigWarning: pytest-multiarch: --dist=worksteal would run*"])
    if dist not in ("loadfile", "each"):
        result.stdout.fnmatch_lines(["scheduling tests via BatchScheduling"])


SELECTIONS = {
    "-k": (["-k", "Test03 or Test04"], {"p0.Test03[amd64]", "p0.Test03[arm64]", "p0.Test04[amd64]",
                                         "p0.Test04[arm64]"}),
    "-k arch": (["-k", f"Test03 and {EMULATED}"], {f"p0.Test03[{EMULATED}]"}),
    "--deselect": (["--deselect", f"m/go.mod::p0::Test03[{EMULATED}]"], None),  # all but that cell
    "a plugin's wrapper": (["-p", "wrapdeselect"], {"p0.Test01[amd64]", "p0.Test01[arm64]"}),
}  # fmt: skip

# A plugin that deselects after everyone else, in the post-yield part of a wrapper (as --lf does).
WRAP_DESELECT = """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    yield
    keep = [i for i in items if "::Test01[" in i.nodeid]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
"""


@pytest.fixture
def fifty(gopytester: pytest.Pytester) -> Path:
    """A package of 50 tests, Test07 failing on arm64 only; the file its test binaries record runs in
    (Go's result cache off: runs are counted, and a re-run would replay the passed batches)."""
    gopytester.makeini("[pytest]\nmultiarch_test_cache = off\n")
    log = gopytester.path / "runs.log"
    write_module(gopytester.path, "m", {"p0/p_test.go": _go_package("p0", 50, log, fail="Test07")})
    return log


@pytest.mark.parametrize("how", list(SELECTIONS))
def test_selection_decides_what_runs(gopytester: pytest.Pytester, fifty: Path, how: str) -> None:
    gopytester.makepyfile(wrapdeselect=WRAP_DESELECT)
    args, expected = SELECTIONS[how]
    result = gopytester.runpytest_subprocess(f"--arch=amd64,{EMULATED}", "-v", *args)
    everything = {f"p0.Test{i:02d}[{a}]" for i in range(50) for a in ("amd64", EMULATED)}
    if expected is None:
        expected = everything - {f"p0.Test03[{EMULATED}]"}
    assert _runs(fifty) == Counter(expected), result.stdout.str()
    assert _reports(result) == Counter(expected)


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_last_failed_runs_only_the_failed_cell(gopytester: pytest.Pytester, fifty: Path, xdist: bool) -> None:
    if xdist:
        pytest.importorskip("xdist")
    workers = ["-n", "2"] if xdist else []
    first = gopytester.runpytest_subprocess(f"--arch=amd64,{EMULATED}", "-v", *workers)
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    assert len(_runs(fifty)) == 100 and set(_runs(fifty).values()) == {1}
    fifty.unlink()
    again = gopytester.runpytest_subprocess(f"--arch=amd64,{EMULATED}", "-v", "--lf", *workers)
    assert again.ret == pytest.ExitCode.TESTS_FAILED
    # One test under the emulator, by the test binary's own record: not the 99 others of its batch.
    assert _runs(fifty) == Counter({f"p0.Test07[{EMULATED}]": 1}), again.stdout.str()
    assert _reports(again) == Counter({f"p0.Test07[{EMULATED}]": 1})
    fifty.unlink()
    failed_first = gopytester.runpytest_subprocess(f"--arch=amd64,{EMULATED}", "-v", "--ff", *workers)
    assert failed_first.ret == pytest.ExitCode.TESTS_FAILED
    assert len(_runs(fifty)) == 100 and set(_runs(fifty).values()) == {1}  # all, each once
