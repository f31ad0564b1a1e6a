"""pytest-xdist: keep each batch (one test binary on one architecture) on one worker.

Every item of a batch runs in the same emulated process. Under xdist's default ``--dist load``
the items of one batch would go to several workers, each running the whole batch again. The
plugin gives xdist a scheduler of its own instead (``pytest_xdist_make_scheduler``):
xdist's scope scheduler with the batch as the scope, read from the node id, since the
controller sees node ids only. Items that are not in a batch (plain Python tests, placeholders)
are scopes of their own, so they spread like ``load``. A ``--dist`` the user gave is kept.

(xdist's ``loadgroup`` would do the same with the ``xdist_group`` marks every item also gets,
but it renames node ids, which pytest 9.2's structured node ids no longer allow.)
"""

from __future__ import annotations

import hashlib
import os
import shlex
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


def _dist_given(config: pytest.Config) -> bool:
    """Did the user choose a --dist mode (command line, PYTEST_ADDOPTS or the ini's addopts)?"""
    args = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    args += config.getini("addopts")
    return any(str(a) == "--dist" or str(a).startswith("--dist=") or str(a).startswith("-d") for a in args)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Our scheduler for xdist's default distribution, or None to leave the choice to xdist."""
    if getattr(config.option, "dist", "no") != "load" or _dist_given(config):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BatchScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """xdist's scope scheduling, where a scope is one batch (test binary, arch)."""

        def _split_scope(self, nodeid: str) -> str:
            return batch_scope(nodeid)

    return BatchScheduling(config, log)


def group_name(batch_key: object) -> str:
    """The xdist group of every item of one batch (for an explicit ``--dist loadgroup``)."""
    return "multiarch-" + hashlib.sha256(repr(batch_key).encode()).hexdigest()[:16]
