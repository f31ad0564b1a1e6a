"""Every option, ini key and environment variable the plugin reads, read once per session
(``Settings.from_config``, at configure) and typed. No other module of the plugin reads the
config; the lower layers receive these values as arguments (``env.py`` names the variables)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch import env as envvars
from pytest_multiarch import errors
from pytest_multiarch.arch import Arch
from pytest_multiarch.cache.store import DEFAULT_MAX_BYTES
from pytest_multiarch.executors import ExecutorUnavailable, Registry, UnknownExecutor, ssh_remote
from pytest_multiarch.executors import registry as executor_registry
from pytest_multiarch.executors.ssh import SshExecutor
from pytest_multiarch.outcome import DEFAULT_OUTPUT_LIMIT
from pytest_multiarch.run import limits as timeouts

DEFAULT_TIMEOUT = 600.0  # like `go test -timeout 10m`: per test process, emulation included
COLLECT_KINDS = ("go", "rust")


@dataclass
class Outputs:
    """Where the matrix goes besides the terminal."""

    json: Path | None = None
    markdown: Path | None = None
    html: Path | None = None
    step_summary: bool = False  # append the Markdown to $GITHUB_STEP_SUMMARY when it is set
    rows: str = "differing"  # which rows the terminal grid shows


@dataclass(frozen=True)
class Settings:
    arches: list[Arch]
    executor: str
    timeout: float
    strict: bool
    collect: frozenset[str]
    go_tags: tuple[str, ...]
    go_cgo: bool
    cargo: str | None
    cache_dir: Path | None = None  # None: pytest's cache directory (.pytest_cache/d/multiarch)
    cache_clear: bool = False
    cache_max_bytes: int = DEFAULT_MAX_BYTES
    reuse_passed: bool = False
    test_cache: bool = True  # Go's test-result cache (--arch-test-cache, run/testcache.py)
    reruns: int = 0
    test_timeout: float = 0.0  # native seconds one test may run (0: no per-test limit)
    timeout_factors: dict[str, float] = field(default_factory=dict)  # see run/limits.py
    output_limit: int = DEFAULT_OUTPUT_LIMIT  # characters of output kept per test
    docker_images: dict[str, str] = field(default_factory=dict)  # arch name → image
    outputs: Outputs = field(default_factory=Outputs)  # the report files, the terminal grid's rows
    # The files the session writes at its end, as given: (option, value); --junitxml too with
    # --junit-per-arch, since the plugin rewrites it. Checked at configure, before any build.
    report_files: tuple[tuple[str, str], ...] = ()
    junit_per_arch: bool = False  # --junit-per-arch: regroup pytest's JUnit file per arch
    binfmt_install: bool = False  # --binfmt-install: register handlers for this session
    xfail: tuple[str, ...] = ()  # the multiarch_xfail lines, checked by xfail.parse
    progress_every: float = 0.0  # seconds between progress lines; 0: none (-q, xdist worker)
    xdist_worker: bool = False  # this process is an xdist worker (it writes no report file)
    xdist_controller: bool = False  # -n: this process starts xdist workers
    registry: Registry = field(default_factory=executor_registry.default)  # hook-added executors too

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        values: list[str] = config.getoption("multiarch_arch") or []
        registry = executors_of(config)
        configure_remotes(config, registry)
        executor = config.getoption("multiarch_executor")
        try:  # checked here, not by argparse: the executors hooks add are known only now
            registry.validate(executor)
        except UnknownExecutor as exc:
            raise errors.usage_error(exc, "--arch-executor") from None
        try:
            archmod.reject_empty(values)
            arches = archmod.parse_list(values, all_arches=runnable_arches(executor, registry))
        except archmod.ArchError as exc:
            raise errors.usage_error(exc, "--arch") from None
        entries: list[str] = config.getini("multiarch_collect")
        collect = {kind.strip().lower() for entry in entries for kind in entry.split(",") if kind.strip()}
        unknown = collect - set(COLLECT_KINDS)
        if unknown:
            raise pytest.UsageError(
                f"multiarch_collect: unknown kind(s) {sorted(unknown)}; use any of {', '.join(COLLECT_KINDS)}"
            )
        if values:
            collect = set(COLLECT_KINDS)
        timeout = _seconds(config, "multiarch_timeout", DEFAULT_TIMEOUT)
        test_timeout = _seconds(config, "multiarch_test_timeout", 0.0)
        try:
            given = config.getoption("multiarch_timeout_scale") or []
            entries = [*config.getini("multiarch_timeout_scale"), *given]
            factors = timeouts.parse_factors(entries, registry.names())
        except timeouts.ScaleError as exc:
            raise errors.usage_error(exc, "--arch-timeout-scale / multiarch_timeout_scale") from None
        limit_text = config.getoption("multiarch_output_limit") or config.getini("multiarch_output_limit")
        try:
            output_limit = parse_size(limit_text) if limit_text else DEFAULT_OUTPUT_LIMIT
        except ValueError as exc:
            raise errors.usage_error(exc, "--arch-output-limit / multiarch_output_limit") from None
        if output_limit < 1024:
            raise pytest.UsageError(f"--arch-output-limit: {limit_text!r} is too small; use 1K or more")
        cargo = config.getini("multiarch_cargo") or None
        cache_dir = (
            config.getoption("multiarch_cache_dir")
            or envvars.cache_dir()
            or config.getini("multiarch_cache_dir")
            or None
        )
        images = {}
        for entry in config.getini("multiarch_docker_images"):
            name, sep, image = entry.partition("=")
            try:
                arch = archmod.get(name)
            except archmod.ArchError as exc:
                raise errors.usage_error(exc, "multiarch_docker_images") from None
            if not sep or not image:
                raise pytest.UsageError(f"multiarch_docker_images: {entry!r} is not ARCH=IMAGE")
            images[arch.name] = image
        try:
            max_bytes = parse_size(config.getini("multiarch_cache_max_size") or str(DEFAULT_MAX_BYTES))
        except ValueError as exc:
            raise errors.usage_error(exc, "multiarch_cache_max_size") from None
        reruns = config.getoption("multiarch_reruns")
        if reruns is None:
            text = config.getini("multiarch_reruns") or "0"
            if not text.strip().isdigit():
                raise pytest.UsageError(f"multiarch_reruns: {text!r} is not a whole number >= 0")
            reruns = int(text)
        test_cache = config.getoption("multiarch_test_cache") or config.getini("multiarch_test_cache") or "on"
        if test_cache not in ("on", "off"):
            raise pytest.UsageError(f"multiarch_test_cache: {test_cache!r} is neither on nor off")
        # -v/-q as an int: config.get_verbosity() is pytest 8.0+, the plugin supports 7.4.
        verbose = int(config.getoption("verbose"))
        worker = hasattr(config, "workerinput")
        every = envvars.progress_seconds()
        return cls(
            arches=arches,
            executor=executor,
            timeout=float(timeout),
            strict=bool(config.getoption("multiarch_strict")),
            collect=frozenset(collect),
            go_tags=tuple(config.getini("multiarch_go_tags")),
            go_cgo=bool(config.getini("multiarch_go_cgo")),
            cargo=os.path.expanduser(cargo) if cargo else None,
            cache_dir=Path(os.path.expanduser(cache_dir)).absolute() if cache_dir else None,
            cache_clear=bool(config.getoption("multiarch_cache_clear")),
            cache_max_bytes=max_bytes,
            reuse_passed=bool(config.getoption("multiarch_reuse_passed")),
            test_cache=test_cache == "on" and not disabled_by_goflags(os.environ.get("GOFLAGS", "")),
            reruns=reruns,
            test_timeout=test_timeout,
            timeout_factors=factors,
            output_limit=output_limit,
            docker_images=images,
            outputs=Outputs(
                json=_path(config, "multiarch_report"),
                markdown=_path(config, "multiarch_markdown"),
                html=_path(config, "multiarch_html"),
                step_summary=bool(config.getoption("multiarch_step_summary")),
                rows=config.getoption("multiarch_matrix") or ("all" if verbose > 0 else "differing"),
            ),
            report_files=_report_files(config),
            junit_per_arch=bool(config.getoption("multiarch_junit_per_arch")),
            binfmt_install=bool(config.getoption("multiarch_binfmt_install")),
            xfail=tuple(config.getini("multiarch_xfail")),
            progress_every=0.0 if worker or verbose < 0 or every <= 0 else every,
            xdist_worker=worker,
            xdist_controller=bool(getattr(config.option, "numprocesses", None)),
            registry=registry,
        )


def disabled_by_goflags(goflags: str) -> bool:
    """GOFLAGS with -count=N (the idiom is -count=1) turns go test's result cache off: ours too."""
    return any(f.lstrip("-").startswith("count=") for f in goflags.split())


