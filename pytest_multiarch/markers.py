"""The ``@pytest.mark.arch(*names, exclude=[...])`` marker: validation and narrowing."""

from __future__ import annotations

import pytest

from . import arch as archmod
from .arch import Arch


class ArchMarkerError(ValueError):
    """A malformed ``@pytest.mark.arch``: a collection error that names the test."""


def arches_for(node: pytest.Item, selected: list[Arch]) -> list[Arch]:
    """``selected`` narrowed by every ``arch`` marker on ``node``. Unknown names raise."""
    result = list(selected)
    for mark in node.iter_markers("arch"):
        try:
            only = [archmod.get(str(n)) for n in mark.args]
            excluded = [archmod.get(str(n)) for n in mark.kwargs.get("exclude", ())]
        except archmod.ArchError as exc:
            raise ArchMarkerError(f"{node.nodeid}: @pytest.mark.arch: {exc}") from None
        unknown_kwargs = set(mark.kwargs) - {"exclude"}
        if unknown_kwargs:
            raise ArchMarkerError(
                f"{node.nodeid}: @pytest.mark.arch takes names and exclude=[...], "
                f"not {', '.join(sorted(unknown_kwargs))}"
            )
        result = [a for a in result if (not only or a in only) and a not in excluded]
    return result


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
