"""``setup``'s steps for the clang+lld link route (loong64): the tools, and the cross C library.

Two steps, each only when what it makes is absent, so a second ``setup`` plans nothing:

- clang 19 (the driver) and lld 22 (the linker) with apt, from Debian 12's own suites;
- Debian 13's arch-independent cross packages, downloaded by an apt that has its own source list,
  package lists and cache under ``<home>/downloads`` (the system's apt is neither read nor
  changed), unpacked with ``dpkg -x`` into the sysroot, checked, marked complete, and the
  downloads removed. The versions are whatever Debian 13 has when setup runs: the marker records
  the ``.deb`` names, so a build cache key can tell one sysroot from the next.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch import env as envvars
from pytest_multiarch.arch import Arch
from pytest_multiarch.provision.plan import (
    APT_UPDATE,
    Action,
    Command,
    Finding,
    Plan,
    Request,
    Step,
    WriteFile,
    apt_install,
    security_source,
)
from pytest_multiarch.toolchains.rust import lld_link

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"  # Debian 12's has Debian 13's keys


def _private_apt(dl: Path, host_debarch: str) -> tuple[str, ...]:
    """apt-get options that keep every list, lock and cache under ``dl`` and fetch one index."""
    options = {
        "Dir::Etc::SourceList": dl / f"{lld_link.SUITE}.sources",
        "Dir::Etc::SourceParts": dl / "parts",  # empty
        "Dir::Etc::Preferences": dl / "preferences",  # absent
        "Dir::Etc::PreferencesParts": dl / "parts",
        "Dir::State::Lists": dl / "lists",
        "Dir::Cache": dl / "cache",
        "APT::Architectures": host_debarch,  # Architecture: all is in every index: fetch one
        "Acquire::Languages": "none",
        "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled": "false",
        "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled": "false",
        "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled": "false",
        "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled": "false",
        "APT::Sandbox::User": "root",  # its files are root's: _apt could not write them
    }
    return tuple(word for key, value in options.items() for word in ("-o", f"{key}={value}"))


def source_text(suite: str = lld_link.SUITE) -> str:
    return (
        f"Types: deb\nURIs: http://deb.debian.org/debian\nSuites: {suite}\n"
        f"Components: main\nSigned-By: {KEYRING}\n"
    )


def _all_files(paths: Iterable[Path]) -> list[str]:
    """``test``'s words for "each of these is a file": ``-f A -a -f B``."""
    words: list[str] = []
    for path in paths:
        words += [*(["-a"] if words else []), "-f", str(path)]
    return words


def sysroot_actions(arch: Arch, home: Path, host_debarch: str) -> tuple[Action, ...]:
    """Download Debian 13's cross packages with a private apt and unpack them into the sysroot."""
    r = lld_link.ROUTES[arch.name]
    root = lld_link.sysroot(arch, home)
    dl = home / "downloads" / f"sysroot-{arch.name}"
    debs = dl / "debs"
    opts = _private_apt(dl, host_debarch)
    dirs = [dl / "parts", dl / "lists" / "partial", dl / "cache" / "archives" / "partial", debs, root]
    return (
        Command(("rm", "-rf", str(dl), str(root))),  # a half-made sysroot from a failed run
        Command(("mkdir", "-p", *map(str, dirs))),
        WriteFile(str(dl / f"{lld_link.SUITE}.sources"), source_text()),
        Command(("apt-get", *opts, "update"), tries=1),
        Command(("apt-get", *opts, "download", *r.packages), cwd=str(debs)),
        # dpkg -x takes one archive; find runs it on each (the versions are not known until now).
        Command(("find", str(debs), "-name", "*.deb", "-exec", "dpkg", "-x", "{}", str(root), ";")),
        Command(("test", *_all_files(root / f for f in r.needed))),
        # GCC's sanitizer runtimes are half the sysroot, and Rust's sanitizers bring their own.
        Command(("find", str(root / "usr/lib/gcc-cross"), "-name", "lib*san*", "-delete")),
        # Written last: the unpacked .deb names (packages and versions) mark the sysroot complete.
        Command(("find", str(debs), "-name", "*.deb", "-fprintf", str(root / lld_link.MARKER), "%f\\n")),
        Command(("rm", "-rf", str(dl))),
    )


def link_steps(
    arches: Iterable[Arch],
    home: Path | None = None,
    which: Callable[[str], str | None] = shutil.which,
    host_debarch: str | None = None,
    before_install: tuple[Action, ...] = (),
) -> tuple[list[Step], list[Finding]]:
    """The steps that make the clang+lld route of ``arches`` ready, and what is there already.

    Architectures without such a route are ignored. Nothing is planned for what is present. The
    steps name no ``arches``: a dry run's later phases take those as having their Rust std, and
    these steps only link it. ``before_install`` runs before apt installs the tools (a source).
    """
    home = home or envvars.home()
    routed = [a for a in arches if lld_link.route(a) is not None]
    if not routed:
        return [], []
    names = ", ".join(a.name for a in routed)
    steps: list[Step] = []
    present: list[Finding] = []
    packages = [pkg for prog, pkg in lld_link.APT_PACKAGES.items() if which(prog) is None]
    if packages:
        what = f"clang and lld to link Rust for {names}"
        steps.append(Step(what, (*before_install, apt_install(packages))))
    else:
        present.append(Finding("rust", f"clang and lld to link Rust for {names}"))
    debarch = host_debarch or archmod.host().debian_arch
    for a in routed:
        root = lld_link.sysroot(a, home)
        if lld_link.sysroot_complete(root):
            present.append(Finding("rust", f"the {a.name} C library to link Rust against, in {root}"))
            continue
        what = f"the {a.name} C library (Debian {lld_link.SUITE}'s cross packages) in {root}"
        steps.append(Step(what, sysroot_actions(a, home, debarch)))
    return steps, present


def plan_lld_link(req: Request, plan: Plan) -> None:
    """A setup phase: :func:`link_steps` for the requested architectures, where apt can run."""
    if "rust" not in req.components:
        return
    routed = [a for a in req.arches if lld_link.route(a) is not None]
    if not routed:
        return
    if not (req.distro.uses_apt and req.distro.is_debian and Path(KEYRING).is_file()):
        for a in routed:
            plan.unavailable.append(Finding(
                "rust", f"no way here to link Rust for {a.name}: it needs Debian's clang, lld 22 and "
                f"Debian {lld_link.SUITE}'s {a.name} cross C library",
                "run setup on Debian 12 or newer, or link with your own toolchain "
                f"(CARGO_TARGET_{lld_link.cargo_target_key(a.rust_triple or '')}_LINKER)",
            ))  # fmt: skip
        return
    # lld 22 comes from Debian 12's security suite, which a debootstrapped root does not list.
    security = security_source(req.distro)
    steps, present = link_steps(routed, before_install=(security, APT_UPDATE) if security else ())
    plan.steps += steps
    plan.present += present
