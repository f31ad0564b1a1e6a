"""pytest collectors and items for Go modules and Rust crates."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_multiarch.collect.base import ArchItem
from pytest_multiarch.collect.go import GoModule
from pytest_multiarch.collect.rust import CargoCrate, has_package
from pytest_multiarch.state import get_state

__all__ = ["ArchItem", "collect_file", "ignore_dir", "own_duration", "schedule_batches"]


def collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    settings = get_state(parent.config).settings
    if file_path.name == "go.mod" and "go" in settings.collect:
        return GoModule.from_parent(parent, path=file_path)
    if file_path.name == "Cargo.toml" and "rust" in settings.collect and has_package(file_path):
        return CargoCrate.from_parent(parent, path=file_path)
    return None


def own_duration(item: pytest.Item) -> float | None:
    """A Go or Rust cell's own test time (not its batch's wait), once it has run; else None."""
    if isinstance(item, ArchItem) and item.outcome is not None:
        return item.outcome.duration
    return None


def ignore_dir(path: Path) -> bool:
    """Build output and Go test data are never test sources: do not walk them."""
    if path.name == "target" and (path.parent / "Cargo.toml").is_file():
        return True
    return path.name == "testdata" and any((p / "go.mod").is_file() for p in path.parents)


def schedule_batches(session: pytest.Session) -> None:
    """Group the session's final items into batches and start them, in item order, in the background.

    Called once collection is final (pytest_collection_finish): after -k, -m, --deselect, --lf and
    any plugin's deselection, so each batch runs exactly the tests pytest will report. Nothing is
    built or run under --collect-only, or when collection errors stop the run before any test.
    """
    config = session.config
    if config.option.collectonly:
        return
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return  # pytest stops after collection: "N errors during collection"
    items = session.items
    groups: dict[object, list[ArchItem]] = {}
    for item in items:
        if isinstance(item, ArchItem):
            item.selected()
            groups.setdefault(item.batch_key(), []).append(item)
    for members in groups.values():
        names = [m.test_name for m in members]
        for m in members:
            m.batch_tests = names
    if hasattr(config, "workerinput"):
        return  # a worker runs only the items it is sent: start each batch when first needed
    for members in groups.values():
        if members[0].runnable():
            future = members[0].schedule()
            for m in members:
                m.batch_future = future

