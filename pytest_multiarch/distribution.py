"""pytest-xdist: keep each batch (one test binary on one architecture) on one worker."""

from __future__ import annotations

import os
import shlex

import pytest


def _dist_given(config: pytest.Config) -> bool:
    """Did the user choose a --dist mode (command line, PYTEST_ADDOPTS or the ini's addopts)?"""
    args = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    args += config.getini("addopts")
    return any(str(a) == "--dist" or str(a).startswith("--dist=") or str(a).startswith("-d") for a in args)


def prefer_loadgroup(config: pytest.Config) -> None:
    """Turn xdist's default ``--dist load`` (what ``-n`` implies) into ``loadgroup``.

    Every item of a batch carries an ``xdist_group`` mark; under ``load`` the items of one batch
    would go to several workers, each running the whole batch again. ``loadgroup`` sends a group
    to one worker and spreads ungrouped items like ``load``. A --dist the user gave is kept.
    """
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if getattr(config.option, "dist", "no") == "load" and not _dist_given(config):
        config.option.dist = "loadgroup"
