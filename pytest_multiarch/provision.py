"""What ``python -m pytest_multiarch setup`` installs, as a plan of exact commands.

The plan is made in phases, each from what the machine has right before it runs (apt's lists
after an update, rustup's result before Debian's Rust is tried), so a dry run prints what would
run now and a real run re-plans each phase. Every probe tolerates a missing tool: a missing
tool is what this module exists to install.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import apt, proc
from . import arch as archmod
from .arch import Arch
from .executors import qemu
from .executors.native import runs_natively
from .toolchains import debian_rust
from .toolchains import go as gotool
from .toolchains import rust as rusttool

MIN_GO = (1, 21)
SETUP_TIMEOUT = 1800.0  # one apt-get install of cross compilers on a slow mirror
APT_ENV = (("DEBIAN_FRONTEND", "noninteractive"),)
PHASES = ("apt sources", "packages", "rustup", "foreign architectures", "Debian's Rust")
COMPONENTS = ("qemu", "go", "cross", "rust")


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
    distro: apt.Distro = field(default_factory=apt.read_distro)


def _apt_install(packages: Sequence[str], release: str | None = None) -> Command:
    argv = ["apt-get", "install", "-y", "--no-install-recommends"]
    if release:
        argv += ["-t", release]
    return Command((*argv, *packages), env=APT_ENV)


APT_UPDATE = Command(("apt-get", "update"), env=APT_ENV, check=False)


def _backports(distro: apt.Distro) -> str | None:
    """The backports suite of a Debian release that needs it for QEMU ≥ 8 and Go ≥ 1.21."""
    return "bookworm-backports" if distro.is_debian and distro.codename == "bookworm" else None


def _backports_source(suite: str) -> WriteFile:
    text = (
        "Types: deb\nURIs: http://deb.debian.org/debian\n"
        f"Suites: {suite}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    return WriteFile(f"/etc/apt/sources.list.d/{suite}.sources", text)


# ---------------------------------------------------------------------------------------------
# Phases 0 and 1: apt sources and system packages


def _emulated(req: Request) -> list[Arch]:
    return [a for a in req.arches if not runs_natively(a)]


def _qemu_need(req: Request, plan: Plan) -> bool:
    emulated = _emulated(req)
    if "qemu" not in req.components or not emulated:
        return False
    qemu.find_qemu.cache_clear()
    qemu.qemu_version.cache_clear()
    old, missing = [], []
    for a in emulated:
        path = qemu.find_qemu(a)
        version = qemu.qemu_version(path) if path else None
        if path is None:
            missing.append(a.name)
        elif version is None or version < qemu.MIN_GOOD_QEMU:
            old.append(f"{a.name} ({path} {'.'.join(map(str, version or ())) or 'unknown version'})")
    if not missing and not old:
        first = qemu.find_qemu(emulated[0])
        version = ".".join(map(str, qemu.qemu_version(first) or ())) if first else "?"
        plan.present.append(Finding("qemu", f"QEMU {version} user emulators for {', '.join(a.name for a in emulated)}"))
        return False
    return True


def _go_version(go: str) -> tuple[int, ...]:
    res = proc.run([go, "version"], env=proc.base_env(), cwd="/", timeout=60)
    m = re.search(rb"go(\d+)\.(\d+)", res.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0,)


def _go_need(req: Request, plan: Plan) -> bool:
    if "go" not in req.components:
        return False
    go = gotool.find_go()
    if go is not None:
        version = _go_version(go)
        if version >= MIN_GO:
            plan.present.append(Finding("go", f"Go {'.'.join(map(str, version))} ({go})"))
            return False
    return True


def _cross_packages(req: Request) -> list[tuple[Arch, tuple[str, str]]]:
    """(arch, (cross gcc, cross libc)) for every selected foreign arch lacking either."""
    host = archmod.host()
    wanted = []
    if "cross" not in req.components:
        return wanted
    for a in req.arches:
        if a == host:
            continue
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
    present_cross = [a.name for a in req.arches if a != archmod.host() and a not in dict(cross)]
    if "cross" in req.components and present_cross:
        plan.present.append(Finding("cross", f"cross gcc and libc for {', '.join(present_cross)}"))
    if not (want_qemu or want_go or cross):
        return
    if not req.distro.uses_apt:
        for what, needed in (("qemu", want_qemu), ("go", want_go), ("cross", bool(cross))):
            if needed:
                plan.unavailable.append(Finding(what, f"not installed, and {req.distro.pretty} has no apt", _manual_fix(what, req)))
        return
    backports = _backports(req.distro)
    if phase == 0:
        actions: list[Action] = []
        if backports and (want_qemu or want_go) and not apt.suite_configured(backports):
            actions.append(_backports_source(backports))
        actions.append(APT_UPDATE)
        plan.steps.append(Step("apt sources and package lists", tuple(actions)))
        return
    if want_qemu:
        plan.steps.append(Step(
            f"QEMU user emulators (8 or newer) for {', '.join(a.name for a in _emulated(req))}",
            (_apt_install(["qemu-user-static"], backports),),
        ))  # fmt: skip
    if want_go:
        package = "golang-1.23-go" if backports else "golang-go"
        plan.steps.append(Step("Go (found in /usr/lib/go-1.*/bin without PATH changes)" if backports else "Go",
                               (_apt_install([package], backports),)))  # fmt: skip
    if cross:
        packages = [p for _, pkgs in cross for p in pkgs]
        names = ", ".join(a.name for a, _ in cross)
        plan.steps.append(Step(f"cross gcc and libc for {names}", (_apt_install(["gcc", *packages]),)))


def _manual_fix(what: str, req: Request) -> str:
    return {
        "qemu": "install QEMU 8 or newer user-mode emulators (qemu-user-static) with your package manager",
        "go": gotool.INSTALL_FIX,
        "cross": "install gcc cross compilers and C libraries for "
        + ", ".join(a.gnu_triple for a in req.arches if a != archmod.host()),
    }[what]


# ---------------------------------------------------------------------------------------------
# Phases 2-4: Rust standard libraries


def _rust_missing(req: Request) -> dict[Arch, rusttool.Chosen | None]:
    """Selected arches whose Rust std no candidate toolchain has (None: no toolchain at all)."""
    if "rust" not in req.components:
        return {}
    found: dict[str, rusttool.RustToolchain | None] = {}

    def lookup(cargo: str) -> rusttool.RustToolchain:
        if cargo not in found:
            try:
                found[cargo] = rusttool.toolchain_of(cargo)
            except rusttool.RustToolchainError:
                found[cargo] = None
        tc = found[cargo]
        if tc is None:
            raise rusttool.RustToolchainError(f"{cargo} does not run")
        return tc

    missing: dict[Arch, rusttool.Chosen | None] = {}
    if req.rust_from == "debian":  # only a prefix of Debian's Rust counts
        have = {t for c in debian_rust.provisioned_cargos() for t in rusttool.installed_targets(lookup(str(c)))}
        return {a: None for a in req.arches if a.rust_triple and a.rust_triple not in have}
    for a in req.arches:
        if a.rust_triple is None:
            continue
        try:
            chosen = rusttool.choose_toolchain(a, project_dir="/", lookup=lookup)
        except rusttool.RustToolchainError:
            missing[a] = None
            continue
        if a.rust_triple not in rusttool.installed_targets(chosen.toolchain):
            missing[a] = chosen
    return missing


def _present_rust(req: Request, missing: dict[Arch, rusttool.Chosen | None], plan: Plan) -> None:
    have = [a.name for a in req.arches if a.rust_triple and a not in missing]
    if "rust" in req.components and have:
        plan.present.append(Finding("rust", f"Rust standard libraries for {', '.join(have)}"))


def plan_rustup(req: Request, plan: Plan) -> None:
    """Phase 2: `rustup target add` where the first candidate cargo is rustup's."""
    missing = _rust_missing(req)
    _present_rust(req, missing, plan)
    rustup = shutil.which("rustup")
    if req.rust_from == "debian":
        return
    for a, chosen in missing.items():
        name = chosen.toolchain.rustup_toolchain if chosen else None
        if rustup and name and a.rust_triple in rusttool.known_targets(chosen.toolchain):  # type: ignore[union-attr]
            command = Command((rustup, "target", "add", "--toolchain", name, str(a.rust_triple)), root=False)
            plan.steps.append(Step(f"Rust std for {a.name} with rustup", (command,)))


