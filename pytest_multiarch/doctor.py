"""`python -m pytest_multiarch doctor`: what each architecture needs, has, and how to fix it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from . import proc
from .arch import Arch
from .executors import ExecutorUnavailable, select
from .toolchains import go as gotool


@dataclass
class Check:
    what: str  # "go", "run", "rust"
    ok: bool
    detail: str
    fix: str = ""


@functools.cache
def go_version(go: str) -> str:
    res = proc.run([go, "version"], env=proc.base_env(), cwd="/", timeout=30)
    return res.stdout.decode(errors="replace").strip().removeprefix("go version ")


def check_go(arch: Arch) -> Check:
    go = gotool.find_go()
    if go is None:
        return Check("go", False, "go not found", gotool.INSTALL_FIX)
    return Check("go", True, f"builds GOARCH={arch.goarch} with {go} ({go_version(go)})")


def check_run(arch: Arch, executor: str) -> Check:
    try:
        chosen = select(arch, executor)
    except ExecutorUnavailable as exc:
        return Check("run", False, exc.reason, exc.fix)
    return Check("run", True, chosen.describe(arch))


def diagnose(arch: Arch, executor: str) -> list[Check]:
    return [check_run(arch, executor), check_go(arch)]


def render(results: dict[Arch, list[Check]]) -> str:
    lines = []
    for arch, checks in results.items():
        status = "ok" if checks[0].ok else "CANNOT RUN"
        lines.append(f"{arch.name:<9} {status}")
        for c in checks:
            mark = "ok " if c.ok else "-- "
            lines.append(f"    {mark}{c.what:<5} {c.detail}")
            if c.fix:
                lines.append(f"          fix: {c.fix}")
    return "\n".join(lines)
