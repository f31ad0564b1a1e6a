"""The run's settings, read once from options and ini, and the per-session state."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.cache.store import DEFAULT_MAX_BYTES, BuildCache
from pytest_multiarch.executors import Executor, ExecutorUnavailable, Registry, UnknownExecutor
from pytest_multiarch.executors import registry as executor_registry
from pytest_multiarch.outcome import DEFAULT_OUTPUT_LIMIT
from pytest_multiarch.run import limits as timeouts
from pytest_multiarch.run.batch import Once, Scheduler
from pytest_multiarch.run.reuse import ReuseStore
from pytest_multiarch.run.supervise import Limits
from pytest_multiarch.toolchains.rust import Chosen, RustToolchain, choose_toolchain, toolchain_of

DEFAULT_TIMEOUT = 600.0  # like `go test -timeout 10m`: per test process, emulation included
COLLECT_KINDS = ("go", "rust")


@dataclass
class Settings:
    arches: list[Arch]
    executor: str
    timeout: float
    strict: bool
    collect: frozenset[str]
    go_tags: tuple[str, ...]
    go_cgo: bool
    cargo: str | None
    report_path: Path | None
    cache_dir: Path | None = None  # None: pytest's cache directory (.pytest_cache/d/multiarch)
    cache_clear: bool = False
    cache_max_bytes: int = DEFAULT_MAX_BYTES
    reuse_passed: bool = False
    reruns: int = 0
    test_timeout: float = 0.0  # native seconds one test may run (0: no per-test limit)
    timeout_factors: dict[str, float] = field(default_factory=dict)  # see timeouts.py
    output_limit: int = DEFAULT_OUTPUT_LIMIT  # characters of output kept per test
    docker_images: dict[str, str] = field(default_factory=dict)  # arch name → image
    registry: Registry = field(default_factory=executor_registry.default)  # hook-added executors too

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        values: list[str] = config.getoption("multiarch_arch") or []
        registry = executors_of(config)
        executor = config.getoption("multiarch_executor")
        try:  # checked here, not by argparse: the executors hooks add are known only now
            registry.validate(executor)
        except UnknownExecutor as exc:
            raise pytest.UsageError(f"--arch-executor: {exc}") from None
        try:
            archmod.reject_empty(values)
            arches = archmod.parse_list(values, all_arches=runnable_arches(executor, registry))
        except archmod.ArchError as exc:
            raise pytest.UsageError(f"--arch: {exc}") from None
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
            raise pytest.UsageError(f"--arch-timeout-scale / multiarch_timeout_scale: {exc}") from None
        limit_text = config.getoption("multiarch_output_limit") or config.getini("multiarch_output_limit")
        try:
            output_limit = parse_size(limit_text) if limit_text else DEFAULT_OUTPUT_LIMIT
        except ValueError as exc:
            raise pytest.UsageError(f"--arch-output-limit / multiarch_output_limit: {exc}") from None
        if output_limit < 1024:
            raise pytest.UsageError(f"--arch-output-limit: {limit_text!r} is too small; use 1K or more")
        report = config.getoption("multiarch_report")
        cargo = config.getini("multiarch_cargo") or None
        cache_dir = (
            config.getoption("multiarch_cache_dir")
            or os.environ.get("MULTIARCH_CACHE_DIR")
            or config.getini("multiarch_cache_dir")
            or None
        )
        images = {}
        for entry in config.getini("multiarch_docker_images"):
            name, sep, image = entry.partition("=")
            try:
                arch = archmod.get(name)
            except archmod.ArchError as exc:
                raise pytest.UsageError(f"multiarch_docker_images: {exc}") from None
            if not sep or not image:
                raise pytest.UsageError(f"multiarch_docker_images: {entry!r} is not ARCH=IMAGE")
            images[arch.name] = image
        try:
            max_bytes = parse_size(config.getini("multiarch_cache_max_size") or str(DEFAULT_MAX_BYTES))
        except ValueError as exc:
            raise pytest.UsageError(f"multiarch_cache_max_size: {exc}") from None
        reruns = config.getoption("multiarch_reruns")
        if reruns is None:
            text = config.getini("multiarch_reruns") or "0"
            if not text.strip().isdigit():
                raise pytest.UsageError(f"multiarch_reruns: {text!r} is not a whole number >= 0")
            reruns = int(text)
        return cls(
            arches=arches,
            executor=executor,
            timeout=float(timeout),
            strict=bool(config.getoption("multiarch_strict")),
            collect=frozenset(collect),
            go_tags=tuple(config.getini("multiarch_go_tags")),
            go_cgo=bool(config.getini("multiarch_go_cgo")),
            cargo=os.path.expanduser(cargo) if cargo else None,
            report_path=Path(report) if report else None,
            cache_dir=Path(os.path.expanduser(cache_dir)).absolute() if cache_dir else None,
            cache_clear=bool(config.getoption("multiarch_cache_clear")),
            cache_max_bytes=max_bytes,
            reuse_passed=bool(config.getoption("multiarch_reuse_passed")),
            reruns=reruns,
            test_timeout=test_timeout,
            timeout_factors=factors,
            output_limit=output_limit,
            docker_images=images,
            registry=registry,
        )


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
        raise pytest.UsageError(f"{name}: {exc}") from None


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
        raise pytest.UsageError(f"pytest_multiarch_executors: {exc}") from None
    return registry


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


@dataclass
class State:
    """Everything the plugin keeps for one session, in ``config.stash``."""

    settings: Settings
    bin_dir: Path  # where built binaries go: the build cache's root
    scheduler: Scheduler = field(default_factory=Scheduler)
    cache: BuildCache = field(init=False)
    reuse: ReuseStore = field(init=False)
    builds: Once[object] = field(default_factory=Once)
    notes: list[str] = field(default_factory=list)  # said once in the summary
    # Tests left out on purpose on some selected arches (the arch marker, Go build constraints):
    # test node id → arch names. The JSON report carries it, so that merge does not call them missing.
    not_applicable: dict[str, list[str]] = field(default_factory=dict)
    executors: dict[str, Executor | ExecutorUnavailable] = field(default_factory=dict)
    config: pytest.Config | None = None  # for the plugin's hooks (hookspecs.py)

    @property
    def hook(self) -> Any:
        return self.config.hook if self.config is not None else None

    def build_env(self, kind: str, target: str, arch: Arch) -> dict[str, str]:
        """What ``pytest_multiarch_build_env`` hooks add to a build's environment."""
        env: dict[str, str] = {}
        if self.hook is not None:
            self.hook.pytest_multiarch_build_env(
                config=self.config, kind=kind, target=target, arch=arch, env=env
            )
        return env

    def __post_init__(self) -> None:
        self.cache = BuildCache(self.bin_dir)
        self.reuse = ReuseStore(self.cache, self.settings.reuse_passed)

    def rust_toolchain(self, project_dir: Path, arch: Arch) -> Chosen:
        """The cargo/rustc that builds a crate for ``arch``, chosen once per (directory, arch).

        Per directory: rustup picks the toolchain from rust-toolchain.toml; per arch: the cargo on
        PATH may lack a target that a toolchain ``setup`` provisioned has. Each candidate's rustc
        is asked (two queries) once per directory. Raises RustToolchainError (with the fix) when
        there is none.
        """

        def lookup(cargo: str) -> RustToolchain:
            return self.builds.get(
                ("rustc", str(project_dir), cargo), lambda: toolchain_of(cargo, project_dir=project_dir)
            )  # type: ignore[return-value]

        def choose() -> Chosen:
            return choose_toolchain(arch, self.settings.cargo, project_dir=project_dir, lookup=lookup)

        chosen = self.builds.get(("rust-toolchain", str(project_dir), arch.name), choose)
        assert isinstance(chosen, Chosen)
        return chosen

    def executor(self, arch: Arch) -> Executor:
        """The executor for ``arch``, chosen once per session (raises ExecutorUnavailable): a
        ``pytest_multiarch_executor`` hook's, else the plugin's choice."""
        found = self.executors.get(arch.name)
        if found is None:
            try:
                hooked = None
                if self.hook is not None:
                    hooked = self.hook.pytest_multiarch_executor(
                        config=self.config, arch=arch, preference=self.settings.executor
                    )
                registry, preference = self.settings.registry, self.settings.executor
                found = hooked if hooked is not None else registry.select(arch, preference)
            except ExecutorUnavailable as exc:
                found = exc
            self.executors[arch.name] = found
        if isinstance(found, ExecutorUnavailable):
            raise found
        return found

    def close_executors(self) -> None:
        """``close()`` each executor the session chose, once (the session is over)."""
        closed: list[Executor] = []
        for found in self.executors.values():
            if isinstance(found, ExecutorUnavailable) or any(found is c for c in closed):
                continue
            closed.append(found)
            close = getattr(found, "close", None)  # an executor written before close() existed
            if callable(close):
                close()

    def limits(self, arch: Arch, executor: Executor, *, quit_first: bool) -> Limits:
        """A batch's time and output limits on ``arch`` under ``executor`` (scaled, see timeouts.py)."""
        s = self.settings
        f = timeouts.factor(s.timeout_factors, executor.name, arch.name)
        explain = f"--arch-test-timeout {s.test_timeout:g} s x {f:g} for {arch.name} under {executor.name}"
        return Limits(batch=s.timeout * f, test=s.test_timeout * f, quit_first=quit_first,
                      output=s.output_limit, logs=self.bin_dir / "logs", explain=explain)  # fmt: skip

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


STATE_KEY = pytest.StashKey[State]()


def get_state(config: pytest.Config) -> State:
    return config.stash[STATE_KEY]
