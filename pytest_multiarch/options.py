"""The plugin's command-line options and ini keys."""

from __future__ import annotations

import argparse

import pytest

from pytest_multiarch.settings import DEFAULT_TIMEOUT, parse_seconds

MATRIX_ROWS = ("differing", "all", "none")  # which rows the terminal grid shows (--multiarch-rows)


def _seconds(text: str) -> float:
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; use 0 for no re-runs")
    return value


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("multiarch", "run Go/Rust tests on many CPU architectures")
    group.addoption(
        "--arch",
        dest="multiarch_arch",
        action="append",
        metavar="ARCHES",
        help="architectures to build and run for: comma list, repeatable; names, aliases, "
        "'native', 'all' (default: native). Collects Go modules and Rust crates.",
    )
    group.addoption(
        "--arch-executor",
        dest="multiarch_executor",
        default="auto",
        metavar="EXECUTOR",
        help="how foreign binaries run: auto (native when the host can, else a remote machine of the "
        "arch configured with --arch-remote, else a registered binfmt_misc handler, else qemu), "
        "native, ssh, binfmt, qemu, docker, or an executor a hook adds",
    )
    group.addoption(
        "--arch-remote",
        dest="multiarch_remote",
        action="append",
        default=[],
        metavar="ARCH=DESTINATION",
        help="run ARCH's tests on this machine over ssh (user@host, an ~/.ssh/config alias, or "
        "ssh://user@host:port); repeatable, several per arch; added to multiarch_remotes",
    )
    group.addoption(
        "--arch-timeout",
        dest="multiarch_timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=f"stop a test process (one binary on one arch) after this long, in native seconds "
        f"scaled for the arch's emulation (default {DEFAULT_TIMEOUT:.0f}, like `go test -timeout`; 0: none)",
    )
    group.addoption(
        "--arch-test-timeout",
        dest="multiarch_test_timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="stop the process when one test runs longer than this, in native seconds scaled for the "
        "arch's emulation; that test fails, the others run again (default 0: none)",
    )
    group.addoption(
        "--arch-timeout-scale",
        dest="multiarch_timeout_scale",
        action="append",
        metavar="KEY=FACTOR",
        help="multiply timeouts by FACTOR for an executor, an arch or EXECUTOR:ARCH, e.g. "
        "qemu:riscv64=40 (defaults: measured emulation slowdowns; repeatable, comma lists)",
    )
    group.addoption(
        "--arch-output-limit",
        dest="multiarch_output_limit",
        metavar="SIZE",
        help="characters of a test's output kept in reports (its head and tail; default 1M); a failed "
        "batch's whole output stays in a log file the report names",
    )
    group.addoption(
        "--binfmt-install",
        dest="multiarch_binfmt_install",
        action="store_true",
        help="register QEMU binfmt_misc handlers the selected architectures lack for this session, "
        "and remove them at its end (needs root); without it the plugin changes no system state",
    )
    group.addoption(
        "--arch-strict",
        dest="multiarch_strict",
        action="store_true",
        help="a requested architecture that cannot build or run is an error, not a skip",
    )
    group.addoption(
        "--multiarch-report",
        dest="multiarch_report",
        metavar="FILE.json",
        help="write the per-architecture results as JSON",
    )
    group.addoption(
        "--arch-cache-dir",
        dest="multiarch_cache_dir",
        metavar="DIR",
        help="where built test binaries and test lists are cached (default: $MULTIARCH_CACHE_DIR, "
        "else the multiarch_cache_dir ini key, else .pytest_cache/d/multiarch)",
    )
    group.addoption(
        "--arch-cache-clear",
        dest="multiarch_cache_clear",
        action="store_true",
        help="empty the build cache before the run (everything is built and listed anew)",
    )
    group.addoption(
        "--arch-test-cache",
        dest="multiarch_test_cache",
        choices=("on", "off"),
        default=None,
        help="keep Go tests' passing results and replay them while the test binary, arch, emulator, "
        "arguments and every variable and module file the tests read are unchanged, as go test "
        "does without -exec (default on; ini multiarch_test_cache; GOFLAGS=-count=1 also turns it off)",
    )
    group.addoption(
        "--arch-reuse-passed",
        dest="multiarch_reuse_passed",
        action="store_true",
        help="do not run again a batch whose binary, arch, executor, emulator, arguments and "
        "environment are unchanged since it last passed: report its tests as passed (cached)",
    )
    group.addoption(
        "--arch-reruns",
        dest="multiarch_reruns",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="re-run a failed Go/Rust test up to N times, alone in a fresh process; one that then "
        "passes is reported passed and flaky (default 0; ini multiarch_reruns)",
    )
    group.addoption(
        "--arch-matrix",
        dest="multiarch_matrix",
        choices=MATRIX_ROWS,
        default=None,
        help="rows of the terminal matrix (tests x architectures): differing (tests whose outcome "
        "differs, flaky ones, infra errors; the default), all (the default with -v), none",
    )
    group.addoption(
        "--multiarch-markdown",
        dest="multiarch_markdown",
        metavar="FILE.md",
        help="write the matrix and diagnosis as GitHub-flavoured Markdown tables",
    )
    group.addoption(
        "--multiarch-step-summary",
        dest="multiarch_step_summary",
        action="store_true",
        help="append the Markdown matrix to the file $GITHUB_STEP_SUMMARY names (GitHub Actions), "
        "when that variable is set",
    )
    group.addoption(
        "--multiarch-html",
        dest="multiarch_html",
        metavar="FILE.html",
        help="write the matrix as one self-contained HTML page (totals, diagnosis, failures' output)",
    )
    group.addoption(
        "--multiarch-junit-per-arch",
        dest="multiarch_junit_per_arch",
        action="store_true",
        help="with --junitxml: one <testsuite> per architecture instead of one for the whole run",
    )
    parser.addini("multiarch_cache_dir", default=None, help="default for --arch-cache-dir")
    parser.addini(
        "multiarch_remotes",
        type="args",
        default=[],
        help="machines that run an architecture's tests over ssh: ARCH=DESTINATION entries, e.g. "
        "arm64=ci@graviton-1 arm64=ci@graviton-2 s390x=linux1@z.example",
    )
    parser.addini(
        "multiarch_ssh_config", default=None, help="the ssh client's config file (ssh -F) for the remotes"
    )
    parser.addini(
        "multiarch_ssh_env",
        type="args",
        default=[],
        help="variables of this environment sent to remote test processes besides the plugin's own "
        "(nothing else is sent)",
    )
    parser.addini(
        "multiarch_docker_images",
        type="args",
        default=[],
        help="the docker executor's image per architecture, e.g. arm64=myorg/app:arm64 "
        "(default: an image built here from scratch with the cross sysroot)",
    )
    parser.addini(
        "multiarch_cache_max_size",
        default=None,
        help="prune the least recently used cache entries beyond this size at the end of a run "
        "(e.g. 500M, 2G; default 2G)",
    )
    parser.addini(
        "multiarch_collect",
        type="args",
        default=[],
        help="collect these kinds of tests without --arch: go, rust",
    )
    parser.addini(
        "multiarch_xfail",
        type="linelist",
        default=[],
        help="known failures per architecture, one per line: `ARCHES: TEST[: REASON]`, e.g. "
        "`s390x: example.com/m::TestDecodeWire` (strict xfail: XPASS fails)",
    )
    parser.addini("multiarch_timeout", default=None, help="default for --arch-timeout (seconds)")
    parser.addini("multiarch_reruns", default=None, help="default for --arch-reruns")
    parser.addini("multiarch_test_cache", default=None, help="default for --arch-test-cache (on, off)")
    parser.addini("multiarch_test_timeout", default=None, help="default for --arch-test-timeout (seconds)")
    parser.addini(
        "multiarch_timeout_scale", type="args", default=[], help="timeout factors, as --arch-timeout-scale"
    )
    parser.addini("multiarch_output_limit", default=None, help="default for --arch-output-limit")
    parser.addini("multiarch_go_tags", type="args", default=[], help="build tags for Go test binaries")
    parser.addini(
        "multiarch_go_cgo",
        type="bool",
        default=False,
        help="build Go tests with CGO_ENABLED=1 and the cross C compiler",
    )
    parser.addini(
        "multiarch_cargo",
        default=None,
        help="path of the cargo to use when $CARGO is not set (default: PATH)",
    )