def _path(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return Path(value) if value else None


# The files a session writes at its end: the option, and its dest.
_REPORT_OPTIONS = (("--multiarch-report", "multiarch_report"), ("--multiarch-markdown", "multiarch_markdown"),
                   ("--multiarch-html", "multiarch_html"))  # fmt: skip


def _report_files(config: pytest.Config) -> tuple[tuple[str, str], ...]:
    wanted = list(_REPORT_OPTIONS)
    if config.getoption("multiarch_junit_per_arch"):  # we rewrite pytest's file: it must be writable
        wanted.append(("--junitxml", "xmlpath"))
    given = ((option, config.getoption(dest, None)) for option, dest in wanted)
    return tuple((option, str(value)) for option, value in given if value)


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3}  # fmt: skip


def parse_seconds(text: str) -> float:
    """A number of seconds >= 0 (0: no limit); ValueError saying what is wrong otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{text!r} is not a number of seconds >= 0 (0 means no limit)")
    return value


def _seconds(config: pytest.Config, name: str, default: float) -> float:
    """The option's value (checked by its type), else the ini key's, else ``default``."""
    value = config.getoption(name)
    if value is not None:
        return float(value)
    text = config.getini(name)
    if not text:
        return default
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise errors.usage_error(exc, name) from None


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``1048576``: a size in bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size; write e.g. 500M or 2G")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def executors_of(config: pytest.Config) -> Registry:
    """The plugin's executors and those ``pytest_multiarch_executors`` hooks add."""
    registry = executor_registry.default()
    try:
        config.hook.pytest_multiarch_executors(config=config, registry=registry)
    except UnknownExecutor as exc:
        raise errors.usage_error(exc, "pytest_multiarch_executors") from None
    return registry


