"""pytest entry point: options, ini, marker, fixtures and wiring. The work lives elsewhere."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from _pytest import junitxml

from pytest_multiarch import arch as archmod
from pytest_multiarch import collect, fixtures, hookspecs, markers, options, proc, watchdog
from pytest_multiarch import outfile as files
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import ExecutorUnavailable, runs_on
from pytest_multiarch.executors import binfmt_misc as binfmt
from pytest_multiarch.executors import docker as docker_executor
from pytest_multiarch.interrupt import handle_sigterm, restore_sigterm
from pytest_multiarch.report.junit import regroup_per_arch
from pytest_multiarch.report.plugin import MatrixReport, Outputs, check_outputs
from pytest_multiarch.run import xdist as distribution
from pytest_multiarch.settings import STATE_KEY, Settings, State, get_state
from pytest_multiarch.xfail import configure as configure_xfail

_REPORT_KEY = pytest.StashKey[MatrixReport]()
LOGS_KEPT_SECONDS = 7 * 24 * 3600  # failed batches' whole output, named in their reports
_BINFMT_KEY = pytest.StashKey[binfmt.Registered]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "arch(*names, exclude=()): run this test only on these architectures (intersected with --arch); "
        "exclude=[...] removes some",
    )
    for extra in config.hook.pytest_multiarch_arches(config=config):
        for a in extra or ():
            try:
                archmod.register(a)
            except archmod.ArchError as exc:
                raise pytest.UsageError(f"pytest_multiarch_arches: {exc}") from None
    settings = Settings.from_config(config)
    configure_xfail(config)  # multiarch_xfail: checked now, applied to the collected items
    if not hasattr(config, "workerinput"):  # xdist workers write no report file
        check_outputs(config)  # a path that cannot be written: usage error now, before any build
    handle_sigterm(config)  # SIGTERM (a CI job cancelled) stops the session as Ctrl-C does
    watchdog.adopt(start=bool(getattr(config.option, "numprocesses", None)))  # xdist controller: now
    docker_executor.configure_images(settings.docker_images)
    if config.getoption("multiarch_binfmt_install") and not hasattr(config, "workerinput"):
        try:
            config.stash[_BINFMT_KEY] = binfmt.install_for_session(settings.arches)
        except binfmt.BinfmtError as exc:
            raise pytest.UsageError(f"--binfmt-install: {exc}") from None
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if settings.cache_dir is not None:
        bin_dir = settings.cache_dir
    elif cache is not None:
        bin_dir = cache.mkdir("multiarch")
    else:
        bin_dir = Path(config.rootpath, ".multiarch-bin")
    proc.resume()
    state = config.stash[STATE_KEY] = State(settings=settings, bin_dir=bin_dir, config=config)
    if settings.cache_clear and not hasattr(config, "workerinput"):  # xdist workers: the controller did
        state.cache.clear()
    report = MatrixReport(config, [a.name for a in settings.arches], Outputs.from_config(config), state.notes)
    report.not_applicable = state.not_applicable
    report.host = archmod.host().name
    report.runs_on = {a.name: _runs_on(state, a) for a in settings.arches}
    config.stash[_REPORT_KEY] = report
    config.pluginmanager.register(report, "multiarch-report")


def _runs_on(state: State, a: Arch) -> str:
    """How ``a`` runs, for the table, with the executor the session chose (hooks included)."""
    try:
        return runs_on(a, state.executor(a))
    except ExecutorUnavailable as exc:
        return f"cannot run: {exc.reason}"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """An xdist worker is done: add the tests it left out on some arches (marker, build constraints)."""
    left_out = getattr(node, "workeroutput", {}).get("multiarch_not_applicable", {})
    state = get_state(node.config)
    for test, arches in left_out.items():
        have = state.not_applicable.setdefault(test, [])
        have.extend(a for a in arches if a not in have)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return distribution.make_scheduler(config, log)  # one worker per batch


@pytest.hookimpl(trylast=True)  # after junitxml has written its file
def pytest_sessionfinish(session: pytest.Session) -> None:
    # Every item has reported; batches still running serve items that will not run (-x, Ctrl-C).
    config = session.config
    if STATE_KEY in config.stash:
        proc.stop_all()
        state = get_state(config)
        state.scheduler.shutdown()
        state.close_executors()
        if not hasattr(config, "workerinput"):
            state.cache.prune(state.settings.cache_max_bytes)
            files.remove_older_than(state.bin_dir / "logs", LOGS_KEPT_SECONDS)
        else:  # the controller, which collects nothing, learns what was left out on purpose
            config.workeroutput["multiarch_not_applicable"] = state.not_applicable  # type: ignore[attr-defined]
    xml = config.stash.get(junitxml.xml_key, None)  # set on the controller only
    if xml is not None and config.getoption("multiarch_junit_per_arch") and os.path.exists(xml.logfile):
        regroup_per_arch(Path(xml.logfile))


def pytest_unconfigure(config: pytest.Config) -> None:
    proc.resume()  # the stop was for this session only (pytester runs sessions in one process)
    restore_sigterm(config)
    if _BINFMT_KEY in config.stash:  # after passing, failing or Ctrl-C alike
        binfmt.restore(config.stash[_BINFMT_KEY])
    if _REPORT_KEY in config.stash:
        config.pluginmanager.unregister(config.stash[_REPORT_KEY])


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return collect.collect_file(file_path, parent)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if collection_path.is_dir() and collect.ignore_dir(collection_path) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = get_state(metafunc.config)
    arches = markers.arches_for(metafunc.definition, state.settings.arches)
    left_out = [a.name for a in state.settings.arches if a not in arches]
    if left_out and "arch" in metafunc.fixturenames:
        state.not_applicable[metafunc.definition.nodeid] = left_out
    if "arch" not in metafunc.fixturenames or _parametrizes_arch(metafunc):
        return  # a test's own @pytest.mark.parametrize("arch", ...) overrides the fixture
    if arches:
        metafunc.parametrize("arch", arches, ids=[a.name for a in arches], scope="function")
    else:
        metafunc.parametrize("arch", [pytest.param(None, marks=pytest.mark.skip(
            reason=markers.none_selected(metafunc.definition, get_state(metafunc.config).settings.arches)))],
            ids=["no-arch"])  # fmt: skip


def _parametrizes_arch(metafunc: pytest.Metafunc) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "arch" in names:
            return True
    return False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    settings = get_state(config).settings
    for item in items:
        narrowed_out = item.get_closest_marker("arch") and not markers.arches_for(item, settings.arches)
        if isinstance(item, pytest.Function) and "arch" not in item.fixturenames and narrowed_out:
            item.add_marker(pytest.mark.skip(reason=markers.none_selected(item, settings.arches)))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # Batches are formed here, from the final item list: after every pytest_collection_modifyitems,
    # wrappers included (cacheprovider deselects for --lf after the trylast ones have run).
    if STATE_KEY in session.config.stash:
        collect.schedule_batches(session)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call" and isinstance(item, collect.ArchItem) and item.outcome is not None:
        report.duration = item.outcome.duration  # the test's own time, not the batch's wait
    if report.skipped and hasattr(report, "wasxfail") and "infra_error" in dict(report.user_properties):
        report.outcome = "failed"  # the emulator failed, not the known failure: never hidden by xfail
        del report.wasxfail
    return report


def pytest_report_teststatus(
    report: pytest.TestReport,
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if report.when != "call":
        return None
    props = dict(report.user_properties)
    if report.passed and props.get("flaky"):
        return "passed", "R", ("PASSED (flaky)", {"yellow": True})  # --arch-reruns
    if report.passed and props.get("cached") is True:
        return "passed", ".", ("PASSED (cached)", {"green": True})  # --arch-reuse-passed
    if report.failed and "infra_error" in props:
        return "failed", "!", ("INFRA ERROR", {"red": True})  # the emulator failed, not the test
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("arch") if callspec is not None else None
    if isinstance(value, Arch):
        item.user_properties.append(("arch", value.name))


def pytest_keyboard_interrupt() -> None:
    proc.stop_all()


def pytest_report_header(config: pytest.Config) -> str:
    s = get_state(config).settings
    timeout = f"timeout {s.timeout:g}s" if s.timeout else "timeout none"
    timeout += f"; test timeout {s.test_timeout:g}s" if s.test_timeout else ""
    return (
        f"multiarch: arches {','.join(a.name for a in s.arches)} (host {archmod.host().name}); "
        f"executor {s.executor}; {timeout}; collect {','.join(sorted(s.collect)) or '-'}"
    )


@pytest.fixture
def arch(request: pytest.FixtureRequest) -> Arch:
    """The architecture this test instance runs for (tests using it run once per --arch)."""
    value = getattr(request, "param", None)
    if value is None:
        return archmod.host()
    assert isinstance(value, Arch)
    return value


@pytest.fixture
def go_build(request: pytest.FixtureRequest, arch: Arch) -> fixtures.GoBuild:
    """Build a Go package (directory or import path) for ``arch``; returns the binary's path."""
    return fixtures.make_go_build(request.config, arch)


@pytest.fixture
def cargo_build(request: pytest.FixtureRequest, arch: Arch) -> fixtures.CargoBuild:
    """Build a Rust bin/example/test binary of a crate for ``arch``; returns the binary's path."""
    return fixtures.make_cargo_build(request.config, arch)


@pytest.fixture
def run_on_arch(request: pytest.FixtureRequest, arch: Arch) -> fixtures.RunOnArch:
    """Run a binary built for ``arch`` under the right executor; returns a RunResult."""
    return fixtures.make_run_on_arch(request.config, arch)
