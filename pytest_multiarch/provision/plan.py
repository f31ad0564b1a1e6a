"""Plans of exact commands: what ``setup`` would run, printed by a dry run, run by a real one.

Each action is an argv list (never a shell) or a whole file to write; rendering gives the shell
line a person would type, behind sudo when they are not root.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.provision import apt

SETUP_TIMEOUT = 1800.0  # one apt-get install of cross compilers on a slow mirror
APT_ENV = (("DEBIAN_FRONTEND", "noninteractive"),)
COMPONENTS = ("qemu", "go", "cross", "rust", "wasmtime")


@dataclass(frozen=True)
class Command:
    """One program to run (argv, never a shell)."""

    argv: tuple[str, ...]
    cwd: str = "/"
    env: tuple[tuple[str, str], ...] = ()
    root: bool = True  # needs root (printed behind sudo for others)
    check: bool = True  # False: a failure is reported and the run goes on
    tries: int = 1  # mirrors are sometimes mid-sync: refresh and try again

    def render(self, sudo: bool = False) -> str:
        words = [*(f"{k}={v}" for k, v in self.env), *self.argv]
        if sudo and self.root:
            words = ["sudo", *(["env"] if self.env else []), *words]
        line = shlex.join(words)
        return f"(cd {shlex.quote(self.cwd)} && {line})" if self.cwd != "/" else line


@dataclass(frozen=True)
class WriteFile:
    """A file to write whole (an apt source, a wrapper script, a marker)."""

    path: str
    text: str
    mode: int = 0o644
    root: bool = True

    def render(self, sudo: bool = False) -> str:
        pre = ["sudo"] if sudo and self.root else []
        line = f"printf '%s' {shlex.quote(self.text)} | {shlex.join([*pre, 'tee', self.path])} >/dev/null"
        if self.mode != 0o644:
            line += " && " + shlex.join([*pre, "chmod", f"{self.mode:o}", self.path])
        return line


Action = Command | WriteFile


@dataclass(frozen=True)
class Step:
    what: str  # what it installs, for whom
    actions: tuple[Action, ...]
    arches: tuple[str, ...] = ()  # the architectures it is for, when it is for some


@dataclass(frozen=True)
class Finding:
    """Something already there, or something that cannot be had here (with the way out)."""

    what: str
    detail: str
    fix: str = ""


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    present: list[Finding] = field(default_factory=list)
    unavailable: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    arches: tuple[Arch, ...]
    components: frozenset[str] = frozenset(COMPONENTS)
    rust_from: str = "auto"  # "rustup", "debian" or "auto" (rustup where it can, else Debian's)
    assumed: frozenset[str] = frozenset()  # arches a dry run takes as done by an earlier phase
    distro: apt.Distro = field(default_factory=apt.read_distro)


def apt_install(packages: Sequence[str], release: str | None = None) -> Command:
    argv = ["apt-get", "install", "-y", "--no-install-recommends"]
    if release:
        argv += ["-t", release]
    return Command((*argv, *packages), env=APT_ENV)


APT_UPDATE = Command(("apt-get", "update"), env=APT_ENV, check=False)


def backports(distro: apt.Distro) -> str | None:
    """The backports suite of a Debian release that needs it for QEMU ≥ 8 and Go ≥ 1.21."""
    return "bookworm-backports" if distro.is_debian and distro.codename == "bookworm" else None


def backports_source(suite: str, uri: str = "http://deb.debian.org/debian") -> WriteFile:
    """An apt source for ``suite`` of Debian's archive (backports, or security at ``uri``)."""
    text = (
        f"Types: deb\nURIs: {uri}\n"
        f"Suites: {suite}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    return WriteFile(f"/etc/apt/sources.list.d/{suite}.sources", text)


def security_source(distro: apt.Distro) -> WriteFile | None:
    """The security suite of a Debian release whose apt does not list it (a debootstrapped root's
    does not; a stock install's does), or None when it is listed or not Debian."""
    if not distro.is_debian or not distro.codename:
        return None
    suite = f"{distro.codename}-security"
    return None if apt.suite_configured(suite) else backports_source(suite, "http://deb.debian.org/debian-security")


def run_action(action: Action, say: Callable[[str], None]) -> bool:
    """Run one action, saying what it runs; False when it failed (and mattered)."""
    say("$ " + action.render())
    if isinstance(action, WriteFile):
        path = Path(action.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(action.text, encoding="utf-8")
        path.chmod(action.mode)
        return True
    for attempt in range(1, action.tries + 1):
        res = _run(action, say)
        if res is None:
            return not action.check
        if res.ok:
            return True
        output = (res.stdout + res.stderr).decode(errors="replace").strip().splitlines()
        say(f"  {res.describe_exit()}:")
        for line in output[-15:]:
            say("  | " + line)
        if attempt < action.tries:
            say(f"  refreshing the package lists and trying again ({attempt + 1}/{action.tries})")
            _run(APT_UPDATE, say)
    if not action.check:
        say("  (ignored: what follows checks its own needs)")
    return not action.check


def _run(command: Command, say: Callable[[str], None]) -> proc.ProcResult | None:
    """Run ``command`` to the end; None (said why) when it cannot even start."""
    try:
        return proc.run(
            command.argv, env={**proc.base_env(), **dict(command.env)}, cwd=command.cwd, timeout=SETUP_TIMEOUT
        )
    except OSError as exc:
        say(f"  could not start {command.argv[0]}: {exc}")
        return None
