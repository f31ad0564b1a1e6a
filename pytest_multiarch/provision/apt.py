"""What the distribution and its package manager say: os-release, apt's lists, dpkg's state.

Read-only queries for ``setup``'s planning; ``setup`` itself runs the commands that change things.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import env as envvars
from pytest_multiarch import proc

QUERY_TIMEOUT = 120.0
LISTS_DIR = Path("/var/lib/apt/lists")
# Debian 12's release architectures: the only ones its archive has packages (and Rust std) for.
DEBIAN_RELEASE_ARCHES = {
    "bookworm": frozenset({"amd64", "arm64", "armel", "armhf", "i386", "mips64el", "ppc64el", "s390x"}),
    "trixie": frozenset({"amd64", "arm64", "armel", "armhf", "i386", "ppc64el", "riscv64", "s390x"}),
}


@dataclass(frozen=True)
class Distro:
    """The running system as /etc/os-release describes it."""

    id: str  # "debian", "ubuntu", "fedora", ...
    codename: str  # "bookworm", "noble", "" when unknown
    pretty: str
    like: frozenset[str]

    @property
    def uses_apt(self) -> bool:
        return bool({self.id, *self.like} & {"debian", "ubuntu"}) and shutil.which("apt-get") is not None

    @property
    def is_debian(self) -> bool:
        return self.id == "debian"


def read_distro(path: Path | None = None) -> Distro:
    """Parse os-release (``$MULTIARCH_OS_RELEASE`` names another file, for tests)."""
    path = path or envvars.os_release()
    fields: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    return Distro(
        id=fields.get("ID", "unknown").lower(),
        codename=fields.get("VERSION_CODENAME", "").lower(),
        pretty=fields.get("PRETTY_NAME", fields.get("ID", "an unknown system")),
        like=frozenset(fields.get("ID_LIKE", "").lower().split()),
    )


def _query(argv: list[str]) -> str:
    try:
        res = proc.run(argv, env={**proc.base_env(), "LC_ALL": "C"}, cwd="/", timeout=QUERY_TIMEOUT)
    except OSError:
        return ""
    return res.stdout.decode(errors="replace") if res.ok else ""


def candidate(package: str) -> str | None:
    """The version ``apt-get install package`` would install, or None (unknown or none)."""
    m = re.search(r"^\s*Candidate:\s*(\S+)", _query(["apt-cache", "policy", package]), re.M)
    return m.group(1) if m and m.group(1) != "(none)" else None


def versions(package: str) -> list[str]:
    """Every version apt's lists offer for ``package`` (``name:debarch`` for another arch)."""
    found: list[str] = []
    for line in _query(["apt-cache", "madison", package]).splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] in (package, package.split(":")[0]) and parts[1] not in found:
            found.append(parts[1])
    return found


def show(package: str, version: str) -> str:
    """``apt-cache show package=version``: the package's record, "" when apt has none."""
    return _query(["apt-cache", "show", f"{package}={version}"])


def installed(package: str) -> bool:
    return "ok installed" in _query(["dpkg-query", "-W", "-f=${Status}", package])


def foreign_arches() -> frozenset[str]:
    return frozenset(_query(["dpkg", "--print-foreign-architectures"]).split())


def has_lists(pattern: str = "*_Packages*") -> bool:
    """Whether apt's downloaded lists include files matching ``pattern``."""
    return LISTS_DIR.is_dir() and any(LISTS_DIR.glob(pattern))


def suite_configured(suite: str) -> bool:
    """Whether any apt source names ``suite`` (e.g. bookworm-backports)."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for source in sources:
        try:
            if re.search(rf"(^|\s){re.escape(suite)}(\s|$)", source.read_text(encoding="utf-8"), re.M):
                return True
        except OSError:
            continue
    return False
