"""``python -m pytest_multiarch binfmt status|install|uninstall [ARCH...]``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors import binfmt_misc as binfmt


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("binfmt", help="show, register or remove QEMU binfmt_misc handlers")
    actions = parser.add_subparsers(dest="binfmt_command", required=True)
    status = actions.add_parser("status", help="the handler each architecture has (default: all)")
    status.add_argument("--json", action="store_true", help="print JSON")
    install = actions.add_parser("install", help="register qemu-<arch>-static for these architectures")
    install.add_argument("--force", action="store_true", help="replace a conflicting handler")
    install.add_argument(
        "--flags", default=binfmt.DEFAULT_FLAGS,
        help=f"binfmt_misc flags, letters of {binfmt.FLAGS} (default {binfmt.DEFAULT_FLAGS}: "
        "the kernel opens QEMU once, so containers can use it)",
    )  # fmt: skip
    uninstall = actions.add_parser("uninstall", help="remove the handlers this tool registered")
    for p in (status, install, uninstall):
        p.add_argument("arches", nargs="*", metavar="ARCH", help="architectures (names, aliases, 'all')")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        arches = _arches(args.arches, required=args.binfmt_command == "install")
    except archmod.ArchError as exc:
        parser.error(str(exc))
    try:
        if args.binfmt_command == "status":
            # One row per CPU unless asked: a musl column shares its glibc twin's handler.
            cpus = [a for a in archmod.ARCHES if a.libc == "gnu" and a.linux_elf]  # no wasm: no QEMU
            return _status(arches or cpus, as_json=args.json)
        if args.binfmt_command == "install":
            changes = binfmt.install(arches, flags=args.flags, force=args.force)
        else:
            changes = binfmt.uninstall(arches or None)
    except binfmt.BinfmtError as exc:
        print(f"binfmt {args.binfmt_command}: {exc}")
        return 1
    for c in changes:
        print(f"{c.arch:<9} {c.action:<10} {c.handler}" + (f"  {c.detail}" if c.detail else ""))
    if not changes:
        print("nothing to do")
    conflicts = [c for c in changes if c.action == "conflict"]
    if conflicts:
        names = " ".join(c.arch for c in conflicts)
        print(f"left alone: another handler serves {names}. To replace it: "
              f"python -m pytest_multiarch binfmt install --force {names}")  # fmt: skip
        return 1
    return 0


def _arches(values: Sequence[str], *, required: bool) -> list[archmod.Arch]:
    if not values:
        if required:
            raise archmod.ArchError("name the architectures to install, e.g. `binfmt install arm64 s390x`")
        return []
    return archmod.parse_list([",".join(values)])


def _status(arches: Sequence[archmod.Arch], *, as_json: bool) -> int:
    rows = binfmt.status(arches)
    if as_json:
        print(json.dumps({"mounted": binfmt.mounted(), "arches": rows}, indent=2))
        return 0
    if not binfmt.mounted():
        print(f"binfmt_misc is not mounted on {binfmt.MOUNT} (`binfmt install` mounts it)")
    for r in rows:
        handler = r["handler"]
        where = ""
        if isinstance(handler, dict):
            where = f"  {handler['name']}: {handler['interpreter']} flags {handler['flags'] or '-'}"
            where += " (ours)" if r.get("ours") else ""
        print(f"{r['arch']:<9} {r['state']:<10}{where}")
    return 0
