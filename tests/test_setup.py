"""`python -m pytest_multiarch setup`: parsing, rendering, and planning with each tool absent.

The planning tests run the real command in a subprocess whose PATH lacks QEMU, cross gcc and
cargo, with stub `apt-get`/`apt-cache`/`dpkg` programs that answer and record what they are asked
(and "install" by writing stub tools), so a step that aborts when its tool is missing fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stubs import write_executable

from pytest_multiarch import arch as archmod
from pytest_multiarch.cli import setup as setup_cli
from pytest_multiarch.provision import apt
from pytest_multiarch.provision.plan import Command, WriteFile
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.rust import debian as debian_rust

# --- pure parts ---------------------------------------------------------------------------------


def test_parse_depends_takes_first_alternative_and_drops_versions() -> None:
    field = "libc6 (>= 2.34), gcc | clang | c-compiler, libstd-rust-web-dev (= 1.85.0+dfsg3-1), python3:any"
    assert debian_rust.parse_depends(field) == ["libc6", "gcc", "libstd-rust-web-dev", "python3"]


def test_parse_show_reads_the_first_record_with_continuations() -> None:
    text = "Package: a\nDepends: x,\n y\nVersion: 1\n\nPackage: b\nVersion: 2\n"
    assert debian_rust.parse_show(text) == {"Package": "a", "Depends": "x, y", "Version": "1"}


def test_choose_version_prefers_the_version_most_arches_have() -> None:
    host = ["1.96.0+dfsg1-1~deb12u2", "1.85.0+dfsg3-1~deb12u3"]
    stds = {
        "amd64": host,
        "arm64": host,
        "s390x": ["1.85.0+dfsg3-1~deb12u3"],
        "i386": ["1.85.0+dfsg3-1~deb12u3"],
    }
    choice = debian_rust.choose_version(host, stds)
    assert choice == debian_rust.Choice("1.85.0+dfsg3-1~deb12u3", ("amd64", "arm64", "s390x", "i386"))
    # A tie goes to the newest.
    assert debian_rust.choose_version(host, {"amd64": host}) == debian_rust.Choice(host[0], ("amd64",))
    assert debian_rust.choose_version([], stds) is None


def test_external_depends_leaves_out_what_the_prefix_holds() -> None:
    shows = {
        "rustc-web": "Package: rustc-web\nDepends: libc6 (>= 2.34), libstd-rust-web-dev (= 1), gcc, binutils",
        "libstd-rust-web-dev": "Package: libstd-rust-web-dev\nDepends: libstd-rust-web-1.85 (= 1)\n",
        "libstd-rust-web-1.85": "Package: libstd-rust-web-1.85\nDepends: libc6, libllvm19\n",
    }
    assert debian_rust.external_depends(shows) == ["libc6", "gcc", "binutils", "libllvm19"]


def test_deb_filename_and_prefix_names() -> None:
    assert debian_rust.deb_filename("cargo-web", "1.85.0+dfsg3-1~deb12u3", "s390x") == (
        "cargo-web_1.85.0+dfsg3-1~deb12u3_s390x.deb"
    )
    assert debian_rust.deb_filename("qemu-user-static", "1:10.0.2+ds-1", "amd64") == (
        "qemu-user-static_10.0.2+ds-1_amd64.deb"
    )
    assert debian_rust.prefix_for("1.85.0+dfsg3-1~deb12u3", {"MULTIARCH_HOME": "/x"}) == Path("/x/rust-1.85")
    assert debian_rust.release("1.85.0+dfsg3-1~deb12u3") == "1.85.0"  # rust-web-src's usr/src/rustc-1.85.0
    assert debian_rust.deb_filename("rust-web-src", "1.85.0+dfsg3-1~deb12u3", "all") == (
        "rust-web-src_1.85.0+dfsg3-1~deb12u3_all.deb"
    )
    with pytest.raises(ValueError):
        debian_rust.release("unstable")


def test_commands_render_as_a_person_would_type_them() -> None:
    apt_install = Command(("apt-get", "install", "-y", "a b"), env=(("DEBIAN_FRONTEND", "noninteractive"),))
    assert apt_install.render() == "DEBIAN_FRONTEND=noninteractive apt-get install -y 'a b'"
    assert apt_install.render(sudo=True) == "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y 'a b'"
    assert Command(("rustup", "target", "add", "x"), root=False).render(sudo=True) == "rustup target add x"
    assert Command(("apt-get", "download", "p"), cwd="/d ir").render() == "(cd '/d ir' && apt-get download p)"
    script = WriteFile("/opt/x/bin/cargo", "#!/bin/sh\necho 'hi'\n", 0o755).render(sudo=True)
    out = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr  # valid shell, quotes and newlines included
    assert script.endswith("sudo chmod 755 /opt/x/bin/cargo")


def test_os_release_is_read(tmp_path: Path) -> None:
    f = tmp_path / "os-release"
    f.write_text('PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n')
    distro = apt.read_distro(f)
    assert (distro.id, distro.codename, distro.like) == ("ubuntu", "noble", frozenset({"debian"}))
    assert apt.read_distro(tmp_path / "missing").id == "unknown"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "pytest.ini",
            "[pytest]\naddopts = -q --arch=arm64,s390x --arch riscv64\n",
            ["arm64,s390x", "riscv64"],
        ),
        ("pyproject.toml", '[tool.pytest.ini_options]\naddopts = ["--arch=arm", "-q"]\n', ["arm"]),
        ("tox.ini", "[pytest]\naddopts = -q\n", []),
        ("setup.cfg", "[tool:pytest]\naddopts = --arch=386\n", ["386"]),
        ("pyproject.toml", "[tool.black]\nx = 1\n", []),  # no pytest section: keep looking (none)
    ],
)
def test_ini_arches(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    (tmp_path / name).write_text(text)
    sub = tmp_path / "sub"
    sub.mkdir()
    assert setup_cli.ini_arches(sub) == expected


def test_tier3_arches_have_no_rustup_std() -> None:
    mips64le, riscv64 = (rusttool.rust_target(archmod.get(n)) for n in ("mips64le", "riscv64"))
    assert mips64le is not None and not mips64le.rustup_std
    assert riscv64 is not None and riscv64.rustup_std


# --- planning and running with the tools absent ---------------------------------------------

APT_GET = r"""#!/bin/sh
# Records the call; "installs" a package by writing the stub tools it would bring.
echo "apt-get $*" >> "$STUB_LOG"
for word in "$@"; do
  case "$word" in
    qemu-user-static)
      for q in aarch64 s390x riscv64 arm loongarch64; do
        printf '#!/bin/sh\necho "qemu-%s version 10.0.2"\n' "$q" > "$STUB_BIN/qemu-$q-static"
        chmod +x "$STUB_BIN/qemu-$q-static"
      done ;;
    golang-1.23-go|golang-go)
      printf '#!/bin/sh\necho "go version go1.23.1 linux/amd64"\n' > "$STUB_GO"; chmod +x "$STUB_GO" ;;
    gcc-*-linux-*)
      t="${word#gcc-}"; printf '#!/bin/sh\nexit 0\n' > "$STUB_BIN/$t-gcc"; chmod +x "$STUB_BIN/$t-gcc" ;;
  esac
