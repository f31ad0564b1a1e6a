"""Progress while long phases run: a cold build of a Go module and a Rust crate for four
architectures prints what it is doing (counts, the current build, elapsed time); -q keeps quiet."""

from __future__ import annotations

import re

import pytest
from gohelpers import write_module
from rusthelpers import write_crate

ARCHES = "--arch=arm64,s390x,ppc64le,arm"
GO = {
    f"p{i}/p_test.go": f'package p{i}\n\nimport "testing"\n\nfunc TestP(t *testing.T) {{}}\n'
    for i in range(3)
}
CRATE = {"src/lib.rs": "#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n"}


@pytest.fixture
def project(
    gopytester: pytest.Pytester, rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """One pytester with the outer Go cache and Debian's Rust (both fixtures set its environment)."""
    monkeypatch.setenv("MULTIARCH_PROGRESS_SECONDS", "0.3")  # the default is 10 s: these builds are shorter
    write_module(gopytester.path, "m", GO)
    write_crate(gopytester.path / "crate", CRATE, name="progressq")
    return gopytester


def test_a_cold_build_says_what_it_is_doing(project: pytest.Pytester) -> None:
    res = project.runpytest_subprocess(ARCHES, timeout=600)
    assert res.ret == 0
    out = res.stdout.str()
    assert re.search(
        r"multiarch: building the Rust tests of \S+Cargo.toml for arm64, s390x, ppc64le, arm", out
    )
    assert re.search(r"multiarch: built the Rust tests of \S+ in \d+s", out)
    waits = re.findall(r"multiarch: \d+s waiting for TestP on \w+; builds (\d+)/4 done.*", out)
    assert waits, out  # while Go builds run: how many of the module's 4 builds are done
    assert re.search(r"builds \d/4 done \(now: Go tests of m for \w+ \d+s\)", out)


def test_quiet_keeps_quiet(project: pytest.Pytester) -> None:
    res = project.runpytest_subprocess(ARCHES, "-q", timeout=600)
    assert res.ret == 0
    assert "multiarch: " not in res.stdout.str().split("multiarch: results per architecture")[0]


def test_a_build_that_fails_for_an_arch_says_so_not_built(
    rpytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIARCH_PROGRESS_SECONDS", "0.3")
    broken = '#[cfg(target_arch = "s390x")]\ncompile_error!("not on s390x");\n' + CRATE["src/lib.rs"]
    write_crate(rpytester.path / "crate", {"src/lib.rs": broken}, name="progressbroken")
    res = rpytester.runpytest_subprocess("--arch=arm64,s390x", timeout=600)
    assert res.ret == 1
    out = res.stdout.str()
    assert re.search(r"multiarch: the Rust tests of \S+Cargo.toml did not build for s390x in \d+s", out), out
    assert not re.search(r"multiarch: built the Rust tests", out)
    res.assert_outcomes(passed=1, failed=1)
