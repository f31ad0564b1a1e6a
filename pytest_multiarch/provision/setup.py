"""What ``python -m pytest_multiarch setup`` installs, as a plan of exact commands.

The plan is made in phases, each from what the machine has right before it runs (apt's lists
after an update, rustup's result before Debian's Rust is tried), so a dry run prints what would
run now and a real run re-plans each phase. Every probe tolerates a missing tool: a missing
tool is what this module exists to install.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import qemu
from pytest_multiarch.executors.native import runs_natively
from pytest_multiarch.provision import apt, loong64, wasm
from pytest_multiarch.provision import rust as provision_rust
from pytest_multiarch.provision.plan import (
    APT_UPDATE,
    COMPONENTS,
    Action,
    Finding,
    Plan,
    Request,
    Step,
    apt_install,
    backports,
    backports_source,
    run_action,
)
from pytest_multiarch.toolchains.go import find as gofind
from pytest_multiarch.toolchains.rust import lld_link

__all__ = ["COMPONENTS", "PHASES", "Request", "plan_phase", "run_setup"]

MIN_GO = (1, 21)
PHASES = ("apt sources", "packages", "linkers without a cross gcc", "rustup", "foreign architectures",
          "Debian's Rust")  # fmt: skip
_FOREIGN, _DEBIAN_RUST = PHASES.index("foreign architectures"), PHASES.index("Debian's Rust")


# ---------------------------------------------------------------------------------------------
# Phases 0 and 1: apt sources and system packages


def _emulated(req: Request) -> list[Arch]:
    """The selected Linux arches QEMU runs (wasm needs no QEMU: see provision/wasm.py)."""
    return [a for a in req.arches if not runs_natively(a) and a.linux_elf]


def _qemu_need(req: Request, plan: Plan) -> bool:
    emulated = _emulated(req)
    if "qemu" not in req.components or not emulated:
        return False
    qemu.find_qemu.cache_clear()
    qemu.qemu_version.cache_clear()
    versions = []
    for a in emulated:
        path = qemu.find_qemu(a)
        version = qemu.qemu_version(path) if path else None
        if version is None or version < qemu.MIN_GOOD_QEMU:
            return True  # missing, unknown or too old (Go's os/exec breaks under QEMU < 8)
        versions.append(".".join(map(str, version)))
    shown = ", ".join(a.name for a in emulated)
    plan.present.append(Finding("qemu", f"QEMU {versions[0]} user emulators for {shown}"))
    return False


def _go_need(req: Request, plan: Plan) -> bool:
    if "go" not in req.components:
        return False
    go = gofind.find_go()
    if go is not None:
        gofind.version.cache_clear()  # a reinstalled go answers anew
        version = gofind.release(go)
        if version >= MIN_GO:
            plan.present.append(Finding("go", f"Go {'.'.join(map(str, version))} ({go})"))
            return False
    return True


def _cross_packages(req: Request) -> list[tuple[Arch, tuple[str, str]]]:
    """(arch, (cross gcc, cross libc)) for every selected foreign arch lacking either."""
    host = archmod.host()
    wanted: list[tuple[Arch, tuple[str, str]]] = []
    if "cross" not in req.components:
        return wanted
    for a in req.arches:
        if a == host or a.libc == "musl" or lld_link.route(a) is not None or not a.linux_elf:
            continue  # no cross gcc needed: musl columns link with rust-lld, routed ones with clang and lld
        has_gcc = shutil.which(f"{a.gnu_triple}-gcc") is not None
        has_libc = Path(f"/usr/{a.gnu_triple}/lib").is_dir()
        if not (has_gcc and has_libc):
            wanted.append((a, (f"gcc-{a.gnu_triple}", f"libc6-dev-{a.debian_arch}-cross")))
    return wanted


def plan_system(req: Request, phase: int, plan: Plan) -> None:
    """Phases 0 (apt sources, update) and 1 (QEMU, Go, cross gcc and libc)."""
    want_qemu = _qemu_need(req, plan)
    want_go = _go_need(req, plan)
    cross = _cross_packages(req)
    if cross and req.distro.uses_apt and apt.has_lists():
        gone = [(a, pkgs) for a, pkgs in cross if not all(apt.candidate(p) for p in pkgs)]
        for a, pkgs in gone:
            if phase == 1:
                plan.unavailable.append(Finding(
                    "cross", f"no {' or '.join(pkgs)} in {req.distro.pretty}'s archive for {a.name}",
                    f"build {a.name} with Go only (CGO_ENABLED=0), or leave {a.name} out",
                ))  # fmt: skip
        cross = [c for c in cross if c not in gone]
    linked = {a for a in req.arches if lld_link.route(a) is not None}  # they need no cross gcc
    musl = {a for a in req.arches if a.libc == "musl"}  # Go without cgo, Rust linked by rust-lld
    other = {a for a in req.arches if not a.linux_elf}  # wasm: rustc links it, Go needs no cgo
    skipped = {archmod.host(), *linked, *musl, *other, *dict(cross)}
    present_cross = [a.name for a in req.arches if a not in skipped]
    if "cross" in req.components and present_cross:
        plan.present.append(Finding("cross", f"cross gcc and libc for {', '.join(present_cross)}"))
    if not (want_qemu or want_go or cross):
        return
    if not req.distro.uses_apt:
        for what, needed in (("qemu", want_qemu), ("go", want_go), ("cross", bool(cross))):
            if needed:
                plan.unavailable.append(
                    Finding(
                        what, f"not installed, and {req.distro.pretty} has no apt", _manual_fix(what, req)
                    )
                )
        return
    suite = backports(req.distro)
    if phase == 0:
        actions: list[Action] = []
        if suite and (want_qemu or want_go) and not apt.suite_configured(suite):
            actions.append(backports_source(suite))
        actions.append(APT_UPDATE)
        plan.steps.append(Step("apt sources and package lists", tuple(actions)))
        return
    if want_qemu:
        plan.steps.append(Step(
            f"QEMU user emulators (8 or newer) for {', '.join(a.name for a in _emulated(req))}",
            (apt_install(["qemu-user-static"], suite),),
        ))  # fmt: skip
    if want_go:
        package = "golang-1.23-go" if suite else "golang-go"
        what = "Go (found in /usr/lib/go-1.*/bin without PATH changes)" if suite else "Go"
        plan.steps.append(Step(what, (apt_install([package], suite),)))
    if cross:
        packages = [p for _, pkgs in cross for p in pkgs]
        names = ", ".join(a.name for a, _ in cross)
        plan.steps.append(Step(f"cross gcc and libc for {names}", (apt_install(["gcc", *packages]),)))


def _plan_packages(req: Request, plan: Plan) -> None:
    """Phase 1: the system's packages, then wasmtime-py (a Python package) for wasm."""
    plan_system(req, 1, plan)
    wasm.plan_wasmtime(req, plan)


