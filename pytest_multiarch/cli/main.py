"""Command line: ``python -m pytest_multiarch doctor|setup|binfmt|merge|exec|shims``."""

from __future__ import annotations

import argparse
import configparser
import shlex
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch.cli import binfmt as binfmt_cli
from pytest_multiarch.cli import doctor
from pytest_multiarch.cli import exec as exec_cli
from pytest_multiarch.cli import merge as merge_cli
from pytest_multiarch.executors import BUILTIN
from pytest_multiarch.provision import setup as provision


def _arch_args(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        help=f"architectures (comma list, repeatable; default: {default})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=_prog())
    sub = parser.add_subparsers(dest="command", required=True)
    doc = sub.add_parser("doctor", help="what each architecture needs and has, and the fix for each gap")
    _arch_args(doc, "all known")
    doc.add_argument("--arch-executor", default="auto", choices=BUILTIN.choices())
    doc.add_argument("--cargo", default=None, help="the cargo to check (default: $CARGO, then PATH)")
    setup = sub.add_parser(
        "setup", help="install what the architectures need: QEMU, Go, cross gcc and libc, Rust std"
    )
    _arch_args(setup, "the --arch in the pytest ini file's addopts, else all")
    setup.add_argument("--dry-run", action="store_true", help="print the commands, change nothing")
    setup.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="PART",
        help=f"leave out some of {','.join(provision.COMPONENTS)} (comma list, repeatable)",
    )
    setup.add_argument(
        "--strict", action="store_true", help="exit 1 when something an architecture needs cannot be had here"
    )
    setup.add_argument(
        "--rust-from",
        choices=("auto", "rustup", "debian"),
        default="auto",
        help="where Rust standard libraries come from (auto: rustup where it can add the target, "
        "else Debian's archive)",
    )
    setup.add_argument(
        "-q", "--quiet", action="store_true", help="print only what it installs and what is missing"
    )
    binfmt_cli.add_parser(sub)
    merge_cli.add_parser(sub)
    exec_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "exec":
        return exec_cli.run(args)
    if args.command == "shims":
        return exec_cli.write_shims(args)
    if args.command == "binfmt":
        return binfmt_cli.run(args, parser)
    if args.command == "merge":
        return merge_cli.run(args)

    if args.command == "setup":
        values = args.arch or ini_arches(Path.cwd()) or ["all"]
        arches = _parse_arches(parser, values)
        without = {w.strip() for value in args.without for w in value.split(",") if w.strip()}
        if without - set(provision.COMPONENTS):
            parser.error(
                f"--without: unknown {sorted(without - set(provision.COMPONENTS))}; "
                f"use {', '.join(provision.COMPONENTS)}"
            )
        req = provision.Request(tuple(arches), frozenset(provision.COMPONENTS) - without, args.rust_from)
        try:
            return provision.run_setup(
                req, dry_run=args.dry_run, strict=args.strict, say=_say, quiet=args.quiet
            )
        except KeyboardInterrupt:
            _say("[setup] interrupted")
            return 130

    arches = _parse_arches(parser, args.arch) if args.arch else list(archmod.ARCHES)
    results = {a: doctor.diagnose(a, args.arch_executor, args.cargo) for a in arches}
    print(doctor.render(results))
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


def _prog() -> str:
    """The name usage lines give: the console script's when run as it, else ``python -m``'s."""
    console_script = Path(sys.argv[0]).name == "pytest-multiarch"
    return "pytest-multiarch" if console_script else "python -m pytest_multiarch"


def _say(line: str) -> None:
    print(line, flush=True)


def _parse_arches(parser: argparse.ArgumentParser, values: Sequence[str]) -> list[archmod.Arch]:
    try:
        return archmod.parse_list(values)
    except archmod.ArchError as exc:
        parser.error(str(exc))


def ini_arches(start: Path) -> list[str]:
    """The ``--arch`` values in the addopts of the pytest ini file pytest would use from ``start``.

    Like pytest: the first directory upwards with pytest.ini, pyproject.toml ([tool.pytest.ini_options]),
    tox.ini ([pytest]) or setup.cfg ([tool:pytest]) holding a pytest section.
    """
    for folder in (start.resolve(), *start.resolve().parents):
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            addopts = _addopts(folder / name)
            if addopts is not None:
                words = shlex.split(addopts)
                found = []
                for i, word in enumerate(words):
                    if word.startswith("--arch="):
                        found.append(word.split("=", 1)[1])
                    elif word == "--arch" and i + 1 < len(words):
                        found.append(words[i + 1])
                return found
    return []


def _addopts(path: Path) -> str | None:
    """addopts of the file's pytest section ("" when the section has none); None: no section."""
    if not path.is_file():
        return None
    try:
        if path.name == "pyproject.toml":
            section = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("pytest", {})
            opts = section.get("ini_options") if isinstance(section, dict) else None
            if not isinstance(opts, dict):
                return None
            value = opts.get("addopts", "")
            return " ".join(value) if isinstance(value, list) else str(value)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
    except (OSError, tomllib.TOMLDecodeError, configparser.Error):
        return None
    name = {"setup.cfg": "tool:pytest"}.get(path.name, "pytest")
    if not parser.has_section(name):
        return None
    return parser.get(name, "addopts", fallback="")
