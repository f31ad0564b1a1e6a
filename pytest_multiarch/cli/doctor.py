"""`python -m pytest_multiarch doctor`: what each architecture needs, has, and how to fix it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import ExecutorUnavailable, select
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.go import find as gofind


@dataclass
class Check:
    what: str  # "go", "run", "rust"
    ok: bool
    detail: str
    fix: str = ""


def check_go(arch: Arch) -> Check:
    go = gofind.find_go()
    if go is None:
        reason, _, fix = gofind.not_found_reason().partition(". Fix: ")
        return Check("go", False, reason, fix)
    return Check("go", True, f"builds GOARCH={arch.goarch} with {go} ({gofind.version(go)})")


def check_run(arch: Arch, executor: str) -> Check:
    try:
        chosen = select(arch, executor)
    except ExecutorUnavailable as exc:
        return Check("run", False, exc.reason, exc.fix)
    return Check("run", True, chosen.describe(arch))


def check_rust(arch: Arch, cargo: str | None = None, project_dir: str = ".") -> Check:
    try:
        env = {**os.environ, "CARGO": cargo} if cargo else None  # an explicit --cargo wins
        chosen = rusttool.choose_toolchain(arch, project_dir=project_dir, env=env)
    except rusttool.RustToolchainError as exc:
        return Check("rust", False, str(exc).split(". Fix:")[0], rusttool.INSTALL_FIX)
    toolchain = chosen.toolchain
    which = f"rustc {toolchain.version} ({toolchain.cargo}: {chosen.why})"
    if chosen.missing is not None:
        return Check("rust", False, f"{chosen.missing.reason}; tried {which}", chosen.missing.fix)
    linker = rusttool.find_linker(toolchain, arch, project_dir)
    via = f", linker {linker.program}" if linker is not None else ""
    return Check("rust", True, f"builds {arch.rust_triple} with {which}{via}")


def diagnose(arch: Arch, executor: str, cargo: str | None = None) -> list[Check]:
    """The checks for one architecture; the first (can it run here) decides "ready"."""
    return [check_run(arch, executor), check_go(arch), check_rust(arch, cargo)]


def render(results: dict[Arch, list[Check]]) -> str:
    lines = []
    for arch, checks in results.items():
        gaps = [c.what for c in checks[1:] if not c.ok]
        status = "CANNOT RUN" if not checks[0].ok else ("ok" if not gaps else f"runs; no {', '.join(gaps)}")
        lines.append(f"{arch.name:<9} {status}")
        for c in checks:
            mark = "ok " if c.ok else "-- "
            lines.append(f"    {mark}{c.what:<5} {c.detail}")
            if c.fix:
                lines.append(f"          fix: {c.fix}")
    return "\n".join(lines)
