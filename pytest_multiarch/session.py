"""The session: what happens at configure and at the end (its state is in state.py).

``configure`` reads the settings once, registers what the session needs (the report plugin,
binfmt handlers with --binfmt-install, the SIGTERM handler) and builds the state; ``finish``
stops what still runs, prunes the cache and regroups the JUnit file; ``unconfigure`` puts back
what configure changed. plugin.py only declares the hooks that call these.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch import errors, proc, watchdog
from pytest_multiarch import outfile as files
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import Executor, ExecutorUnavailable, runs_on, warm_runs_on
from pytest_multiarch.executors import binfmt_misc as binfmt
from pytest_multiarch.executors import docker as docker_executor
from pytest_multiarch.executors.wasm import WasmtimeExecutor
from pytest_multiarch.interrupt import handle_sigterm, restore_sigterm
from pytest_multiarch.report.plugin import MatrixReport, check_report_files, regroup_junit
from pytest_multiarch.run.batch import Scheduler
from pytest_multiarch.settings import Settings
from pytest_multiarch.state import STATE_KEY, State, get_state
from pytest_multiarch.xfail import configure as configure_xfail

LOGS_KEPT_SECONDS = 7 * 24 * 3600  # failed batches' whole output, named in their reports
_REPORT_KEY = pytest.StashKey[MatrixReport]()
_BINFMT_KEY = pytest.StashKey[binfmt.Registered]()


def register_arches(config: pytest.Config) -> None:
    """Add the architectures ``pytest_multiarch_arches`` hooks return (before --arch is read)."""
    for extra in config.hook.pytest_multiarch_arches(config=config):
        for a in extra or ():
            try:
                archmod.register(a)
            except archmod.ArchError as exc:
                raise errors.usage_error(exc, "pytest_multiarch_arches") from None


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
            raise errors.usage_error(exc, "--binfmt-install") from None
    proc.resume()
    state = State(settings=settings, bin_dir=_bin_dir(config, settings), config=config)
    config.stash[STATE_KEY] = state
    wasm_cache = state.bin_dir / "wasmtime"  # wasmtime's compile cache beside the built binaries
    for name in settings.registry.names():
        executor = settings.registry.get(name)
        if isinstance(executor, WasmtimeExecutor) and executor.cache_dir is None:
            executor.cache_dir = wasm_cache
    if settings.cache_clear and not settings.xdist_worker:  # xdist workers: the controller did
        state.cache.clear()
        shutil.rmtree(wasm_cache, ignore_errors=True)
    report = MatrixReport(config, [a.name for a in settings.arches], settings.outputs, state.notes)
    report.not_applicable = state.not_applicable
    report.host = archmod.host().name
    report.runs_on = _runs_on_all(state, settings.arches)
    _room_for_remotes(state, settings.arches)
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


def _runs_on_all(state: State, arches: Sequence[Arch]) -> dict[str, str]:
    """How each arch runs, for the table, with the executor the session chose (hooks included);
    the QEMU versions it names are asked for at once."""
    chosen: list[tuple[Arch, Executor]] = []
    shown: dict[str, str] = {}
    for a in arches:
        found = state.choose_executor(a)
        if isinstance(found, ExecutorUnavailable):
            shown[a.name] = f"cannot run: {found.why}"
        else:
            chosen.append((a, found))
    warm_runs_on(chosen)
    shown.update((a.name, runs_on(a, executor)) for a, executor in chosen)
    return {a.name: shown[a.name] for a in arches}


def _room_for_remotes(state: State, arches: Sequence[Arch]) -> None:
    """Batches on remote machines mostly wait here: the scheduler gets a worker thread for each
    of their cores (an executor's ``slots``) besides one per local core. Nothing is queued yet."""
    remote = 0
    for a in arches:
        slots = getattr(state.choose_executor(a), "slots", None)  # an ExecutorUnavailable has none
        remote += int(slots(a)) if callable(slots) else 0
    if remote:
        state.scheduler.shutdown()
        state.scheduler = Scheduler(workers=(os.cpu_count() or 2) + remote)


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
    state = get_state(config)
    ended_normally = session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    if ended_normally and not (session.shouldstop or session.shouldfail or proc.stopping()):
        # A build still running serves other workers (xdist); never waited for after Ctrl-C,
        # SIGTERM, -x or an internal error.
        state.scheduler.finish_builds()
    proc.stop_all()
    state.scheduler.shutdown()
    state.close_executors()
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