def configure_remotes(config: pytest.Config, registry: Registry) -> None:
    """Give the ssh executor its remotes (multiarch_remotes and --arch-remote), its ssh config
    file and the variables it may send, before any architecture is chosen."""
    entries = [*config.getini("multiarch_remotes"), *(config.getoption("multiarch_remote") or [])]
    try:
        remotes = ssh_remote.parse_remotes(entries)
    except ValueError as exc:
        raise pytest.UsageError(f"multiarch_remotes / --arch-remote: {exc}") from None
    ssh = registry.get(SshExecutor.name) if SshExecutor.name in registry.names() else None
    if isinstance(ssh, SshExecutor):
        ssh_config = config.getini("multiarch_ssh_config") or None
        ssh.configure(remotes, ssh_config=os.path.expanduser(ssh_config) if ssh_config else None,
                      env_names=config.getini("multiarch_ssh_env"))  # fmt: skip


def runnable_arches(executor: str, registry: Registry) -> list[Arch]:
    """What ``--arch=all`` means: every architecture this machine can run binaries of."""
    result = []
    for a in archmod.ARCHES:
        try:
            registry.select(a, executor)
        except ExecutorUnavailable as exc:
            if not exc.named:  # an emulator the user named stays in, to fail rather than vanish
                continue
        result.append(a)
    return result
