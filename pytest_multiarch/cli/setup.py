"""``python -m pytest_multiarch setup``: install what the architectures need, or print it."""

from __future__ import annotations

import argparse
import configparser
import shlex
import tomllib
from pathlib import Path

from pytest_multiarch.cli.args import arch_args, parse_arches
from pytest_multiarch.provision import setup as provision


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    setup = sub.add_parser(
        "setup", help="install what the architectures need: QEMU, Go, cross gcc and libc, Rust std"
    )
    arch_args(setup, "the --arch in the pytest ini file's addopts, else all")
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


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    values = args.arch or ini_arches(Path.cwd()) or ["all"]
    arches = parse_arches(parser, values)
    without = {w.strip() for value in args.without for w in value.split(",") if w.strip()}
    if without - set(provision.COMPONENTS):
        parser.error(
            f"--without: unknown {sorted(without - set(provision.COMPONENTS))}; "
            f"use {', '.join(provision.COMPONENTS)}"
        )
    req = provision.Request(tuple(arches), frozenset(provision.COMPONENTS) - without, args.rust_from)
    try:
        return provision.run_setup(req, dry_run=args.dry_run, strict=args.strict, say=_say, quiet=args.quiet)
    except KeyboardInterrupt:
        _say("[setup] interrupted")
        return 130


def _say(line: str) -> None:
    print(line, flush=True)


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
