"""Reading real binaries: Go programs cross-built for several GOARCHes, and the host's /bin/ls."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_multiarch import elf, executors
from pytest_multiarch.arch import get, host
from pytest_multiarch.elf import ElfMismatch
from pytest_multiarch.executors import RunRequest
from pytest_multiarch.executors.native import runs_natively

BUILT = ("arm64", "s390x", "386", "mips")
EXPECTED = {  # GOARCH: (e_machine, class, endianness)
    "arm64": ("EM_AARCH64", 64, "little"),
    "s390x": ("EM_S390", 64, "big"),
    "386": ("EM_386", 32, "little"),
    "mips": ("EM_MIPS", 32, "big"),
}


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory, go: str) -> dict[str, Path]:
    """A tiny static Go program built for each of BUILT (CGO_ENABLED=0)."""
    src = tmp_path_factory.mktemp("hello")
    (src / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (src / "main.go").write_text(
        'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hi\\n") }\n'
    )
    running = {}
    for goarch in BUILT:  # concurrently: each link (or cold standard-library build) is its own process
        env = {**os.environ, "GOOS": "linux", "GOARCH": goarch, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
        env.pop("GOARM", None)
        exe = src / f"hello-{goarch}"
        running[goarch] = (
            exe,
            subprocess.Popen(
                [go, "build", "-o", str(exe), "."],
                cwd=src,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        )
    out: dict[str, Path] = {}
    for goarch, (exe, p) in running.items():
        output, _ = p.communicate(timeout=600)
        assert p.returncode == 0, output.decode()
        out[goarch] = exe
    return out


@pytest.mark.parametrize("goarch", BUILT)
def test_go_binaries_are_read_as_their_arch(binaries: dict[str, Path], goarch: str) -> None:
    info = elf.read(binaries[goarch])
    assert (info.machine, info.elf_class, info.endian) == EXPECTED[goarch]
    assert info.arch is get(goarch)
    assert info.static and info.interpreter is None
    assert info.needed == ()
    assert info.path == binaries[goarch]
    assert (
        info.describe()
        == f"{EXPECTED[goarch][0]} {EXPECTED[goarch][1]}-bit {EXPECTED[goarch][2]}-endian, static"
    )
    assert elf.check_arch(binaries[goarch], get(goarch)) == info


def test_dynamic_host_binary() -> None:
    ls = Path(shutil.which("ls") or "/bin/ls").resolve()
    info = elf.read(ls)
    assert info.arch is host()
    assert not info.static
    assert info.interpreter is not None and "ld-linux" in info.interpreter
    assert any(lib.startswith("libc.so") for lib in info.needed)
    assert f"dynamic, interpreter {info.interpreter}" in info.describe()
    assert elf.check_arch(ls, host()).interpreter == info.interpreter


@pytest.mark.parametrize(("built", "expected"), [("arm64", "s390x"), ("386", "amd64"), ("mips", "mipsle")])
def test_check_arch_mismatch_names_both_and_how_to_rebuild(
    binaries: dict[str, Path], built: str, expected: str
) -> None:
    with pytest.raises(ElfMismatch) as excinfo:
        elf.check_arch(binaries[built], get(expected))
    text = str(excinfo.value)
    assert str(binaries[built]) in text
    assert f"was built for {built} (" in text
    assert f"not for {expected} " in text
    want = get(expected)
    assert f"expected {want.elf_machine} {want.elf_class}-bit {want.endian}-endian" in text
    assert f"rebuild it for {expected} (GOARCH={want.goarch} or --target {want.rust_triple})" in text


@pytest.mark.parametrize("content", [b"", b"#!/bin/sh\necho hi\n", b"\x7fELF\x02\x01", b"MZ\x90\x00" * 64])
def test_non_elf_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not-elf"
    path.write_bytes(content)
    with pytest.raises(ElfMismatch, match=r"is not an ELF executable .*cannot run it on any architecture"):
        elf.read(path)
    with pytest.raises(ElfMismatch, match="is not an ELF executable"):
        elf.check_arch(path, host())


def test_a_truncated_elf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "truncated"
    path.write_bytes(Path("/bin/ls").read_bytes()[:300])  # a full header, program headers cut off
    with pytest.raises(ElfMismatch, match="is not an ELF executable"):
        elf.read(path)


def test_running_a_binary_for_another_arch_fails_before_it_starts(
    binaries: dict[str, Path], tmp_path: Path
) -> None:
    s390x = get("s390x")
    with pytest.raises(ElfMismatch, match="was built for arm64"):
        qemu = executors.select(s390x, "qemu")
        executors.run(RunRequest(binaries["arm64"], (), s390x, qemu, dict(os.environ), tmp_path, 30))


@pytest.mark.parametrize("goarch", BUILT)
def test_the_built_binaries_run_under_their_executor(
    binaries: dict[str, Path], goarch: str, tmp_path: Path
) -> None:
    a = get(goarch)
    request = RunRequest(binaries[goarch], (), a, executors.select(a), dict(os.environ), tmp_path, 60)
    res = executors.run(request)
    assert (res.returncode, res.stdout) == (0, "hi\n"), res.stderr
    assert res.executor == ("native" if runs_natively(a) else "qemu")
    assert res.check() is res
