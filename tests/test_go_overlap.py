"""Building and running at once: a package's tests run as soon as its test binary exists, while
go still compiles the module's other packages. Real go, real qemu."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from gohelpers import outcomes_by_id, section, write_module
from stubs import write_executable

EMULATED = "arm64"
SLOW_FUNCTIONS = 5000  # a few seconds of compiling for arm64 (its nonce defeats go's build cache)

FAST = {
    "fast/fast.go": "package fast\n\nfunc Fast() int { return 1 }\n",
    "fast/fast_test.go": """
        package fast

        import (
            "os"
            "strconv"
            "testing"
            "time"
        )

        func TestFast(t *testing.T) {
            stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
            if err := os.WriteFile(os.Getenv("OVERLAP_STAMP"), []byte(stamp), 0o644); err != nil {
                t.Fatal(err)
            }
            if Fast() != 1 {
                t.Fatal("Fast")
            }
        }
    """,
}


def slow_package() -> dict[str, str]:
    """A package that takes seconds to compile: many generated functions, and a fresh nonce so
    that go's build cache (shared with the outer run) never has it."""
    body = [f'package slow\n\nconst Nonce = "{uuid.uuid4()}"\n']
    for i in range(SLOW_FUNCTIONS):
        body.append(
            f"func F{i}(x int) int {{\n\ty := x*{i + 3} + {i}\n"
            f"\tfor j := 0; j < {i % 7 + 2}; j++ {{\n\t\ty ^= y<<3 + j\n\t}}\n\treturn y\n}}\n"
        )
    body.append("func All() int {\n\ts := 0\n")
    body += [f"\ts += F{i}(s)\n" for i in range(SLOW_FUNCTIONS)]
    body.append("\treturn s\n}\n")
    test = 'package slow\n\nimport "testing"\n\nfunc TestSlow(t *testing.T) { _ = All() }\n'
    return {"slow/slow.go": "".join(body), "slow/slow_test.go": test}


def _timed_go(tmp: Path, go: str) -> Path:
    """A `go` that appends the time (ns) each `go test -c` ended to a file, whose path it returns."""
    ended = tmp / "go-test-ended"
    (tmp / "go-wrapper").mkdir(exist_ok=True)
    script = (
        f'#!/bin/sh\nif [ "$1" = test ]; then\n"{go}" "$@"\nrc=$?\n'
        f'date +%s%N >> "{ended}"\nexit $rc\nfi\nexec "{go}" "$@"\n'
    )
    write_executable(tmp / "go-wrapper" / "go", script)
    return ended


def test_a_package_runs_while_another_still_compiles(
    gopytester: pytest.Pytester, go: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(gopytester.path, "overlap", {**FAST, **slow_package()})
    ended = _timed_go(gopytester.path, go)
    stamp = gopytester.path / "fast-ran-at"
    monkeypatch.setenv("MULTIARCH_GO", str(gopytester.path / "go-wrapper" / "go"))
    monkeypatch.setenv("OVERLAP_STAMP", str(stamp))
    result = gopytester.runpytest(f"--arch={EMULATED}", "--arch-executor=qemu", "-v")
    assert outcomes_by_id(result) == {
        f"overlap/go.mod::fast::TestFast[{EMULATED}]": "passed",
        f"overlap/go.mod::slow::TestSlow[{EMULATED}]": "passed",
    }, result.stdout.str()
    builds = ended.read_text().split()
    assert len(builds) == 1, builds  # one `go test -c` for both packages
    ran, built = int(stamp.read_text()), int(builds[0])
    # TestFast ran under qemu before go had finished compiling (and linking) the slow package.
    assert ran < built, f"TestFast ran {(ran - built) / 1e9:.2f} s after the build ended"


def test_a_package_that_does_not_compile_fails_alone(gopytester: pytest.Pytester) -> None:
    write_module(
        gopytester.path,
        "broken",
        {
            "good/good.go": "package good\n\nfunc Good() int { return 2 }\n",
            "good/good_test.go": """
                package good

                import "testing"

                func TestGood(t *testing.T) { if Good() != 2 { t.Fatal("Good") } }
            """,
            "bad/bad.go": "package bad\n\nfunc Bad() int { return notDefinedAnywhere }\n",
            "bad/bad_test.go": """
                package bad

                import "testing"

                func TestBad(t *testing.T) { _ = Bad() }
            """,
        },
    )
    result = gopytester.runpytest(f"--arch={EMULATED}", "--arch-executor=qemu", "-v")
    assert outcomes_by_id(result) == {
        f"broken/go.mod::bad::TestBad[{EMULATED}]": "failed",
        f"broken/go.mod::good::TestGood[{EMULATED}]": "passed",
    }, result.stdout.str()
    shown = section(result, f"TestBad [{EMULATED}]")
    assert "undefined: notDefinedAnywhere" in shown
    assert "bad/bad.go:3" in shown
