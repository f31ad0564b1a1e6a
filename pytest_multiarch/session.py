"""The session: its state (in ``config.stash``), and what happens at configure and at the end.

``configure`` reads the settings once, registers what the session needs (the report plugin,
binfmt handlers with --binfmt-install, the SIGTERM handler) and builds the state; ``finish``
stops what still runs, prunes the cache and regroups the JUnit file; ``unconfigure`` puts back
what configure changed. plugin.py only declares the hooks that call these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch import outfile as files
from pytest_multiarch import proc, watchdog
from pytest_multiarch.arch import Arch
from pytest_multiarch.cache.store import BuildCache
from pytest_multiarch.executors import Executor, ExecutorUnavailable, runs_on, select
from pytest_multiarch.executors import binfmt_misc as binfmt
from pytest_multiarch.executors import docker as docker_executor
from pytest_multiarch.interrupt import handle_sigterm, restore_sigterm
from pytest_multiarch.report.plugin import MatrixReport, check_report_files, regroup_junit
from pytest_multiarch.run import limits as timeouts
from pytest_multiarch.run.batch import Once, Scheduler
from pytest_multiarch.run.reuse import ReuseStore
from pytest_multiarch.run.supervise import Limits
from pytest_multiarch.settings import Settings
from pytest_multiarch.toolchains.rust import Chosen, RustToolchain, choose_toolchain, toolchain_of
from pytest_multiarch.xfail import configure as configure_xfail

LOGS_KEPT_SECONDS = 7 * 24 * 3600  # failed batches' whole output, named in their reports
_REPORT_KEY = pytest.StashKey[MatrixReport]()
_BINFMT_KEY = pytest.StashKey[binfmt.Registered]()


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
                found = hooked if hooked is not None else select(arch, self.settings.executor)
            except ExecutorUnavailable as exc:
                found = exc
            self.executors[arch.name] = found
        if isinstance(found, ExecutorUnavailable):
            raise found
        return found

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


def register_arches(config: pytest.Config) -> None:
    """Add the architectures ``pytest_multiarch_arches`` hooks return (before --arch is read)."""
    for extra in config.hook.pytest_multiarch_arches(config=config):
        for a in extra or ():
            try:
                archmod.register(a)
            except archmod.ArchError as exc:
                raise pytest.UsageError(f"pytest_multiarch_arches: {exc}") from None


def configure(config: pytest.Config) -> None:
    """Read the settings, check what can be checked before any build, and start the session."""
    register_arches(config)
    settings = Settings.from_config(config)
    configure_xfail(config, settings.xfail)  # multiarch_xfail: checked now, applied to the collected items
    if not settings.xdist_worker:  # xdist workers write no report file
        check_report_files(settings.report_files)  # one that cannot be written: usage error now
    handle_sigterm(config)  # SIGTERM (a CI job cancelled) stops the session as Ctrl-C does
    watchdog.adopt(start=settings.xdist_controller)  # xdist controller: now
    docker_executor.configure_images(settings.docker_images)
    if settings.binfmt_install and not settings.xdist_worker:
        try:
            config.stash[_BINFMT_KEY] = binfmt.install_for_session(settings.arches)
        except binfmt.BinfmtError as exc:
            raise pytest.UsageError(f"--binfmt-install: {exc}") from None
    proc.resume()
    state = State(settings=settings, bin_dir=_bin_dir(config, settings), config=config)
    config.stash[STATE_KEY] = state
    if settings.cache_clear and not settings.xdist_worker:  # xdist workers: the controller did
        state.cache.clear()
    report = MatrixReport(config, [a.name for a in settings.arches], settings.outputs, state.notes)
    report.not_applicable = state.not_applicable
    report.host = archmod.host().name
    report.runs_on = {a.name: _runs_on(state, a) for a in settings.arches}
    config.stash[_REPORT_KEY] = report
    config.pluginmanager.register(report, "multiarch-report")


def _bin_dir(config: pytest.Config, settings: Settings) -> Path:
    """Where built binaries go: --arch-cache-dir and co., else pytest's cache directory."""
    if settings.cache_dir is not None:
        return settings.cache_dir
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        path: Path = cache.mkdir("multiarch")
        return path
    return Path(config.rootpath, ".multiarch-bin")


def _runs_on(state: State, a: Arch) -> str:
    """How ``a`` runs, for the table, with the executor the session chose (hooks included)."""
    try:
        return runs_on(a, state.executor(a))
    except ExecutorUnavailable as exc:
        return f"cannot run: {exc.reason}"


def worker_done(node: Any) -> None:
    """An xdist worker is done: add the tests it left out on some arches (marker, build constraints)."""
    left_out = getattr(node, "workeroutput", {}).get("multiarch_not_applicable", {})
    state = get_state(node.config)
    for test, arches in left_out.items():
        have = state.not_applicable.setdefault(test, [])
        have.extend(a for a in arches if a not in have)


def finish(session: pytest.Session) -> None:
    """Every item has reported; batches still running serve items that will not run (-x, Ctrl-C)."""
    config = session.config
    if STATE_KEY not in config.stash:
        return
    proc.stop_all()
    state = get_state(config)
    state.scheduler.shutdown()
    if not state.settings.xdist_worker:
        state.cache.prune(state.settings.cache_max_bytes)
        files.remove_older_than(state.bin_dir / "logs", LOGS_KEPT_SECONDS)
    else:  # the controller, which collects nothing, learns what was left out on purpose
        config.workeroutput["multiarch_not_applicable"] = state.not_applicable  # type: ignore[attr-defined]
    regroup_junit(config, state.settings.junit_per_arch)  # after junitxml has written its file


def unconfigure(config: pytest.Config) -> None:
    """Put back what configure changed, after passing, failing or Ctrl-C alike."""
    proc.resume()  # the stop was for this session only (pytester runs sessions in one process)
    restore_sigterm(config)
    if _BINFMT_KEY in config.stash:
        binfmt.restore(config.stash[_BINFMT_KEY])
    if _REPORT_KEY in config.stash:
        config.pluginmanager.unregister(config.stash[_REPORT_KEY])


def header(config: pytest.Config) -> str:
    """The line pytest prints under its own header: what this session runs, and how."""
    s = get_state(config).settings
    timeout = f"timeout {s.timeout:g}s" if s.timeout else "timeout none"
    timeout += f"; test timeout {s.test_timeout:g}s" if s.test_timeout else ""
    return (
        f"multiarch: arches {','.join(a.name for a in s.arches)} (host {archmod.host().name}); "
        f"executor {s.executor}; {timeout}; collect {','.join(sorted(s.collect)) or '-'}"
    )