def _debian_arches(req: Request, missing: dict[Arch, rusttool.Chosen | None], plan: Plan) -> list[Arch]:
    """Arches whose std Debian's archive can give; the others are reported unavailable."""
    release = apt.DEBIAN_RELEASE_ARCHES.get(req.distro.codename, frozenset())
    result = []
    for a in missing:
        if req.distro.is_debian and a.debian_arch in release and a.debian_arch not in rusttool.DEBIAN_NO_STD:
            result.append(a)
            continue
        note, fix = rusttool.DEBIAN_NO_STD.get(a.debian_arch, (f"{req.distro.pretty} has no Rust std packages we can unpack", rusttool.RUSTUP_FIX))
        plan.unavailable.append(Finding("rust", f"no Rust std for {a.name} ({a.rust_triple}): {note}",
                                        fix.format(triple=a.rust_triple, arch=a.name)))  # fmt: skip
    return result


def plan_foreign_arches(req: Request, plan: Plan) -> None:
    """Phase 3: dpkg learns the architectures whose std Debian's Rust prefix will take."""
    if req.rust_from == "rustup":
        return
    missing = _rust_missing(req)
    arches = _debian_arches(req, missing, plan)
    host = archmod.host().debian_arch
    known = apt.foreign_arches()
    add = sorted({a.debian_arch for a in arches} - known - {host})
    stale = [d for d in {a.debian_arch for a in arches} - {host} if not apt.has_lists(f"*binary-{d}_Packages*")]
    if add or stale:
        adds = tuple(Command(("dpkg", "--add-architecture", d)) for d in add)
        plan.steps.append(Step(f"package lists for {', '.join(sorted({*add, *stale}))}", (*adds, APT_UPDATE)))


