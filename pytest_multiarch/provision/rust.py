"""``setup``'s Rust phases: rustup targets, then Debian's Rust unpacked into a private prefix."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import Arch
from pytest_multiarch.provision import apt
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
)
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.rust import debian as debian_rust


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
    arches = [a for a in req.arches if a.name not in req.assumed]
    if req.rust_from == "debian":  # only a prefix of Debian's Rust counts
        prefixes: list[rusttool.RustToolchain] = []
        for cargo in debian_rust.provisioned_cargos():
            try:
                prefixes.append(lookup(str(cargo)))
            except rusttool.RustToolchainError:
                continue  # a broken prefix: its host part is unpacked again
        return {a: None for a in arches if not any(_std_ready(tc, a) for tc in prefixes)}
    for a in arches:
        if a.rust_triple is None:
            continue
        try:
            chosen = rusttool.choose_toolchain(a, project_dir="/", lookup=lookup)
        except rusttool.RustToolchainError:
            missing[a] = None
            continue
        if not _std_ready(chosen.toolchain, a):
            missing[a] = chosen
    return missing


def _std_ready(toolchain: rusttool.RustToolchain, a: Arch) -> bool:
    """``toolchain`` has a std for ``a``, or the library source to build one."""
    target = rusttool.rust_target(a, toolchain)
    if target is None:
        return True  # no Rust for it: nothing to install
    if rusttool.builds_std(toolchain, target):
        return rusttool.library_source(toolchain) is not None
    if rusttool.can_unwind(toolchain, target) and rusttool.library_source(toolchain) is None:
        return False  # wasm on nightly: its tests unwind once rust-src is there (setup adds it)
    return target.triple in rusttool.installed_targets(toolchain)


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
    sources: set[str] = set()  # toolchains given rust-src already
    for a, chosen in missing.items():
        if rustup is None or chosen is None or chosen.toolchain.rustup_toolchain is None:
            continue
        target = rusttool.rust_target(a, chosen.toolchain)
        name = chosen.toolchain.rustup_toolchain
        if target is not None and target.builds_std:  # std from source: rustup's rust-src
            if name not in sources:
                sources.add(name)
                argv = (rustup, "component", "add", "rust-src", "--toolchain", name)
                command = Command(argv, root=False, check=False)
                same = [b for b, c in missing.items() if c is not None and c.toolchain == chosen.toolchain]
                built = tuple(b.name for b in same if _from_source(b, chosen.toolchain))
                what = f"Rust library source (std is built from it) for {', '.join(built)} with rustup"
                plan.steps.append(Step(what, (command,), arches=built))
            continue
        if target is not None and rusttool.can_unwind(chosen.toolchain, target) and name not in sources:
            if rusttool.library_source(chosen.toolchain) is None:  # wasm tests that unwind: std from it
                sources.add(name)
                argv = (rustup, "component", "add", "rust-src", "--toolchain", name)
                what = f"Rust library source for {a.name} with rustup (its tests are built to unwind)"
                plan.steps.append(Step(what, (Command(argv, root=False, check=False),), arches=(a.name,)))
            if target.triple in rusttool.installed_targets(chosen.toolchain):
                continue  # only the library source was missing
        known = rusttool.known_targets(chosen.toolchain)
        if target is None or not target.rustup_std or target.triple not in known:
            continue  # rustup has no std to add: reported with Debian's route
        argv = (rustup, "target", "add", "--toolchain", name, target.triple)
        command = Command(argv, root=False, check=False)  # cannot download: Debian's route follows
        plan.steps.append(Step(f"Rust std for {a.name} with rustup", (command,), arches=(a.name,)))


def _debian_arches(req: Request, missing: dict[Arch, rusttool.Chosen | None], plan: Plan) -> list[Arch]:
    """Arches whose std Debian's archive can give; the others are reported unavailable."""
    release = apt.DEBIAN_RELEASE_ARCHES.get(req.distro.codename, frozenset())
    result = []
    for a in missing:
        target = rusttool.rust_target(a)  # the target of Debian's Rust, as setup unpacks it
        if target is None:
            continue
        debian_std = a.debian_arch in release and target.std.kind == "debian"
        if req.distro.is_debian and (target.builds_std or debian_std):
            result.append(a)  # Debian's std, or Debian's library source to build one from
            continue
        note = target.debian_note or f"{req.distro.pretty} has no Rust std packages we can unpack"
        plan.unavailable.append(Finding("rust", f"no Rust std for {a.name} ({target.triple}): {note}",
                                        target.no_debian_fix))  # fmt: skip
    return result


def _has_source(prefix: Path) -> bool:
    """The prefix holds Debian's library source (unpacked by an earlier setup)."""
    return (prefix / "usr" / rusttool.SRC_DIR / "std" / "Cargo.toml").is_file()


def _from_source(a: Arch, toolchain: rusttool.RustToolchain | None = None) -> bool:
    """``toolchain`` (None: Debian's Rust as setup unpacks it) builds ``a``'s std from source."""
    target = rusttool.rust_target(a, toolchain)
    return target is not None and target.builds_std


def _std_package(a: Arch) -> str:
    """The key of ``a`` among the versions apt offers: its std package's arch, or the source."""
    return debian_rust.SRC_PACKAGE if _from_source(a) else a.debian_arch


