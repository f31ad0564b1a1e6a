"""scripts/bootstrap.sh, one step at a time, each with its tool absent, half there, and present.

Each test sources the script with BOOTSTRAP_FUNCTIONS_ONLY=1 under ``set -euo pipefail`` (as the
README's commands run it) and calls one step with a PATH of stub programs that record their
calls. A probe that aborts the script when its tool is missing (the bug that once made the
README's first command die at once on a fresh machine) fails these tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stubs import write_executable

REPO = Path(__file__).resolve().parent.parent
BOOTSTRAP = REPO / "scripts" / "bootstrap.sh"


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """A bin dir with a recording apt-get, and the few real programs the script needs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in (
        "sh",
        "bash",
        "rm",
        "id",
        "env",
        "sha256sum",
        "cut",
        "cat",
        "dirname",
        "mkdir",
        "touch",
        "grep",
        "wc",
        "uname",
    ):
        real = Path("/bin", tool).resolve()
        if real.exists():
            (bin_dir / tool).symlink_to(real)
    write_executable(
        bin_dir / "apt-get",
        f"""
        #!/bin/sh
        echo "apt-get $*" >> {tmp_path}/calls.log
        case "$*" in *python3-venv*) touch {tmp_path}/venv-installed ;; esac
    """,
    )
    return bin_dir


