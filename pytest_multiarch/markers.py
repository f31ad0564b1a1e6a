"""The ``@pytest.mark.arch(*names, exclude=[...])`` marker: validation and narrowing."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.errors import MultiarchError
from pytest_multiarch.outcome import add_arch

_USAGE = '@pytest.mark.arch("arm64", "s390x") or @pytest.mark.arch(exclude=["386"])'


class ArchMarkerError(pytest.Collector.CollectError, MultiarchError, ValueError):
    """A malformed ``@pytest.mark.arch``: a collection error that names the test.

    A ``CollectError``, so that pytest shows its message alone, without a traceback of the plugin.
    """


def arches_for(node: pytest.Item, selected: list[Arch]) -> list[Arch]:
    """``selected`` narrowed by every ``arch`` marker on ``node``. A malformed marker raises
    ArchMarkerError (names that are unknown, empty or not strings; no names at all)."""
    result = list(selected)
    for mark in node.iter_markers("arch"):
        unknown_kwargs = set(mark.kwargs) - {"exclude"}
        if unknown_kwargs:
            raise ArchMarkerError(
                f"{node.nodeid}: @pytest.mark.arch takes names and exclude=[...], "
                f"not {', '.join(sorted(unknown_kwargs))}. Fix: write {_USAGE}"
            )
        exclude = mark.kwargs.get("exclude", ())
        if isinstance(exclude, (str, Arch)):
            exclude = [exclude]  # exclude="386": one name, not the characters of one
        elif not isinstance(exclude, Iterable):
            raise ArchMarkerError(
                f"{node.nodeid}: @pytest.mark.arch: exclude= takes a list of architecture names, not "
                f"{exclude!r} ({type(exclude).__name__}). Fix: write {_USAGE}"
            )
        exclude = list(exclude)
        if not mark.args and not exclude:
            raise ArchMarkerError(
                f"{node.nodeid}: @pytest.mark.arch() names no architecture, so it narrows nothing. "
                f"Fix: write {_USAGE}, or remove the marker"
            )
        only = [_lookup(node, n) for n in mark.args]
        excluded = [_lookup(node, n) for n in exclude]
        result = [a for a in result if (not only or a in only) and a not in excluded]
    return result


def _lookup(node: pytest.Item, name: object) -> Arch:
    if isinstance(name, Arch):
        return name
    if not isinstance(name, str):
        hint = " (unpack a list: @pytest.mark.arch(*names))" if isinstance(name, (list, tuple)) else ""
        raise ArchMarkerError(
            f"{node.nodeid}: @pytest.mark.arch takes architecture names as strings, not {name!r} "
            f"({type(name).__name__}){hint}. Fix: write {_USAGE}"
        )
    try:
        return archmod.get(name)
    except archmod.ArchError as exc:
        raise ArchMarkerError(f"{node.nodeid}: @pytest.mark.arch: {exc}") from None


def none_selected(node: pytest.Item, selected: list[Arch]) -> str:
    parts = []
    for m in node.iter_markers("arch"):
        excluded = f" exclude={list(m.kwargs['exclude'])}" if "exclude" in m.kwargs else ""
        parts.append(f"{list(m.args) if m.args else ''}{excluded}")
    marks = "; ".join(parts)
    return (
        f"@pytest.mark.arch {marks} selects none of the requested architectures "
        f"({', '.join(a.name for a in selected)})"
    )


def parametrize(
    metafunc: pytest.Metafunc, selected: list[Arch], not_applicable: dict[str, list[str]]
) -> None:
    """Run a test that uses the ``arch`` fixture once per selected arch its markers keep; record
    in ``not_applicable`` the arches they leave out (test node id → arch names)."""
    arches = arches_for(metafunc.definition, selected)
    left_out = [a.name for a in selected if a not in arches]
    if left_out and "arch" in metafunc.fixturenames:
        not_applicable[metafunc.definition.nodeid] = left_out
    if "arch" not in metafunc.fixturenames or _parametrizes_arch(metafunc):
        return  # a test's own @pytest.mark.parametrize("arch", ...) overrides the fixture
    if arches:
        metafunc.parametrize("arch", arches, ids=[a.name for a in arches], scope="function")
    else:
        metafunc.parametrize("arch", [pytest.param(None, marks=pytest.mark.skip(
            reason=none_selected(metafunc.definition, selected)))], ids=["no-arch"])  # fmt: skip


def _parametrizes_arch(metafunc: pytest.Metafunc) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "arch" in names:
            return True
    return False


def skip_narrowed(items: Iterable[pytest.Item], selected: list[Arch]) -> None:
    """Skip the tests that do not use ``arch`` and whose markers keep none of the selected arches."""
    for item in items:
        narrowed_out = item.get_closest_marker("arch") and not arches_for(item, selected)
        if isinstance(item, pytest.Function) and "arch" not in item.fixturenames and narrowed_out:
            item.add_marker(pytest.mark.skip(reason=none_selected(item, selected)))


def tag_arch(item: pytest.Item) -> None:
    """Name the arch a collected Python test runs for in its properties, as Go and Rust items do."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("arch") if callspec is not None else None
    if isinstance(value, Arch):
        add_arch(item.user_properties, value.name)