def plan_foreign_arches(req: Request, plan: Plan) -> None:
    """Phase 3: dpkg learns the architectures whose std Debian's Rust prefix will take."""
    if req.rust_from == "rustup":
        return
    missing = _rust_missing(req)
    host = archmod.host().debian_arch
    wanted = {a.debian_arch for a in _debian_arches(req, missing, plan) if not _from_source(a)} - {host}
    if not wanted:
        return
    add = sorted(wanted - apt.foreign_arches())
    stale = [d for d in wanted if not apt.has_lists(f"*binary-{d}_Packages*")]
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
    existing = {
        debian_rust.prefix_version(c.parent.parent): c.parent.parent for c in debian_rust.provisioned_cargos()
    }
    stds = {
        a.debian_arch: apt.versions(debian_rust.STD_PACKAGE + ("" if a == host else f":{a.debian_arch}"))
        for a in arches
        if not _from_source(a)
    }
    from_source = [a for a in arches if _from_source(a)]
    if from_source:  # the library source counts like one more architecture's std
        stds[debian_rust.SRC_PACKAGE] = apt.versions(debian_rust.SRC_PACKAGE)
    # Extend a prefix that has a version all these arches have; else unpack a new one beside it.
    offered = [v for v in [*existing, *apt.versions(debian_rust.HOST_PACKAGES[0])] if v]
    choice = debian_rust.choose_version(dict.fromkeys(offered), stds)
    if choice is None:
        for a in arches:
            what = f"apt offers no {debian_rust.HOST_PACKAGES[0]} for {a.name}"
            plan.unavailable.append(Finding("rust", what, "apt-get update, or install Rust with rustup"))
        return
    version = choice.version
    prefix = existing.get(version) or debian_rust.prefix_for(version)
    new_prefix = version not in existing
    downloads = debian_rust.root() / "downloads" / version
    usable = [a for a in arches if version in stds[_std_package(a)]]
    for a in arches:
        if a not in usable and _from_source(a):
            plan.unavailable.append(Finding(
                "rust", f"apt offers no {debian_rust.SRC_PACKAGE} at {version} to build the std for {a.name} "
                "from (the source must match rustc exactly)",
                "apt-get update and run setup again (mirrors are sometimes mid-sync), or use rustup",
            ))  # fmt: skip
        elif a not in usable:
            plan.unavailable.append(Finding(
                "rust", f"apt offers no {debian_rust.STD_PACKAGE}:{a.debian_arch} at {version}, the version "
                "most of the selected architectures have (a target's std must match rustc exactly)",
                "apt-get update and run setup again (mirrors are sometimes mid-sync), or use rustup",
            ))  # fmt: skip
    actions: list[Action] = [Command(("mkdir", "-p", str(downloads)))]
    unpack: list[tuple[str, str]] = []  # (package, debarch)
    if new_prefix:
        shows = {p: apt.show(p, version) for p in debian_rust.HOST_PACKAGES}
        # libstd-rust-web-dev depends on rustc's own shared library package (libstd-rust-web-1.85).
        shared = debian_rust.parse_depends(
            debian_rust.parse_show(shows[debian_rust.STD_PACKAGE]).get("Depends", "")
        )
        shows.update({p: apt.show(p, version) for p in shared})
        deps = [d for d in debian_rust.external_depends(shows) if not apt.installed(d)]
        if deps:
            actions.append(apt_install(deps))
        unpack += [(p, host.debian_arch) for p in (*debian_rust.HOST_PACKAGES, *shared)]
    unpack += [(debian_rust.STD_PACKAGE, a.debian_arch) for a in usable if a != host and not _from_source(a)]
    if any(_from_source(a) for a in usable) and not _has_source(prefix):
        unpack.append((debian_rust.SRC_PACKAGE, "all"))
    if not unpack:
        return
    native = (host.debian_arch, "all")
    specs = [f"{p}={version}" if d in native else f"{p}:{d}={version}" for p, d in unpack]
    actions.append(Command(("apt-get", "download", *specs), cwd=str(downloads), tries=3))
    for p, d in unpack:
        actions.append(
            Command(("dpkg", "-x", str(downloads / debian_rust.deb_filename(p, version, d)), str(prefix)))
        )
    if (debian_rust.SRC_PACKAGE, "all") in unpack:
        # build-std reads only library/: the compiler's and tools' sources are 365 of its 409 MB.
        tree = prefix / "usr" / "src" / f"rustc-{debian_rust.release(version)}"
        actions.append(Command(("rm", "-rf", str(tree / "src"), str(tree / "compiler"))))
    if new_prefix:
        multiarch = "i386-linux-gnu" if host.name == "386" else host.gnu_triple
        for tool in ("cargo", "rustc", "rustdoc"):
            actions.append(
                WriteFile(str(prefix / "bin" / tool), debian_rust.wrapper(prefix, tool, multiarch), 0o755)
            )
        actions.append(WriteFile(str(prefix / debian_rust.MARKER), version + "\n"))
    actions.append(Command(("rm", "-rf", str(downloads))))
    prebuilt = [a.name for a in usable if not _from_source(a)]
    source = [a.name for a in usable if _from_source(a)]
    parts = [f"std for {', '.join(prebuilt)}"] if prebuilt else []
    parts += [f"the source to build std for {', '.join(source)}"] if source else []
    what = f"Debian's Rust {debian_rust.upstream(version)} in {prefix}: {'; '.join(parts)}"
    plan.steps.append(Step(what, tuple(actions)))
