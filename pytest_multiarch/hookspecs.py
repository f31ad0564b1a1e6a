"""Hooks a plugin or a ``conftest.py`` can implement to extend pytest-multiarch.

They are pytest hooks (pluggy, project name ``pytest``): define a function with the hook's name
and the arguments it needs in a plugin module or a root ``conftest.py``. The plugin registers
them in ``pytest_addhooks``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import Executor, Registry
from pytest_multiarch.outcome import TestOutcome

hookspec = pytest.hookspec


@hookspec
def pytest_multiarch_arches(config: pytest.Config) -> list[Arch] | None:
    """Return architectures to add to the known ones (``arch.Arch`` values with a name no other
    architecture uses). Called once, before ``--arch`` is read, so they can be selected by name.
    """


@hookspec
def pytest_multiarch_executors(config: pytest.Config, registry: Registry) -> None:
    """Add executors to the session's ``registry``, in place: ``registry.add(executor)`` makes
    one choosable with ``--arch-executor=NAME`` (its ``name``) and scalable with
    ``--arch-timeout-scale NAME=FACTOR``; ``registry.add(executor, auto=15)`` also has ``auto``
    try it (after native 0 and binfmt 10, before qemu 20). Called once, before the options are
    checked.
    """


@hookspec(firstresult=True)
def pytest_multiarch_executor(config: pytest.Config, arch: Arch, preference: str) -> Executor | None:
    """Return the executor that runs binaries built for ``arch`` (an object with the methods of
    ``executors.Executor``), or None to let the plugin choose (``preference`` is
    ``--arch-executor``). Called once per architecture and session; the first result wins.
    """


@hookspec
def pytest_multiarch_build_env(
    config: pytest.Config, kind: str, target: str, arch: Arch, env: dict[str, str]
) -> None:
    """Adjust the environment a build for ``arch`` runs with, in place: e.g. ``GOFLAGS``,
    ``GOAMD64``, ``RUSTFLAGS``, ``CGO_CFLAGS``. ``kind`` is ``"go"`` (``target``: the module's
    directory; one build covers its packages) or ``"rust"`` (``target``: the crate's
    Cargo.toml). What is set here is part of the build cache's key.
    """


@hookspec
def pytest_multiarch_batch_finished(
    config: pytest.Config, arch: Arch, binary: str, outcomes: Mapping[str, TestOutcome]
) -> None:
    """Observe one batch: ``binary`` ran ``outcomes`` (test name → ``outcome.TestOutcome``) on
    ``arch``. Called from the thread that ran it, before the items report."""