def step(stubs: Path, tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = f"set -euo pipefail\nBOOTSTRAP_FUNCTIONS_ONLY=1 source {BOOTSTRAP}\n{body}\n"
    return subprocess.run(
        ["/bin/bash", "-c", script],
        env={"PATH": str(stubs), "HOME": str(tmp_path), "MULTIARCH_VENV": str(tmp_path / "venv"), **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_sourcing_defines_the_steps_and_runs_nothing(stubs: Path, tmp_path: Path) -> None:
    res = step(stubs, tmp_path, "declare -F | grep -c ' ensure_'")
    assert res.returncode == 0, res.stderr
    assert int(res.stdout) >= 4
    assert calls(tmp_path) == []


def test_python3_absent_is_installed(stubs: Path, tmp_path: Path) -> None:
    res = step(stubs, tmp_path, "ensure_python3; echo reached")
    assert res.returncode == 0, res.stderr
    assert "reached" in res.stdout
    assert any("install" in c and c.endswith("python3") for c in calls(tmp_path))


def test_python3_present_installs_nothing(stubs: Path, tmp_path: Path) -> None:
    (stubs / "python3").symlink_to(sys.executable)
    res = step(stubs, tmp_path, "ensure_python3")
    assert res.returncode == 0, res.stderr
    assert calls(tmp_path) == []


def test_venv_module_absent_installs_python3_venv_then_makes_the_venv(stubs: Path, tmp_path: Path) -> None:
    # A python3 that cannot make a venv until python3-venv is installed (stock Debian 12).
    write_executable(
        stubs / "python3",
        f"""
        #!/bin/sh
        if [ "$1 $2" = "-m venv" ] && [ ! -e {tmp_path}/venv-installed ]; then
          echo "The virtual environment was not created successfully because ensurepip is not available." >&2
          exit 1
        fi
        exec {sys.executable} "$@"
    """,
    )
    res = step(stubs, tmp_path, "ensure_venv; echo reached")
    assert res.returncode == 0, res.stderr
    assert "installing python3-venv" in res.stderr
    assert any("python3-venv" in c for c in calls(tmp_path))
    assert (tmp_path / "venv" / "bin" / "python").exists()
    # Present now: nothing more to do, no apt-get.
    (tmp_path / "calls.log").unlink()
    res = step(stubs, tmp_path, "ensure_venv")
    assert res.returncode == 0, res.stderr
    assert calls(tmp_path) == []


def test_half_made_venv_is_made_again(stubs: Path, tmp_path: Path) -> None:
    (stubs / "python3").symlink_to(sys.executable)
    broken = tmp_path / "venv" / "bin"
    broken.mkdir(parents=True)
    write_executable(broken / "python", "#!/bin/sh\nexit 1\n")  # interrupted, or its python3 is gone
    res = step(stubs, tmp_path, "ensure_venv")
    assert res.returncode == 0, res.stderr
    assert "made the virtual environment" in res.stderr
    out = subprocess.run([str(broken / "python"), "-m", "pip", "--version"], capture_output=True, timeout=60)
    assert out.returncode == 0


def _recording_venv(tmp_path: Path, importable: bool) -> Path:
    """A venv python that records its calls; `import pytest_multiarch` works only if told."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    return write_executable(
        bin_dir / "python",
        f"""
        #!/bin/sh
        echo "python $*" >> {tmp_path}/calls.log
        case "$*" in "-c import pytest_multiarch") [ -e {tmp_path}/importable ] && exit 0; exit 1 ;; esac
        case "$*" in *"pip install"*) touch {tmp_path}/importable ;; esac
        exit 0
    """
        if not importable
        else "#!/bin/sh\nexit 0\n",
    )


def test_package_absent_is_installed_once(stubs: Path, tmp_path: Path) -> None:
    _recording_venv(tmp_path, importable=False)
    res = step(stubs, tmp_path, "ensure_python_package")
    assert res.returncode == 0, res.stderr
    assert any("-m pip install" in c and f"{REPO}[dev]" in c for c in calls(tmp_path))
    (tmp_path / "calls.log").unlink()
    res = step(stubs, tmp_path, "ensure_python_package")
    assert res.returncode == 0, res.stderr
    assert not any("pip install" in c for c in calls(tmp_path))


def test_toolchains_step_hands_over_to_setup_and_fails_with_it(stubs: Path, tmp_path: Path) -> None:
    python = _recording_venv(tmp_path, importable=False)
    res = step(stubs, tmp_path, "ensure_toolchains", SETUP_ARCHES="arm64,s390x")
    assert res.returncode == 0, res.stderr
    assert "python -m pytest_multiarch setup --arch=arm64,s390x --rust-from=debian --quiet" in calls(tmp_path)
    write_executable(python, "#!/bin/sh\nexit 3\n")  # setup failed: so does the bootstrap
    res = step(stubs, tmp_path, "ensure_toolchains; echo not-reached")
    assert res.returncode == 3 and "not-reached" not in res.stdout


def test_wasm_step_sets_up_wasm_with_rustup_only_where_there_is_one(stubs: Path, tmp_path: Path) -> None:
    python = _recording_venv(tmp_path, importable=False)
    res = step(stubs, tmp_path, "ensure_wasm; echo reached")
    assert res.returncode == 0 and "reached" in res.stdout, res.stderr
    assert calls(tmp_path) == [] and "no rustup" in res.stderr  # nothing to add a target with
    write_executable(stubs / "rustup", "#!/bin/sh\nexit 0\n")
    res = step(stubs, tmp_path, "ensure_wasm")
    assert res.returncode == 0, res.stderr
    assert calls(tmp_path) == ["python -m pytest_multiarch setup --arch=wasm --rust-from=rustup --quiet"]
    write_executable(python, "#!/bin/sh\nexit 1\n")  # a download failed: the rest goes on
    res = step(stubs, tmp_path, "ensure_wasm; echo reached")
    assert res.returncode == 0 and "reached" in res.stdout, res.stderr
    assert "wasm's set-up did not complete" in res.stderr


# The test suite's optional packages: (step, package, the program whose presence skips it).
OPTIONAL = pytest.mark.parametrize(
    ("function", "package", "program"),
    [
        ("ensure_docker_engine_package", "docker.io", "dockerd"),
        ("ensure_browser_package", "chromium", "chromium"),
        ("ensure_sshd_package", "openssh-server", "sshd"),
    ],
)


@OPTIONAL
def test_optional_package_absent_is_installed(
    stubs: Path, tmp_path: Path, function: str, package: str, program: str
) -> None:
    res = step(stubs, tmp_path, f"{function}; echo reached")
    assert res.returncode == 0, res.stderr
    assert "reached" in res.stdout
    assert any("install" in c and c.endswith(f" {package}") for c in calls(tmp_path))


@OPTIONAL
def test_optional_package_that_cannot_be_installed_is_not_fatal(
    stubs: Path, tmp_path: Path, function: str, package: str, program: str
) -> None:
    write_executable(stubs / "apt-get", f'#!/bin/sh\necho "apt-get $*" >> {tmp_path}/calls.log\nexit 100\n')
    res = step(stubs, tmp_path, f"{function}; echo reached")
    assert res.returncode == 0, res.stderr
    assert "reached" in res.stdout and f"{package} not installed" in res.stdout + res.stderr


@OPTIONAL
def test_optional_package_present_installs_nothing(
    stubs: Path, tmp_path: Path, function: str, package: str, program: str
) -> None:
    write_executable(stubs / program, "#!/bin/sh\nexit 0\n")
    res = step(stubs, tmp_path, function)
    assert res.returncode == 0, res.stderr
    assert calls(tmp_path) == []


def _nightly_lib(tmp_path: Path) -> Path:
    machine = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True).stdout.strip()
    return tmp_path / ".rustup" / "toolchains" / f"nightly-{machine}-unknown-linux-gnu" / "lib" / "rustlib"


def test_nightly_wasm_step_installs_what_the_unwind_tests_need_only_when_absent(
    stubs: Path, tmp_path: Path
) -> None:
    res = step(stubs, tmp_path, "ensure_nightly_wasm; echo reached")
    assert res.returncode == 0 and "reached" in res.stdout, res.stderr
    assert calls(tmp_path) == [] and "no rustup" in res.stderr
    write_executable(stubs / "rustup", f'#!/bin/sh\necho "rustup $*" >> {tmp_path}/calls.log\n')
    lib = _nightly_lib(tmp_path)
    (lib / "wasm32-wasip1").mkdir(parents=True)  # an old nightly: the std but no library source
    res = step(stubs, tmp_path, "ensure_nightly_wasm")
    assert res.returncode == 0, res.stderr
    want = "rustup toolchain install nightly --profile minimal --component rust-src --target wasm32-wasip1"
    assert calls(tmp_path) == [want]
    (tmp_path / "calls.log").unlink()
    (lib / "src" / "rust" / "library" / "std").mkdir(parents=True)
    res = step(stubs, tmp_path, "ensure_nightly_wasm")
    assert res.returncode == 0, res.stderr
    assert calls(tmp_path) == []


def test_nightly_wasm_step_that_cannot_download_is_not_fatal(stubs: Path, tmp_path: Path) -> None:
    write_executable(stubs / "rustup", "#!/bin/sh\nexit 1\n")
    res = step(stubs, tmp_path, "ensure_nightly_wasm; echo reached")
    assert res.returncode == 0 and "reached" in res.stdout, res.stderr
    assert "nightly Rust for wasm not installed" in res.stderr