def _manual_fix(what: str, req: Request) -> str:
    return {
        "qemu": "install QEMU 8 or newer user-mode emulators (qemu-user-static) with your package manager",
        "go": gofind.INSTALL_FIX,
        "cross": "install gcc cross compilers and C libraries for "
        + ", ".join(a.gnu_triple for a in req.arches if a != archmod.host() and a.linux_elf),
    }[what]


PLANNERS: tuple[Callable[[Request, Plan], None], ...] = (
    lambda req, plan: plan_system(req, 0, plan),
    lambda req, plan: _plan_packages(req, plan),
    loong64.plan_lld_link,
    provision_rust.plan_rustup,
    provision_rust.plan_foreign_arches,
    provision_rust.plan_debian_rust,
)


def plan_phase(req: Request, phase: int) -> Plan:
    plan = Plan()
    PLANNERS[phase](req, plan)
    return plan


def is_root() -> bool:
    return os.geteuid() == 0


def run_setup(
    req: Request, *, dry_run: bool, strict: bool, say: Callable[[str], None], quiet: bool = False
) -> int:
    """Plan and (unless ``dry_run``) run each phase; the exit status for the command line.

    0: everything the package manager here can give is there; 1: a command failed, we are not
    root, or (with ``strict``, or where there is no apt) something needed cannot be had here.
    """
    names = ", ".join(a.name for a in req.arches)
    if not quiet:
        say(f"[setup] {names} on {req.distro.pretty}")
    sudo = not is_root()
    present: list[Finding] = []
    unavailable: list[Finding] = []
    planned = 0
    planned_foreign = False
    for phase, title in enumerate(PHASES):
        if dry_run and phase == _DEBIAN_RUST and planned_foreign:
            say(f"[setup] would then plan: {title} (exact versions from the package lists fetched above)")
            break
        plan = plan_phase(req, phase)
        present += [f for f in plan.present if f not in present]
        unavailable += [f for f in plan.unavailable if f not in unavailable]
        planned_foreign = phase == _FOREIGN and bool(plan.steps)
        if dry_run:  # later phases plan as if these steps had run
            done = frozenset(name for step in plan.steps for name in step.arches)
            req = dataclasses.replace(req, assumed=req.assumed | done)
        for step in plan.steps:
            planned += 1
            say(f"[setup] {'would install' if dry_run or sudo else 'installing'}: {step.what}")
            if dry_run or sudo:
                for action in step.actions:
                    say("  " + action.render(sudo))
                continue
            if not all(run_action(action, say) for action in step.actions):
                say(f"[setup] failed: {step.what} (the output above says why)")
                return 1
        if sudo and plan.steps:
            break  # later phases depend on these commands having run
    for f in [] if quiet else present:
        say(f"[setup] ok: {f.detail}")
    for f in unavailable:
        say(f"[setup] not available here: {f.detail}" + (f"; instead: {f.fix}" if f.fix else ""))
    if sudo and planned and not dry_run:
        say(
            "[setup] not root: run the commands above as root "
            "(or `sudo python -m pytest_multiarch setup ...`)"
        )
        return 1
    if planned and not dry_run:
        still = [s.what for phase in range(len(PHASES)) for s in plan_phase(req, phase).steps]
        if still:
            say(f"[setup] still missing after setup: {'; '.join(still)}")
            return 1
    if not planned and not quiet:
        say("[setup] nothing to install")
    return 1 if unavailable and (strict or not req.distro.uses_apt) else 0
