"""pytest entry point: hook implementations and fixture declarations, each handing the work to
the module that does it: session.py (the session's state, its start and end), report/ (the
matrix), collect/ (Go and Rust), markers.py (the arch marker), fixtures.py (the fixtures)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch import collect, fixtures, hookspecs, markers, options, proc
from pytest_multiarch import session as multiarch
from pytest_multiarch.arch import Arch
from pytest_multiarch.report.plugin import adjust_test_report, terminal_status
from pytest_multiarch.run import xdist as distribution
from pytest_multiarch.state import STATE_KEY, get_state


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
    multiarch.configure(config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    multiarch.worker_done(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return distribution.make_scheduler(config, log)  # one worker per batch


@pytest.hookimpl(trylast=True)  # after junitxml has written its file
def pytest_sessionfinish(session: pytest.Session) -> None:
    multiarch.finish(session)


def pytest_unconfigure(config: pytest.Config) -> None:
    multiarch.unconfigure(config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return collect.collect_file(file_path, parent)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if collection_path.is_dir() and collect.ignore_dir(collection_path) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = get_state(metafunc.config)
    markers.parametrize(metafunc, state.settings.arches, state.not_applicable)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    markers.skip_narrowed(items, get_state(config).settings.arches)


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
    adjust_test_report(report, call.when, collect.own_duration(item))
    return report


def pytest_report_teststatus(
    report: pytest.TestReport,
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    return terminal_status(report)


def pytest_itemcollected(item: pytest.Item) -> None:
    markers.tag_arch(item)


def pytest_keyboard_interrupt() -> None:
    proc.stop_all()


def pytest_report_header(config: pytest.Config) -> str:
    return multiarch.header(config)


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