done
"""
APT_CACHE = r"""#!/bin/sh
echo "apt-cache $*" >> "$STUB_LOG"
case "$1" in
  policy) case "$2" in
      *loongarch64*|*loong64*) echo "  Candidate: (none)" ;;
      *) echo "  Candidate: 1.0" ;;
    esac ;;
esac
"""
DPKG = r"""#!/bin/sh
echo "dpkg $*" >> "$STUB_LOG"
"""


@pytest.fixture
def bare(tmp_path: Path) -> dict[str, str]:
    """An environment with none of the tools setup installs, and recording stub installers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    base = tmp_path / "base"  # the few programs the stubs use; /bin itself is /usr/bin on Debian
    base.mkdir()
    for tool in ("sh", "chmod"):
        (base / tool).symlink_to(str(Path("/bin", tool).resolve()))
    write_executable(bin_dir / "apt-get", APT_GET)
    write_executable(bin_dir / "apt-cache", APT_CACHE)
    write_executable(bin_dir / "dpkg", DPKG)
    write_executable(bin_dir / "dpkg-query", "#!/bin/sh\nexit 1\n")
    go = tmp_path / "go"
    write_executable(go, '#!/bin/sh\necho "go version go1.19.8 linux/amd64"\n')  # installed, but too old
    os_release = tmp_path / "os-release"
    os_release.write_text(
        'PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n'
    )
    (tmp_path / "home").mkdir()
    return {
        "PATH": f"{bin_dir}:{base}",  # no qemu, gcc, cargo, rustup or go on it
        "HOME": str(tmp_path / "home"),
        "STUB_LOG": str(tmp_path / "calls.log"),
        "STUB_BIN": str(bin_dir),
        "STUB_GO": str(go),
        "MULTIARCH_GO": str(go),
        "MULTIARCH_HOME": str(tmp_path / "provisioned"),
        "MULTIARCH_OS_RELEASE": str(os_release),
    }


