"""pytest-xdist: keep each batch (one test binary on one architecture) on one worker.

Every item of a batch runs in the same emulated process: the worker that gets the first item of
a batch runs the whole batch. Were the items of one batch sent to several workers, each would
run the whole batch again (``--dist load``: every test twice with two workers). So the plugin
gives xdist a scheduler of its own (``pytest_xdist_make_scheduler``): xdist's scope scheduler
with the batch as the scope, read from the node id, since the controller sees node ids only.
Items that are not in a batch (plain Python tests, placeholders) are scopes as the ``--dist``
mode makes them. Per mode:

- ``load`` (the default, given or not): the batch scheduler; other items are scopes of one.
- ``loadgroup``: the batch scheduler; other items are grouped by their ``xdist_group``.
- ``loadscope``: the batch scheduler; other items are grouped by module or class, as xdist does.
- ``loadfile``: xdist's own; a batch never spans two files (``go.mod``, ``Cargo.toml``).
- ``worksteal``: steals single items from a worker's queue, so it would split batches: a
  warning, and the batch scheduler instead.
- ``each``: xdist's own; each worker runs every batch once and reports each of its tests.

(xdist's ``loadgroup`` alone does not keep batches whole: it groups by an ``@group`` suffix it
adds to node ids on the workers, which pytest 9.2's structured node ids no longer allow.)
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest


def batch_scope(nodeid: str) -> str:
    """The batch an item's node id belongs to, or the node id itself when it is in none.

    Go: ``<path>/go.mod::<package>::<Test>[<arch>]``, the package on that arch. Rust:
    ``<path>/Cargo.toml::<binary>::<module>::...::<test>[<arch>]``, the binary on that arch.
    """
    if not nodeid.endswith("]") or "[" not in nodeid:
        return nodeid
    arch = nodeid[nodeid.rfind("[") + 1 : -1]
    for manifest in ("go.mod::", "Cargo.toml::"):
        head, found, rest = nodeid.partition(manifest)
        if not found or "::" not in rest:
            continue  # another kind, or the manifest's own placeholder item (`go.mod::[arm64]`)
        if manifest == "go.mod::":
            return f"{head}{manifest}{rest.rpartition('::')[0]}[{arch}]"
        return f"{head}{manifest}{rest.partition('::')[0]}[{arch}]"
    return nodeid


def _load_scope(nodeid: str) -> str:
    return nodeid  # load: every item is its own unit


def _group_scope(nodeid: str) -> str:
    # As xdist's loadgroup: "<id>@<group>" is in <group>, when xdist managed to add the suffix.
    return nodeid.split("@")[-1] if nodeid.rfind("@") > nodeid.rfind("]") else nodeid


def _module_scope(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[0]  # as xdist's loadscope: the module, or the class


_OTHER_SCOPES = {"load": _load_scope, "loadgroup": _group_scope, "loadscope": _module_scope}
FALLBACK_MODES = ("worksteal",)  # modes that would split batches: warned about, then replaced


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Our scheduler for the --dist modes that would split a batch, or None to leave the choice
    to xdist (``loadfile``, ``each``: they keep batches whole)."""
    dist = getattr(config.option, "dist", "no")
    if dist in FALLBACK_MODES:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"pytest-multiarch: --dist={dist} would run the tests of one test binary on one "
                "architecture (a batch) on several workers, each running the whole batch: "
                "using --dist=load with whole batches instead"
            ),
            stacklevel=2,
        )
        dist = "load"
    if dist not in _OTHER_SCOPES:
        return None
    other = _OTHER_SCOPES[dist]
    from xdist.scheduler import LoadScopeScheduling

    class BatchScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """xdist's scope scheduling, where a scope is one batch (test binary, arch)."""

        def _split_scope(self, nodeid: str) -> str:
            scope = batch_scope(nodeid)
            return scope if scope != nodeid else other(nodeid)

    return BatchScheduling(config, log)


def group_name(batch_key: object) -> str:
    """The xdist group of every item of one batch (for an explicit ``--dist loadgroup``)."""
    return "multiarch-" + hashlib.sha256(repr(batch_key).encode()).hexdigest()[:16]
