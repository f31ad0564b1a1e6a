"""Go tests are found as `go test` finds them (the shipped lister applies cmd/go's rules to the
files `go list` reports per GOARCH), and a test of an external test package that shares its name
with one of the package's own is an item of its own. End to end, every item's verdict is
compared with `go test -json` run natively and, for arm64, under qemu. Real go, real qemu."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from gohelpers import outcomes_by_id, write_module

from pytest_multiarch import arch as archmod
from pytest_multiarch.cache.store import BuildCache
from pytest_multiarch.toolchains.go import discover as godiscover
from pytest_multiarch.toolchains.go.test2json import GoStream

HOST = archmod.host().name
EMULATED = "arm64" if HOST != "arm64" else "amd64"

# Every shape of issue 16: most of these tests fail, so a test that gets no item shows.
MODULE = {
    "m.go": "package m\n\nfunc Answer() int { return 41 }\n",
    "alias_test.go": """
        package m

        import tst "testing"

        func TestA(t *tst.T) { t.Fatal("TestA fails") }
    """,
    "dot_test.go": """
        package m

        import . "testing"

        func TestDot(t *T) { t.Fatal("TestDot fails") }
    """,
    "shapes_test.go": """
        package m

        import (
        \t"os"
        \t"testing"
        )

        var unnamedRan bool

        func TestMultiLine(
        \tt *testing.T,
        ) {
        \tt.Fatal("TestMultiLine fails")
        }

        func TestNoSpace(t*testing.T) { t.Fatal("TestNoSpace fails") }

        func TestComment(t *testing.T /* c */) { t.Fatal("TestComment fails") }

        \tfunc TestIndented(t *testing.T) { t.Fatal("TestIndented fails") }

        func TestUnnamed(*testing.T) { unnamedRan = true }

        func TestAfterUnnamed(t *testing.T) {
        \tif !unnamedRan {
        \t\tt.Fatal("TestUnnamed did not run before me")
        \t}
        \tt.Fatal("TestAfterUnnamed fails")
        }

        /*
        func TestInComment(t *testing.T) { t.Fatal("in a comment") }
        */

        var source = `
        func TestInString(t *testing.T) { t.Fatal("in a raw string") }
        `

        func TestPasses(t *testing.T) {
        \tif Answer() != 41 || source == "" {
        \t\tt.Fatal("no")
        \t}
        }

        type suite struct{}

        func (suite) TestMethod(t *testing.T) { t.Fatal("a method is no test") }

        func TestMain(m *testing.M) { os.Exit(m.Run()) }

        func FuzzSeeds(f *testing.F) {
        \tf.Add(1)
        \tf.Add(2)
        \tf.Fuzz(func(t *testing.T, n int) {
        \t\tif n == 2 {
        \t\t\tt.Fatal("seed 2 fails")
        \t\t}
        \t})
        }

        func BenchmarkNotRun(b *testing.B) { b.Fatal("benchmarks do not run") }
    """,
    "example_test.go": """
        package m

        import "fmt"

        func ExampleAnswer() {
        \tfmt.Println(Answer())
        \t// Output: 42
        }

        func ExampleAnswer_noOutput() {
        \tpanic("an example without an output comment is compiled, never run")
        }

        func ExampleAnswer_empty() {
        \t// Output:
        }
    """,
    "arm64_test.go": """
        //go:build arm64

        package m

        import "testing"

        func TestOnlyArm64(t *testing.T) { t.Fatal("arm64 only, fails") }
    """,
    "dup_test.go": """
        package m

        import "testing"

        func TestDup(t *testing.T) { t.Fatal("the package's own TestDup fails") }
    """,
    "dup_x_test.go": """
        package m_test

        import "testing"

        func TestDup(t *testing.T) {}

        func TestOnlyExternal(t *testing.T) { t.Fatal("TestOnlyExternal fails") }
    """,
    "testdata/data_test.go": """
        package m

        import "testing"

        func TestInTestdata(t *testing.T) { t.Fatal("testdata is never built") }
    """,
    # A file that does not parse, and a test function go refuses: no test of the package runs.
    "broken/broken_test.go": """
        package broken

        import "testing"

        func TestBroken(t *testing.T) { t.Fatal("never runs")
    """,
    "badsig/badsig_test.go": """
        package badsig

        import "testing"

        func TestGood(t *testing.T) {}

        func TestBadSignature(t *testing.T, n int) {}
    """,
}


def go_verdicts(go: str, module: Path, env: Mapping[str, str], arch: str) -> dict[str, str]:
    """What `go test -json ./...` says for ``arch``, as the node ids of our items: each top-level
    test's verdict (the second run of a name in one package is its external test package's), and
    an error for a package that fails with no test run."""
    argv = [go, "test", "-count=1", "-json", "./..."]
    run_env = {**env, "GOARCH": archmod.get(arch).goarch, "CGO_ENABLED": "0", "GOFLAGS": ""}
    if arch != HOST:
        qemu = shutil.which(f"qemu-{_qemu_name(arch)}-static")
        assert qemu, f"needs qemu-{_qemu_name(arch)}-static"
        argv[2:2] = ["-exec", qemu]
    res = subprocess.run(argv, cwd=module, env=run_env, capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stderr
    seen: dict[tuple[str, str], int] = {}
    ran: set[str] = set()
    verdicts: dict[str, str] = {}
    root = "example.com/" + module.name
    for line in res.stdout.splitlines():
        # Before Go 1.24, a package that fails before its tests build (vet's "wrong signature")
        # is one plain-text line amid the JSON: "FAIL\t<package> [setup failed]".
        plain = re.fullmatch(r"FAIL\t(\S+) \[(?:setup|build) failed\]", line)
        ev = {"Package": plain.group(1), "Action": "fail"} if plain else json.loads(line)
        package, test, action = ev.get("Package", ""), ev.get("Test", ""), ev.get("Action")
        node = f"{module.name}/go.mod::{package if package == root else package.removeprefix(root + '/')}"
        if action not in ("pass", "fail", "skip"):
            continue
        if test and "/" not in test:
            n = seen[package, test] = seen.get((package, test), 0) + 1
            name = test if n == 1 else f"{package.rsplit('/', 1)[-1]}_test.{test}"
            verdicts[f"{node}::{name}[{arch}]"] = {"pass": "passed", "fail": "failed", "skip": "skipped"}[
                action
            ]
            ran.add(package)
        elif not test and action == "fail" and package not in ran:
            verdicts[f"{node}::[{arch}]"] = "error"
    return verdicts


def _qemu_name(arch: str) -> str:
    return {"arm64": "aarch64", "amd64": "x86_64"}[arch]


def test_every_test_go_runs_has_an_item_with_gos_verdict_and_nothing_else(
    gopytester: pytest.Pytester, go: str, go_env: Mapping[str, str]
) -> None:
    module = write_module(gopytester.path, "m", MODULE, module="example.com/m")
    result = gopytester.runpytest_subprocess("-v", f"--arch={HOST},{EMULATED}", timeout=300)
    ours = outcomes_by_id(result)
    env = {**os.environ, **go_env}
    expected = {**go_verdicts(go, module, env, HOST), **go_verdicts(go, module, env, EMULATED)}
    assert ours == expected
    # The shapes of issue 16 are among them, failed as go fails them, on both architectures.
    for a in (HOST, EMULATED):
        for name in ("TestA", "TestDot", "TestMultiLine", "TestNoSpace", "TestComment", "TestIndented",
                     "TestAfterUnnamed", "TestDup", "FuzzSeeds", "ExampleAnswer"):  # fmt: skip
            assert ours[f"m/go.mod::example.com/m::{name}[{a}]"] == "failed"
        assert ours[f"m/go.mod::example.com/m::m_test.TestDup[{a}]"] == "passed"
        assert ours[f"m/go.mod::example.com/m::TestUnnamed[{a}]"] == "passed"
        assert ours[f"m/go.mod::broken::[{a}]"] == "error"
        assert ours[f"m/go.mod::badsig::[{a}]"] == "error"
    assert ours["m/go.mod::example.com/m::TestOnlyArm64[arm64]"] == "failed"
    assert not any("TestOnlyArm64[amd64]" in k for k in ours)
    text = result.stdout.str()
    for absent in ("TestInComment", "TestInString", "TestMethod", "TestInTestdata", "noOutput", "TestMain",
                   "BenchmarkNotRun"):  # fmt: skip
        assert f"::{absent}" not in text
    # The error items say what go says, and how to see it.
    result.stdout.fnmatch_lines([
        f"*cannot list the Go tests of package example.com/m/broken for {HOST}: "
        f"{module / 'broken' / 'broken_test.go'}:5:*: expected '}}', found 'EOF'",
    ])  # fmt: skip
    result.stdout.fnmatch_lines([
        f"*cannot list the Go tests of package example.com/m/badsig for {EMULATED}: *badsig_test.go:7:1: "
        "wrong signature for TestBadSignature, must be: func TestBadSignature(t [*]testing.T)",
    ])  # fmt: skip
    result.stdout.fnmatch_lines(["*Fix: run `go vet example.com/m/broken` in the module*"])


def test_a_test_of_the_external_package_runs_alone_by_its_go_name(gopytester: pytest.Pytester) -> None:
    files = {k: v for k, v in MODULE.items() if k.startswith("dup")}
    write_module(gopytester.path, "m", files, module="example.com/m")
    # Selected alone, m_test.TestDup runs as -test.run=^(TestDup)$: go runs both, and the
    # second run is its verdict; the package's own TestDup, not selected, is not reported.
    result = gopytester.runpytest_subprocess("-v", f"--arch={HOST},{EMULATED}", "-k", "m_test", timeout=300)
    assert outcomes_by_id(result) == {
        f"m/go.mod::example.com/m::m_test.TestDup[{a}]": "passed" for a in (HOST, EMULATED)
    }
    result = gopytester.runpytest_subprocess("-v", f"--arch={EMULATED}", "-k", "TestDup and not m_test")
    assert outcomes_by_id(result) == {f"m/go.mod::example.com/m::TestDup[{EMULATED}]": "failed"}


# --- the lister itself -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lister_cache(tmp_path_factory: pytest.TempPathFactory) -> BuildCache:
    return BuildCache(tmp_path_factory.mktemp("lister-cache"))


def listed(go: str, cache: BuildCache, tmp_path: Path, files: Mapping[str, str], *,
           ignored: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """The lister's raw JSON answer for one package made of ``files``."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    names = sorted(n for n in files if n not in ignored)
    own = [n for n in names if not files[n].lstrip().startswith("package x_test")]
    external = [n for n in names if n not in own]
    request = [{"dir": str(tmp_path), "test_go_files": own, "xtest_go_files": external,
                "ignored_test_files": list(ignored)}]  # fmt: skip
    exe = godiscover.lister(go, cache)
    res = subprocess.run([exe], input=json.dumps(request), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert len(answer) == 1
    result: dict[str, Any] = answer[0]
    return result


def names(answer: Mapping[str, Any], key: str = "tests") -> list[str]:
    return [t["name"] for t in answer[key]]


def test_lister_json_names_kinds_order_lines_and_package(
    go: str, lister_cache: BuildCache, tmp_path: Path
) -> None:
    own = (
        'package x\n\nimport (\n\t"testing"\n\tq "testing"\n)\n\n'
        "func ExampleZ() {\n\t// Unordered output: z\n}\n\n"  # examples run last, whatever their place
        "func FuzzF(f *testing.F) {}\n\n"
        "func TestB(t *q.T) {}\n\n"
        "func TestMain(t *testing.T) {}\n\n"  # *T: an ordinary test, as cmd/go says
        "func Test(t *testing.T) {}\n\n"  # "Test" alone is a test
        "func Testing(t *testing.T) {}\n\n"  # a lower-case letter after Test: not one
        "func Test_under(t *testing.T) {}\n\n"
        "func TestÉ(t *testing.T) {}\n\n"
        "func TestTwo(a, b *testing.T) {}\n"  # one parameter, two names: go refuses it
    )
    lines = own.splitlines()
    answer = listed(
        go, lister_cache, tmp_path, {"a_test.go": own.replace("func TestTwo(a, b *testing.T) {}\n", "")}
    )
    assert names(answer) == ["TestB", "TestMain", "Test", "Test_under", "TestÉ", "FuzzF", "ExampleZ"]
    tests = {t["name"]: t for t in answer["tests"]}
    assert tests["FuzzF"]["kind"] == "fuzz" and tests["ExampleZ"]["kind"] == "example"
    assert tests["TestB"] == {"name": "TestB", "kind": "test", "file": str(tmp_path / "a_test.go"),
                              "line": lines.index("func TestB(t *q.T) {}") + 1,
                              "external": False}  # fmt: skip
    assert "error" not in answer
    bad = listed(go, lister_cache, tmp_path, {"a_test.go": own})
    assert bad["error"] == (
        f"{tmp_path / 'a_test.go'}:{len(lines)}:1: "
        "wrong signature for TestTwo, must be: func TestTwo(t *testing.T)"
    )


def test_lister_json_external_package_and_files_left_out(
    go: str, lister_cache: BuildCache, tmp_path: Path
) -> None:
    files = {
        "a_test.go": 'package x\n\nimport "testing"\n\nfunc TestDup(t *testing.T) {}\n',
        "b_test.go": 'package x_test\n\nimport "testing"\n\n'
        "func TestDup(t *testing.T) {}\nfunc TestX(t *testing.T) {}\n",
        "c_test.go": '//go:build s390x\n\npackage x_test\n\nimport "testing"\n\n'
        "func TestBig(t *testing.T) {}\n",
        "d_test.go": "//go:build ignore\n\nthis is not Go\n",
    }
    answer = listed(go, lister_cache, tmp_path, files, ignored=("c_test.go", "d_test.go"))
    assert [(t["name"], t["external"]) for t in answer["tests"]] == [
        ("TestDup", False),
        ("TestDup", True),
        ("TestX", True),
    ]
    assert answer["xtest_package"] == "x_test"
    assert names(answer, "elsewhere") == ["TestBig"]
    found = godiscover.read_answer(answer)
    assert [(t.name, t.go_name) for t in found.tests] == [
        ("TestDup", "TestDup"),
        ("x_test.TestDup", "TestDup"),
        ("TestX", "TestX"),
    ]
    assert godiscover.run_order(found.tests) == {"TestDup": ["TestDup", "x_test.TestDup"]}
    assert found.tests[1].line == 4  # 0-based for pytest


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("package x\n\nfunc TestA(t *testing.T) {\n", ":3:28: expected '}', found 'EOF'"),
        ("package x\n\nimport \"testing\"\nfunc TestA[T any](t *testing.T) {}\n",
         ":4:1: wrong signature for TestA, test functions cannot have type parameters"),
        ("package x\n\nimport \"testing\"\nfunc TestMain(m *testing.M) {}\nfunc TestMain(m *testing.M) {}\n",
         "multiple definitions of TestMain"),
        ("package x\n\nimport \"testing\"\nfunc BenchmarkX(t *testing.T) {}\n",
         ":4:1: wrong signature for BenchmarkX, must be: func BenchmarkX(b *testing.B)"),
    ],
)  # fmt: skip
def test_lister_json_errors_are_gos(
    go: str, lister_cache: BuildCache, tmp_path: Path, source: str, where: str
) -> None:
    answer = listed(go, lister_cache, tmp_path, {"a_test.go": source})
    assert where in str(answer["error"])
    assert godiscover.read_answer(answer).error == answer["error"]


