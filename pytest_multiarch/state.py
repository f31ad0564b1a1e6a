"""The session's state: settings, the build cache, the scheduler, the executors chosen, in
``config.stash`` for every collector, item and fixture of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_multiarch.arch import Arch
from pytest_multiarch.cache.store import BuildCache
from pytest_multiarch.executors import Executor, ExecutorUnavailable
from pytest_multiarch.run import limits as timeouts
from pytest_multiarch.run.batch import Once, Scheduler
from pytest_multiarch.run.reuse import ReuseStore
from pytest_multiarch.run.supervise import Limits
from pytest_multiarch.settings import Settings
from pytest_multiarch.toolchains.rust import Chosen, RustToolchain, choose_toolchain, toolchain_of


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
        found = self.choose_executor(arch)
        if isinstance(found, ExecutorUnavailable):
            raise found
        return found

    def choose_executor(self, arch: Arch) -> Executor | ExecutorUnavailable:
        """The executor for ``arch``, or why there is none: chosen once per session."""
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
        return found

    def close_executors(self) -> None:
        """``close()`` each executor the session chose, once (the session is over)."""
        closed: list[Executor] = []
        for found in self.executors.values():
            if isinstance(found, ExecutorUnavailable) or any(found is c for c in closed):
                continue
            closed.append(found)
            summary = getattr(found, "summary", None)  # e.g. ssh: what was staged on each host
            if callable(summary):
                for line in summary():
                    self.note(str(line))
            close = getattr(found, "close", None)  # an executor written before close() existed
            if callable(close):
                close()
        # A remote executor may hold connections (and their runtime directory) for an arch it
        # was asked about and not chosen for (its remote unreachable, another executor named).
        for name in self.settings.registry.names():
            executor = self.settings.registry.get(name)
            if getattr(executor, "remote", False) and not any(executor is c for c in closed):
                executor.close()

    def limits(self, arch: Arch, executor: Executor, *, quit_first: bool) -> Limits:
        """A batch's time and output limits on ``arch`` under ``executor`` (scaled, see run/limits.py)."""
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