def plan_debian_rust(req: Request, plan: Plan) -> None:
    """Phase 4: Debian's rustc, cargo and per-arch std unpacked into a private prefix."""
    if req.rust_from == "rustup":
        return
    missing = _rust_missing(req)
    arches = _debian_arches(req, missing, plan)
    if not arches:
        return
    host = archmod.host()
    existing = {debian_rust.prefix_version(c.parent.parent): c.parent.parent for c in debian_rust.provisioned_cargos()}
    stds = {
        a.debian_arch: apt.versions(debian_rust.STD_PACKAGE + ("" if a == host else f":{a.debian_arch}"))
        for a in arches
    }
    # Extend a prefix that has a version all these arches have; else unpack a new one beside it.
    offered = [v for v in [*existing, *apt.versions(debian_rust.HOST_PACKAGES[0])] if v]
    choice = debian_rust.choose_version(dict.fromkeys(offered), stds)
    if choice is None:
        for a in arches:
            plan.unavailable.append(Finding("rust", f"apt offers no {debian_rust.HOST_PACKAGES[0]} for {a.name}",
                                            "apt-get update, or install Rust with rustup"))  # fmt: skip
        return
    version = choice.version
    prefix = existing.get(version) or debian_rust.prefix_for(version)
    new_prefix = version not in existing
    assert prefix is not None
    downloads = debian_rust.root() / "downloads" / version
    usable = [a for a in arches if version in stds[a.debian_arch]]
    for a in arches:
        if a not in usable:
            plan.unavailable.append(Finding(
                "rust", f"apt offers no {debian_rust.STD_PACKAGE}:{a.debian_arch} at {version}, the version "
                "most of the selected architectures have (a target's std must match rustc exactly)",
                "apt-get update and run setup again (mirrors are sometimes mid-sync), or use rustup",
            ))  # fmt: skip
    actions: list[Action] = [Command(("mkdir", "-p", str(downloads)))]
    unpack: list[tuple[str, str]] = []  # (package, debarch)
    if new_prefix:
        shows = {p: apt.show(p, version) for p in debian_rust.HOST_PACKAGES}
        shared = [d for d in debian_rust.parse_depends(debian_rust.parse_show(shows[debian_rust.STD_PACKAGE]).get("Depends", ""))]
        shows.update({p: apt.show(p, version) for p in shared})
        deps = [d for d in debian_rust.external_depends(shows) if not apt.installed(d)]
        if deps:
            actions.append(_apt_install(deps))
        unpack += [(p, host.debian_arch) for p in (*debian_rust.HOST_PACKAGES, *shared)]
    unpack += [(debian_rust.STD_PACKAGE, a.debian_arch) for a in usable if a != host]
    if not unpack:
        return
    specs = [f"{p}:{d}={version}" if d != host.debian_arch else f"{p}={version}" for p, d in unpack]
    actions.append(Command(("apt-get", "download", *specs), cwd=str(downloads), tries=3))
    for p, d in unpack:
        actions.append(Command(("dpkg", "-x", str(downloads / debian_rust.deb_filename(p, version, d)), str(prefix))))
    if new_prefix:
        multiarch = "i386-linux-gnu" if host.name == "386" else host.gnu_triple
        for tool in ("cargo", "rustc", "rustdoc"):
            actions.append(WriteFile(str(prefix / "bin" / tool), debian_rust.wrapper(prefix, tool, multiarch), 0o755))
        actions.append(WriteFile(str(prefix / debian_rust.MARKER), version + "\n"))
    actions.append(Command(("rm", "-rf", str(downloads))))
    names = ", ".join(a.name for a in usable)
    plan.steps.append(Step(f"Debian's Rust {debian_rust.upstream(version)} with std for {names} in {prefix}", tuple(actions)))