def setup_cmd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_multiarch", "setup", *args],
        env=env, capture_output=True, text=True, timeout=120, cwd=env["HOME"],
    )  # fmt: skip


def _calls(env: dict[str, str]) -> list[str]:
    log = Path(env["STUB_LOG"])
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.skipif(archmod.host().name != "amd64", reason="the plan below is an amd64 host's")
def test_dry_run_with_everything_absent_plans_every_step_and_changes_nothing(bare: dict[str, str]) -> None:
    res = setup_cmd(bare, "--arch=arm64,s390x,loong64", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "apt-get install -y --no-install-recommends qemu-user-static" in out
    assert "QEMU user emulators (8 or newer) for arm64, s390x, loong64" in out
    assert "apt-get install -y --no-install-recommends golang-go" in out  # go1.19 is too old
    assert "gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-s390x-linux-gnu libc6-dev-s390x-cross" in out
    assert "gcc-loongarch64-linux-gnu" not in out  # none exists: Rust links loong64 with clang and lld
    assert "no way here to link Rust for loong64" in out  # not Debian: said
    # No cargo anywhere and not Debian: Rust cannot come from Debian's archive here; says so.
    assert "no Rust std for arm64 (aarch64-unknown-linux-gnu)" in out
    assert "rustup target add aarch64-unknown-linux-gnu" in out
    assert not [c for c in _calls(bare) if c.startswith(("apt-get", "dpkg --add"))], "a dry run ran something"


@pytest.mark.skipif(os.geteuid() != 0, reason="setup runs its commands only as root")
def test_setup_installs_what_is_absent_then_a_second_run_does_nothing(bare: dict[str, str]) -> None:
    res = setup_cmd(bare, "--arch=arm64,s390x", "--without=rust")
    assert res.returncode == 0, res.stdout + res.stderr
    installs = [c for c in _calls(bare) if c.startswith("apt-get install")]
    assert len(installs) == 3, installs  # qemu, go, cross gcc+libc
    assert any(c == "apt-get update" for c in _calls(bare))
    Path(bare["STUB_LOG"]).unlink()
    again = setup_cmd(bare, "--arch=arm64,s390x", "--without=rust")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to install" in again.stdout
    assert "QEMU 10.0.2 user emulators for arm64, s390x" in again.stdout
    assert "Go 1.23" in again.stdout
    assert not [c for c in _calls(bare) if c.startswith(("apt-get", "dpkg"))]


def test_a_system_without_apt_gets_told_what_to_install_and_a_failure(
    bare: dict[str, str], tmp_path: Path
) -> None:
    os_release = tmp_path / "fedora"
    os_release.write_text('PRETTY_NAME="Fedora Linux 41"\nID=fedora\n')
    res = setup_cmd({**bare, "MULTIARCH_OS_RELEASE": str(os_release)}, "--arch=arm64")
    assert res.returncode == 1
    assert "not installed, and Fedora Linux 41 has no apt" in res.stdout
    assert "install QEMU 8 or newer user-mode emulators" in res.stdout
    assert not _calls(bare) or not [c for c in _calls(bare) if c.startswith("apt-get")]


def test_default_arches_come_from_the_ini_addopts(bare: dict[str, str]) -> None:
    Path(bare["HOME"], "pytest.ini").write_text("[pytest]\naddopts = --arch=s390x\n")
    res = setup_cmd(bare, "--dry-run", "--without=rust,go,cross")
    assert res.returncode == 0, res.stderr
    assert "[setup] s390x on Ubuntu 24.04 LTS" in res.stdout


def test_unknown_arch_and_component_are_usage_errors(bare: dict[str, str]) -> None:
    res = setup_cmd(bare, "--arch=arm46", "--dry-run")
    assert res.returncode == 2 and "Did you mean 'arm64'?" in res.stderr
    res = setup_cmd(bare, "--without=python", "--dry-run")
    assert res.returncode == 2 and "--without: unknown ['python']" in res.stderr
