"""`python -m pytest_multiarch doctor`: what each architecture needs, has, and how to fix it."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.cli import remote as remote_cli
from pytest_multiarch.cli.args import arch_args, parse_arches
from pytest_multiarch.executors import BUILTIN, ExecutorUnavailable, select
from pytest_multiarch.executors.ssh import SshExecutor
from pytest_multiarch.executors.ssh_remote import parse_remotes
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
    goos = "" if arch.goos == "linux" else f"GOOS={arch.goos} "
    return Check("go", True, f"builds {goos}GOARCH={arch.goarch} with {go} ({gofind.version(go)})")


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
    target = rusttool.rust_target(arch, toolchain)
    if chosen.missing is not None:
        wants = f"; target {target.describe()}" if target is not None else ""
        return Check("rust", False, f"{chosen.missing.reason}; tried {which}{wants}", chosen.missing.fix)
    assert target is not None  # ready: it has a target
    found = rusttool.find_linker(toolchain, arch, project_dir)
    linker = found.program if found is not None else target.linker
    std = str(target.std)
    if target.builds_std and not rusttool.builds_std(toolchain, target):  # installed anyway: cargo uses it
        std = f"prebuilt, installed in {toolchain.sysroot}"
    return Check("rust", True, f"builds {target.triple} with {which}; std: {std}, linker {linker}")


def diagnose(arch: Arch, executor: str, cargo: str | None = None) -> list[Check]:
    """The checks for one architecture; the first (can it run here) decides "ready"."""
    return [check_run(arch, executor), check_go(arch), check_rust(arch, cargo)]


def render(results: dict[Arch, list[Check]]) -> str:
    lines = []
    for arch, checks in results.items():
        gaps = [c.what for c in checks[1:] if not c.ok]
        status = "CANNOT RUN" if not checks[0].ok else ("ok" if not gaps else f"runs; no {', '.join(gaps)}")
        lines.append(f"{arch.name:<10} {status}")
        for c in checks:
            mark = "ok " if c.ok else "-- "
            lines.append(f"    {mark}{c.what:<5} {c.detail}")
            if c.fix:
                lines.append(f"          fix: {c.fix}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doc = sub.add_parser("doctor", help="what each architecture needs and has, and the fix for each gap")
    arch_args(doc, "all known")
    doc.add_argument("--arch-executor", default="auto", choices=BUILTIN.choices())
    doc.add_argument("--cargo", default=None, help="the cargo to check (default: $CARGO, then PATH)")
    remote_cli.add_remote_args(doc)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    remotes_ready = True
    if args.arch_remote:  # the remote machines first: reachable, of their arch, space, round trip
        try:
            report, remotes_ready = remote_cli.check_all(args.arch_remote, args.ssh_config)
        except ValueError as exc:
            parser.error(f"--arch-remote: {exc}")
        print(report + "\n")
    arches = parse_arches(parser, args.arch) if args.arch else list(archmod.ARCHES)
    ssh = BUILTIN.get(SshExecutor.name)
    if isinstance(ssh, SshExecutor) and args.arch_remote:  # "run" then says which remote runs it
        ssh.configure(parse_remotes(args.arch_remote), ssh_config=args.ssh_config)
    try:
        results = {a: diagnose(a, args.arch_executor, args.cargo) for a in arches}
    finally:
        if isinstance(ssh, SshExecutor):
            ssh.close()
    print(render(results))
    if not remotes_ready:
        print("\na remote machine is not ready (see its fix above)", file=sys.stderr)
        return 1
    # Non-zero when a requested architecture cannot run at all; a missing language toolchain
    # for one arch is reported above (with its fix) but only skips that language's tests.
    cannot = [a.name for a, checks in results.items() if not checks[0].ok]
    if cannot:
        print(f"\ncannot run: {', '.join(cannot)}", file=sys.stderr)
        if args.arch_executor in ("binfmt", "docker"):  # a kernel handler or an engine: each says which
            fixes = dict.fromkeys(checks[0].fix for checks in results.values() if not checks[0].ok)
            for fix in fixes:
                print(f"fix: {fix}", file=sys.stderr)
        else:
            print(f"fix: python -m pytest_multiarch setup --arch={','.join(cannot)}", file=sys.stderr)
        return 1
    return 0