PLANNERS: tuple[Callable[[Request, Plan], None], ...] = (
    lambda req, plan: plan_system(req, 0, plan),
    lambda req, plan: plan_system(req, 1, plan),
    plan_rustup,
    plan_foreign_arches,
    plan_debian_rust,
)


def plan_phase(req: Request, phase: int) -> Plan:
    plan = Plan()
    PLANNERS[phase](req, plan)
    return plan


def is_root() -> bool:
    return os.geteuid() == 0


# ---------------------------------------------------------------------------------------------
# Running a plan


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
        try:
            res = proc.run(action.argv, env={**proc.base_env(), **dict(action.env)}, cwd=action.cwd, timeout=SETUP_TIMEOUT)
        except OSError as exc:
            say(f"  could not start {action.argv[0]}: {exc}")
            return not action.check
        if res.ok:
            return True
        output = (res.stdout + res.stderr).decode(errors="replace").strip().splitlines()
        say(f"  {res.describe_exit()}:")
        for line in output[-15:]:
            say("  | " + line)
        if attempt < action.tries:
            say(f"  refreshing the package lists and trying again ({attempt + 1}/{action.tries})")
            proc.run(APT_UPDATE.argv, env={**proc.base_env(), **dict(APT_UPDATE.env)}, cwd="/", timeout=SETUP_TIMEOUT)
    if not action.check:
        say("  (ignored: what follows checks its own needs)")
    return not action.check


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
        if dry_run and phase == 4 and planned_foreign:
            say(f"[setup] would then plan: {title} (exact versions from the package lists fetched above)")
            break
        plan = plan_phase(req, phase)
        present += [f for f in plan.present if f not in present]
        unavailable += [f for f in plan.unavailable if f not in unavailable]
        planned_foreign = phase == 3 and bool(plan.steps)
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
        say("[setup] not root: run the commands above as root (or `sudo python -m pytest_multiarch setup ...`)")
        return 1
    if planned and not dry_run:
        still = [s.what for phase in range(len(PHASES)) for s in plan_phase(req, phase).steps]
        if still:
            say(f"[setup] still missing after setup: {'; '.join(still)}")
            return 1
    if not planned and not quiet:
        say("[setup] nothing to install")
    no_apt = any("has no apt" in f.detail for f in unavailable)
    return 1 if unavailable and (strict or no_apt) else 0
