"""``python -m pytest_multiarch remote check|prune``, and the remote checks ``doctor`` runs for
``--arch-remote`` entries: reachable, of the architecture configured, free space in the cache,
round-trip time."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors.ssh import SshExecutor
from pytest_multiarch.executors.ssh_remote import (
    CACHE_SUBDIR,
    Connection,
    Remote,
    RemoteError,
    parse_remotes,
    runtime_dir,
)

LOW_SPACE = 1 << 30  # less free space than this in a remote's cache is reported as a gap


@dataclass
class RemoteCheck:
    what: str  # "reach", "arch", "space"
    ok: bool
    detail: str
    fix: str = ""


def add_remote_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch-remote", action="append", default=[], metavar="ARCH=DESTINATION",
                        help="a remote machine for ARCH, as multiarch_remotes (repeatable)")  # fmt: skip
    parser.add_argument("--ssh-config", default=None, help="the ssh client's config file (ssh -F)")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("remote", help="check a remote machine, or empty its cache")
    actions = parser.add_subparsers(dest="remote_command", required=True)
    check = actions.add_parser("check", help="reachable, architecture, free space, round trip")
    check.add_argument("entries", nargs="+", metavar="ARCH=DESTINATION")
    prune = actions.add_parser("prune", help="remove the staged binaries and directories from a host")
    prune.add_argument("destination", metavar="HOST", help="the ssh destination (user@host, alias)")
    for p in (check, prune):
        p.add_argument("--ssh-config", default=None, help="the ssh client's config file (ssh -F)")


def check_remote(remote: Remote, ssh_config: str | None) -> list[RemoteCheck]:
    """Reach ``remote``, compare its ``uname -m`` with its architecture, and look at its cache."""
    executor = SshExecutor()
    executor.configure([remote], ssh_config=ssh_config)
    try:
        try:
            info = executor.host(remote).conn.open()
        except RemoteError as exc:
            return [RemoteCheck("reach", False, exc.why, exc.fix)]
        checks = [RemoteCheck("reach", True, f"{executor.describe(remote.arch)}; round trip "
                              f"{info.rtt * 1000:.0f} ms; {info.cores} cores")]  # fmt: skip
        try:
            executor.connect(remote)
            checks.append(RemoteCheck("arch", True, f"`uname -m` says {info.machine}"))
        except RemoteError as exc:
            checks.append(RemoteCheck("arch", False, exc.why, exc.fix))
        free = f"{info.free_bytes / (1 << 30):.1f} GiB free in {info.cache}"
        if info.free_bytes < LOW_SPACE:
            prune_it = f"python -m pytest_multiarch remote prune {shlex.quote(remote.destination)}"
            fix = f"free space on {remote.host}, or `{prune_it}`"
            checks.append(RemoteCheck("space", False, free, fix))
        else:
            checks.append(RemoteCheck("space", True, free))
        return checks
    finally:
        executor.close()


def render(results: Sequence[tuple[Remote, list[RemoteCheck]]]) -> str:
    lines = []
    for remote, checks in results:
        status = "ok" if all(c.ok for c in checks) else "CANNOT RUN"
        lines.append(f"{remote.arch.name:<10} {status}  (remote {remote.destination})")
        for c in checks:
            lines.append(f"    {'ok ' if c.ok else '-- '}{c.what:<5} {c.detail}")
            if c.fix:
                lines.append(f"          fix: {c.fix}")
    return "\n".join(lines)


def check_all(entries: Sequence[str], ssh_config: str | None) -> tuple[str, bool]:
    """(the report, whether every remote is ready); ValueError for an entry that does not parse."""
    results = [(r, check_remote(r, ssh_config)) for r in parse_remotes(entries)]
    return render(results), all(c.ok for _, checks in results for c in checks)


def prune(destination: str, ssh_config: str | None) -> int:
    """Remove the cache directory from ``destination``; what was freed is printed."""
    remote = Remote(archmod.host(), destination)
    runtime = runtime_dir()
    conn = Connection(remote, runtime / "p", ssh_config)
    try:
        try:
            info = conn.open()
        except RemoteError as exc:
            print(f"{exc.why}\nfix: {exc.fix}", file=sys.stderr)
            return 1
        if not info.cache.rstrip("/").endswith("/" + CACHE_SUBDIR):  # never anything else
            print(f"refusing to remove {info.cache}: not a {CACHE_SUBDIR} cache", file=sys.stderr)
            return 1
        cache = shlex.quote(info.cache)
        res = conn.run(f"du -sk {cache} 2>/dev/null | cut -f1; rm -rf {cache}")
        if res.returncode != 0:
            said = res.stderr.decode("utf-8", "replace").strip()
            print(f"ssh {remote.host}: removing {info.cache} failed: {said}", file=sys.stderr)
            return 1
        kib = res.stdout.decode().strip() or "0"
        print(f"removed {info.cache} on {remote.host} ({int(kib) // 1024 if kib.isdigit() else kib} MiB)")
        return 0
    finally:
        conn.close()
        shutil.rmtree(runtime, ignore_errors=True)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.remote_command == "prune":
        return prune(args.destination, args.ssh_config)
    try:
        report, ready = check_all(args.entries, args.ssh_config)
    except ValueError as exc:
        parser.error(str(exc))
    print(report)
    return 0 if ready else 1