def test_a_shared_go_name_runs_twice_and_each_run_is_its_own_item() -> None:
    """The folder maps the second top-level run of TestDup in one process to m_test.TestDup."""
    out = (
        b"\x16=== RUN   TestDup\n    dup_test.go:5: own fails\n\x16--- FAIL: TestDup (0.00s)\n"
        b"\x16=== RUN   TestOther\n\x16--- PASS: TestOther (0.00s)\n"
        b"\x16=== RUN   TestDup\n\x16--- PASS: TestDup (0.00s)\n\x16FAIL\n"
    )
    stream = GoStream(run_order={"TestDup": ["TestDup", "m_test.TestDup"]})
    stream.feed(out)
    run = stream.finish()
    assert {n: o.status for n, o in run.outcomes.items()} == {
        "TestDup": "failed", "TestOther": "passed", "m_test.TestDup": "passed"
    }  # fmt: skip
    assert "own fails" in run.outcomes["TestDup"].output
    assert "own fails" not in run.outcomes["m_test.TestDup"].output
    # Without the order, one name: the later verdict would hide the failure (issue 16, point 3).
    plain = GoStream()
    plain.feed(out)
    assert set(plain.finish().outcomes) == {"TestDup", "TestOther"}


# --- shipping and caching the lister ----------------------------------------------------------------


