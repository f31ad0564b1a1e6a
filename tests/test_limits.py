"""Time and output limits: the factors per executor and arch, and nonsense values refused as
usage errors before anything is built."""

from __future__ import annotations

import pytest

from pytest_multiarch.executors import BUILTIN
from pytest_multiarch.outcome import Clip
from pytest_multiarch.run import limits as timeouts


def test_factors_most_specific_first_and_measured_defaults() -> None:
    f = timeouts.parse_factors(["qemu=20, qemu:riscv64=40", "aarch64=3", "native=2"], BUILTIN.names())
    assert f == {"qemu": 20.0, "qemu:riscv64": 40.0, "arm64": 3.0, "native": 2.0}
    assert timeouts.factor(f, "qemu", "riscv64") == 40  # executor:arch
    assert timeouts.factor(f, "binfmt", "arm64") == 3  # arch, whatever emulates it
    assert timeouts.factor(f, "qemu", "s390x") == 20  # executor
    assert timeouts.factor(f, "native", "386") == 2
    assert timeouts.factor({}, "binfmt", "s390x") == timeouts.DEFAULT_FACTORS["s390x"] == 12
    assert timeouts.factor({}, "docker", "amd64") == 1  # the host's own arch in a container
    assert timeouts.factor({}, "native", "386") == 1


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("qemu=0", "a number > 0"),
        ("qemu=-2", "a number > 0"),
        ("qemu=fast", "a number > 0"),
        ("qemu", "KEY=FACTOR"),
        ("kvm:arm64=2", "unknown executor 'kvm'"),
        ("qemu:sparc=2", "unknown architecture 'sparc'"),
    ],
)
def test_bad_factors_say_what_is_wrong(entry: str, says: str) -> None:
    with pytest.raises(timeouts.ScaleError, match=says):
        timeouts.parse_factors([entry], BUILTIN.names())


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--arch-timeout=-1"], "argument --arch-timeout: '-1' is not a number of seconds >= 0"),
        (["--arch-timeout=ten"], "argument --arch-timeout: 'ten' is not a number of seconds"),
        (["--arch-timeout=inf"], "argument --arch-timeout: 'inf' is not a number of seconds >= 0"),
        (["--arch-test-timeout=-5"], "argument --arch-test-timeout: '-5' is not a number of seconds >= 0"),
        (["--arch-timeout-scale=qemu=0"], "--arch-timeout-scale / multiarch_timeout_scale: 'qemu=0'"),
        (["--arch-output-limit=lots"], "--arch-output-limit / multiarch_output_limit: 'lots' is not a size"),
        (["--arch-output-limit=10"], "--arch-output-limit: '10' is too small; use 1K or more"),
        (["--arch-reruns=-1"], "argument --arch-reruns: -1 is negative"),
    ],
)
def test_nonsense_limits_are_usage_errors(pytester: pytest.Pytester, args: list[str], says: str) -> None:
    pytester.makepyfile("def test_x(arch):\n    pass\n")
    res = pytester.runpytest_subprocess("--arch=arm64", *args)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert says in res.stderr.str()
    assert "Traceback" not in res.stderr.str() + res.stdout.str()


@pytest.mark.parametrize(
    ("ini", "says"),
    [
        ("multiarch_timeout = -3", "multiarch_timeout: '-3' is not a number of seconds >= 0"),
        ("multiarch_test_timeout = soon", "multiarch_test_timeout: 'soon' is not a number of seconds"),
        ("multiarch_timeout_scale = qemu=2 sparc=3", "unknown architecture 'sparc'"),
        ("multiarch_reruns = many", "multiarch_reruns: 'many' is not a whole number >= 0"),
        ("multiarch_test_cache = no", "multiarch_test_cache: 'no' is neither on nor off"),
    ],
)
def test_nonsense_ini_limits_are_usage_errors(pytester: pytest.Pytester, ini: str, says: str) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_x(arch):\n    pass\n")
    res = pytester.runpytest_subprocess("--arch=arm64")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert says in res.stderr.str()


def test_zero_means_no_limit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(arch):\n    pass\n")
    res = pytester.runpytest_subprocess("--arch=arm64", "--arch-timeout=0", "--arch-test-timeout=0")
    assert res.ret == 0
    res.stdout.fnmatch_lines(["multiarch: arches arm64 *timeout none*"])


def test_clip_keeps_head_and_tail_and_says_what_was_cut() -> None:
    clip = Clip(1000)
    for i in range(10_000):
        clip.add(f"line {i}\n")
    text = clip.text("/logs/x.out")
    assert text.startswith("line 0\nline 1\n") and text.endswith("line 9999\n")
    assert "characters cut; the whole output is in /logs/x.out ...]" in text
    assert len(text) < 1100
    small = Clip(1000)
    small.add("short\n")
    assert small.text("/x") == "short\n"
