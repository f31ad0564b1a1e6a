"""loong64's Rust link route: clang 19 drives lld 22 against Debian 13's cross C library, static.

The pure parts (cargo's environment, setup's steps from absent and present states) run anywhere;
the end-to-end test builds a crate's tests with build-std, links them this way and runs them
under qemu-user, and is skipped only where the route or a build-std toolchain is not set up.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rusthelpers import REAL_HOME, write_crate

from pytest_multiarch import arch as archmod
from pytest_multiarch import elf, proc
from pytest_multiarch.provision import apt
from pytest_multiarch.provision import loong64 as provision_loong64
from pytest_multiarch.provision import plan as provision_plan
from pytest_multiarch.provision.plan import Command, Plan, Request, WriteFile
from pytest_multiarch.toolchains.rust import debian as debian_rust
from pytest_multiarch.toolchains.rust import lld_link

LOONG = archmod.get("loong64")
KEY = "LOONGARCH64_UNKNOWN_LINUX_GNU"
DEBS = ("libc6-loong64-cross_2.41-11cross1_all.deb", "libc6-dev-loong64-cross_2.41-11cross1_all.deb")
TOOLS = {"clang-19": "/usr/bin/clang-19", "ld.lld-22": "/usr/bin/ld.lld-22"}


def tools_here(name: str) -> str | None:
    return TOOLS.get(name)


def no_tools(name: str) -> str | None:
    return None


def complete_sysroot(home: Path) -> Path:
    root = lld_link.sysroot(LOONG, home)
    root.mkdir(parents=True)
    (root / lld_link.MARKER).write_text("\n".join(DEBS) + "\n")
    return root


def test_only_loong64_takes_this_route() -> None:
    assert [a.name for a in archmod.ARCHES if lld_link.route(a)] == ["loong64"]
    with pytest.raises(ValueError, match="arm64"):
        lld_link.cargo_link_env(archmod.get("arm64"), Path("/nowhere"), tools_here)


def test_sysroot_lives_under_the_provisioning_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert lld_link.sysroot(LOONG, Path("/opt/pytest-multiarch")) == Path(
        "/opt/pytest-multiarch/sysroots/loongarch64-linux-gnu"
    )
    monkeypatch.setenv("MULTIARCH_HOME", str(tmp_path))
    assert lld_link.sysroot(LOONG) == tmp_path / "sysroots" / "loongarch64-linux-gnu"


def test_env_links_statically_with_clang_driving_lld(tmp_path: Path) -> None:
    root = complete_sysroot(tmp_path)
    got = lld_link.cargo_link_env(LOONG, tmp_path, tools_here)
    assert isinstance(got, lld_link.LinkEnv)
    assert got.variables == {
        f"CARGO_TARGET_{KEY}_LINKER": "/usr/bin/clang-19",
        f"CARGO_TARGET_{KEY}_RUSTFLAGS": "-C target-feature=+crt-static"
        " -C link-arg=--target=loongarch64-linux-gnu"
        f" -C link-arg=--sysroot={root}"
        " -C link-arg=--ld-path=/usr/bin/ld.lld-22",
        "CC_loongarch64_unknown_linux_gnu": "/usr/bin/clang-19",
        "CFLAGS_loongarch64_unknown_linux_gnu": f"--target=loongarch64-linux-gnu --sysroot={root}",
    }
    assert " ".join(got.rustflags) == got.variables[f"CARGO_TARGET_{KEY}_RUSTFLAGS"]
    assert got.sysroot == root
    # The cache key part names the tools and each unpacked .deb (in a stable order).
    assert got.identity == "/usr/bin/clang-19 /usr/bin/ld.lld-22 static " + " ".join(sorted(DEBS))


def test_missing_tools_name_their_packages_and_the_fix(tmp_path: Path) -> None:
    complete_sysroot(tmp_path)
    got = lld_link.cargo_link_env(LOONG, tmp_path, no_tools)
    assert isinstance(got, lld_link.LinkMissing)
    assert "clang-19 (Debian package clang-19)" in got.what
    assert "ld.lld-22 (Debian package lld-22)" in got.what
    assert got.fix == "python -m pytest_multiarch setup --arch=loong64"


def test_missing_or_unfinished_sysroot_is_missing(tmp_path: Path) -> None:
    got = lld_link.cargo_link_env(LOONG, tmp_path, tools_here)
    assert isinstance(got, lld_link.LinkMissing)
    assert "no loong64 C library in" in got.what and got.fix.endswith("setup --arch=loong64")
    lld_link.sysroot(LOONG, tmp_path).mkdir(parents=True)  # unpacked in part: no marker yet
    assert isinstance(lld_link.cargo_link_env(LOONG, tmp_path, tools_here), lld_link.LinkMissing)


def test_a_home_with_a_space_is_refused_with_a_way_out(tmp_path: Path) -> None:
    home = tmp_path / "my home"
    complete_sysroot(home)
    got = lld_link.cargo_link_env(LOONG, home, tools_here)
    assert isinstance(got, lld_link.LinkMissing)
    assert "has a space" in got.what and got.fix.startswith("MULTIARCH_HOME=")


def test_plan_from_nothing_installs_tools_then_unpacks_the_sysroot(tmp_path: Path) -> None:
    steps, present = provision_loong64.link_steps([LOONG], tmp_path, no_tools, "amd64")
    assert present == []
    tools, sysroot = steps
    assert tools.arches == sysroot.arches == ()  # not a std: a dry run must still plan loong64's
    (install,) = tools.actions
    assert isinstance(install, Command)
    assert install.argv[:2] == ("apt-get", "install") and install.argv[-2:] == ("clang-19", "lld-22")

    root = lld_link.sysroot(LOONG, tmp_path)
    commands = [a for a in sysroot.actions if isinstance(a, Command)]
    assert all(isinstance(a, (Command, WriteFile)) for a in sysroot.actions)
    sources = [a for a in sysroot.actions if isinstance(a, WriteFile)]
    assert len(sources) == 1 and "Suites: trixie\n" in sources[0].text
    assert not sources[0].path.startswith("/etc/")  # the system's apt is not touched
    update, download = (c for c in commands if c.argv[0] == "apt-get")
    for c in (update, download):
        lists = [w for w in c.argv if w.startswith("Dir::State::Lists=")]
        assert lists == [f"Dir::State::Lists={tmp_path}/downloads/sysroot-loong64/lists"]
    assert download.argv[-6:] == ("download", *lld_link.ROUTES["loong64"].packages)
    # The marker comes after the check of what a link needs, and only the downloads go after it.
    check, prune, mark, clean = commands[-4:]
    assert check.argv[0] == "test" and f"{root}/usr/loongarch64-linux-gnu/lib/libc.a" in check.argv
    assert prune.argv[-3:] == ("-name", "lib*san*", "-delete")
    assert mark.argv[0] == "find" and str(root / lld_link.MARKER) in mark.argv
    assert clean.argv == ("rm", "-rf", f"{tmp_path}/downloads/sysroot-loong64")


def test_plan_installs_only_the_missing_tool(tmp_path: Path) -> None:
    complete_sysroot(tmp_path)
    only_clang = {"clang-19": TOOLS["clang-19"]}.get
    steps, _ = provision_loong64.link_steps([LOONG], tmp_path, only_clang)
    (step,) = steps
    (install,) = step.actions
    assert isinstance(install, Command) and install.argv[-1] == "lld-22" and "clang-19" not in install.argv


def test_second_plan_is_empty(tmp_path: Path) -> None:
    complete_sysroot(tmp_path)
    steps, present = provision_loong64.link_steps([LOONG, archmod.get("arm64")], tmp_path, tools_here)
    assert steps == []
    assert [f.detail for f in present] == [
        "clang and lld to link Rust for loong64",
        f"the loong64 C library to link Rust against, in {lld_link.sysroot(LOONG, tmp_path)}",
    ]
    assert provision_loong64.link_steps([archmod.get("arm64")], tmp_path, no_tools) == ([], [])


def test_phase_without_apt_says_what_is_unavailable() -> None:
    fedora = apt.Distro("fedora", "", "Fedora Linux 40", frozenset())
    plan = Plan()
    provision_loong64.plan_lld_link(Request((LOONG,), distro=fedora), plan)
    assert plan.steps == [] and len(plan.unavailable) == 1
    assert f"CARGO_TARGET_{KEY}_LINKER" in plan.unavailable[0].fix
    plan = Plan()
    provision_loong64.plan_lld_link(Request((LOONG,), components=frozenset({"go"}), distro=fedora), plan)
    assert plan == Plan()


# ---------------------------------------------------------------------------------------------
# End to end: the real route, a real build-std build, a real qemu.

QEMU = "/usr/bin/qemu-loongarch64-static"
RUSTUP_STABLE = REAL_HOME / ".rustup" / "toolchains" / "stable-x86_64-unknown-linux-gnu"
CRATE = {
    "src/lib.rs": """
        #[cfg(test)]
        mod tests {
            #[test]
            fn little_endian() {
                assert_eq!(1u32.to_ne_bytes()[0], 1);
            }

            #[test]
            fn word_is_64_bits() {
                assert_eq!(usize::BITS, 64);
            }

            #[test]
            fn trivial() {}
        }
    """,
}


def build_std_toolchain() -> tuple[Path, dict[str, str]] | None:
    """A cargo whose rustc has std's source (rustup's stable with rust-src, or a Debian prefix
    with rust-web-src), with the environment that runs it; None when there is none."""
    if (RUSTUP_STABLE / "lib/rustlib/src/rust/library").is_dir():
        bin_dir = RUSTUP_STABLE / "bin"
        return bin_dir / "cargo", {"RUSTC": str(bin_dir / "rustc"), "RUSTDOC": str(bin_dir / "rustdoc")}
    for cargo in debian_rust.provisioned_cargos():
        if (cargo.parent.parent / "usr/lib/rustlib/src/rust/library").is_dir():
            return cargo, {}
    return None


def test_build_std_crate_links_statically_and_passes_under_qemu(tmp_path: Path) -> None:
    link = lld_link.cargo_link_env(LOONG)
    if isinstance(link, lld_link.LinkMissing):
        pytest.skip(f"{link.what}; fix: {link.fix}")
    if not os.access(QEMU, os.X_OK):
        pytest.skip(f"no {QEMU}; fix: python -m pytest_multiarch setup --arch=loong64")
    toolchain = build_std_toolchain()
    if toolchain is None:
        pytest.skip("no cargo with std's source for -Zbuild-std (rustup's rust-src or Debian's rust-web-src)")
    cargo, tool_env = toolchain
    crate = write_crate(tmp_path / "crate", CRATE, name="loongprobe")
    env = {
        **proc.base_env(),
        **tool_env,
        **link.variables,
        "RUSTC_BOOTSTRAP": "1",
        "CARGO_TARGET_DIR": str(tmp_path / "target"),
        "HOME": str(REAL_HOME),  # cargo's registry cache: std's own dependencies
    }
    for name in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"):
        env.pop(name, None)
    argv = [str(cargo), "test", "--no-run", "--message-format=json", "-Zbuild-std"]
    res = proc.run([*argv, "--target", "loongarch64-unknown-linux-gnu"], env=env, cwd=crate, timeout=900)
    assert res.ok, res.stderr.decode(errors="replace")[-3000:]
    binaries = [
        line.split('"executable":"', 1)[1].split('"', 1)[0]
        for line in res.stdout.decode().splitlines()
        if '"executable":"' in line and '"test":true' in line
    ]
    (binary,) = binaries
    info = elf.check_arch(binary, LOONG)  # a LoongArch ELF
    assert info.interpreter is None and info.needed == ()  # static: qemu needs no sysroot

    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUSTC_BOOTSTRAP": "1"}
    ran = proc.run([QEMU, binary], env=run_env, cwd=tmp_path, timeout=120)  # no -L: static
    out = ran.stdout.decode()
    assert ran.ok, out + ran.stderr.decode(errors="replace")
    for name in ("little_endian", "word_is_64_bits", "trivial"):
        assert f"test tests::{name} ... ok" in out
    assert "3 passed; 0 failed" in out


def test_the_tools_step_adds_debians_security_suite_where_apt_lacks_it(tmp_path: Path) -> None:
    security = provision_plan.security_source(apt.Distro("debian", "zzz", "Debian zzz", frozenset()))
    assert security is not None  # no apt source names zzz-security
    assert security.path == "/etc/apt/sources.list.d/zzz-security.sources"
    assert "URIs: http://deb.debian.org/debian-security\n" in security.text
    assert "Suites: zzz-security\n" in security.text
    steps, _ = provision_loong64.link_steps([LOONG], tmp_path, no_tools, "amd64",
                                            before_install=(security, provision_plan.APT_UPDATE))  # fmt: skip
    source, update, install = steps[0].actions
    assert (source, update) == (security, provision_plan.APT_UPDATE)
    assert isinstance(install, Command) and install.argv[-1] == "lld-22"
    assert provision_plan.security_source(apt.Distro("fedora", "", "Fedora Linux 40", frozenset())) is None