def test_the_lister_is_built_once_per_go_and_its_source(go: str, tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    first = godiscover.lister(go, cache)
    assert first.is_file() and first.name == "golister"
    assert godiscover.lister(go, cache) == first
    assert len(list((tmp_path / "entries").rglob("golister"))) == 1


def test_the_lister_builds_whatever_go_env_w_set_for_the_code_under_test(
    go: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `go env -w GOFLAGS=-race` (for the code under test) would fail the lister's cgo-less build;
    # GOARCH=arm64 would build a lister this machine cannot run. Both are the user's, not ours.
    monkeypatch.setenv("GOENV", str(tmp_path / "goenv"))
    subprocess.run([go, "env", "-w", "GOFLAGS=-race", "GOARCH=arm64"], check=True, timeout=60)
    assert "-race" in (tmp_path / "goenv").read_text()
    exe = godiscover.lister(go, BuildCache(tmp_path / "cache"))
    assert exe.is_file()
    assert subprocess.run([exe], input=b"[]", capture_output=True, timeout=60).returncode == 0


def test_the_sdist_and_the_wheel_ship_the_lister_source(tmp_path: Path) -> None:
    pytest.importorskip("build")
    # A copy of the source tree without build leftovers (a stale *.egg-info/SOURCES.txt would
    # put files in the sdist that the configuration no longer names).
    source = tmp_path / "src"
    skip = shutil.ignore_patterns(".*", "*.egg-info", "build", "dist", "site", "target", "__pycache__")
    shutil.copytree(Path(__file__).resolve().parent.parent, source, ignore=skip)
    out = tmp_path / "dist"
    # The sdist, and the wheel built from it.
    argv = [sys.executable, "-m", "build", "-o", str(out), str(source)]
    try:  # the build backend pyproject.toml asks for, installed here: no download
        if tuple(int(p) for p in metadata.version("setuptools").split(".")[:2]) >= (77, 0):
            argv.insert(4, "--no-isolation")
    except metadata.PackageNotFoundError:
        pass
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for name in godiscover.SOURCE_FILES:
        assert f"pytest_multiarch/toolchains/go/lister/{name}" in in_wheel
        assert f"pytest_multiarch/toolchains/go/lister/{name}" in in_sdist


def test_the_external_name_does_not_depend_on_the_architecture() -> None:
    """Package m's TestDup is in a file left out on this arch: m_test's TestDup keeps the name it
    has where both build, and its one run here is its item."""
    answer = {
        "tests": [{"name": "TestDup", "kind": "test", "file": "/m/x_test.go", "line": 5, "external": True}],
        "elsewhere": [{"name": "TestDup", "file": "/m/z_test.go", "line": 7, "external": False}],
        "xtest_package": "m_test",
    }
    found = godiscover.read_answer(answer)
    assert [(t.name, t.go_name, t.line) for t in found.tests] == [("m_test.TestDup", "TestDup", 4)]
    assert [t.name for t in found.elsewhere] == ["TestDup"]
    order = godiscover.run_order(found.tests)
    assert order == {"TestDup": ["m_test.TestDup"]}
    stream = GoStream(run_order=order)
    stream.feed(b"\x16=== RUN   TestDup\n\x16--- PASS: TestDup (0.00s)\n\x16PASS\n")
    assert {n: o.status for n, o in stream.finish().outcomes.items()} == {"m_test.TestDup": "passed"}
