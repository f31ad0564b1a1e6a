"""The wasm architecture and the wasmtime executor, with real WebAssembly programs and the real
wasmtime-py: the facts of the architecture, which executor runs it, how a module runs (argv,
environment, working directory, exit status, traps, stack, compile cache, timeouts), the exec
shim, and the diagnosis's word sizes."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest
from gohelpers import processes_matching
from wasmhelpers import (
    PROGRAM,
    build,
    nightly_with_wasm,
    rustup_rustc,
    toolchain_copy,
    toolchain_without_wasm,
)

from pytest_multiarch import arch as archmod
from pytest_multiarch import executors, proc
from pytest_multiarch.elf import ElfMismatch
from pytest_multiarch.executors import ExecutorUnavailable, RunRequest
from pytest_multiarch.executors.registry import default
from pytest_multiarch.executors.wasm import WasmtimeExecutor
from pytest_multiarch.report.diagnosis import shared_trait
from pytest_multiarch.wasmrun import SERIALIZED, TRAP_STATUS, prune

WASM = archmod.get("wasm")


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(rustup_rustc(), PROGRAM, tmp_path_factory.mktemp("wasm") / "prog.wasm")


@pytest.fixture
def wasmtime(tmp_path: Path) -> WasmtimeExecutor:
    return WasmtimeExecutor(cache_dir=tmp_path / "cache")


def run(executor: executors.Executor, binary: Path, *args: str, cwd: Path, timeout: float = 120,
        env: dict[str, str] | None = None) -> executors.RunResult:  # fmt: skip
    request = RunRequest(binary, args, WASM, executor, proc.base_env(env), cwd, timeout=timeout)
    return executors.run(request)


# --- the architecture -------------------------------------------------------------------------


def test_wasm_is_one_architecture_with_its_own_os_and_format() -> None:
    assert archmod.get("wasm32") is WASM and archmod.get("WASIP1") is WASM
    assert (WASM.goos, WASM.goarch, WASM.rust_triple, WASM.binary_format) == (
        "wasip1",
        "wasm",
        "wasm32-wasip1",
        "wasm",
    )
    assert WASM.endian == "little" and not WASM.linux_elf
    assert (WASM.word_bits("go"), WASM.word_bits("rust"), WASM.word_bits()) == (64, 32, 32)
    assert WASM in archmod.parse_list(["all"]) and WASM not in archmod.parse_list(["musl"])
    with pytest.raises(archmod.ArchError, match="WASI preview 2"):
        archmod.get("wasm32-wasip2")


def test_the_elf_executors_refuse_wasm_and_auto_picks_wasmtime() -> None:
    registry = default()
    for name in ("native", "qemu", "binfmt", "docker"):
        with pytest.raises(ExecutorUnavailable, match=rf"the {name} executor runs Linux ELF programs"):
            registry.get(name).check(WASM)
    assert registry.select(WASM).name == "wasmtime"
    with pytest.raises(ExecutorUnavailable, match="runs WebAssembly modules"):
        registry.get("wasmtime").check(archmod.get("arm64"))


def test_the_diagnosis_uses_each_languages_word_size() -> None:
    ran = ["amd64", "arm64", "386", "arm", "wasm"]
    rust_fails = shared_trait(["386", "arm", "wasm"], ran, language="rust")
    assert rust_fails == " — exactly the 32-bit ones"
    assert shared_trait(["386", "arm"], ran, language="go") == " — exactly the 32-bit ones"  # Go's wasm: 64
    assert shared_trait(["386", "arm"], ran, language="rust") == ""  # Rust's wasm passed: not the trait
    assert shared_trait(["amd64", "arm64", "wasm"], ran, language="go") == " — exactly the 64-bit ones"


# --- running a module -----------------------------------------------------------------------------


def test_argv_environment_directory_and_exit_status(
    program: Path, wasmtime: WasmtimeExecutor, tmp_path: Path
) -> None:
    (tmp_path / "data.txt").write_text("read from the working directory\n")
    assert run(wasmtime, program, "args", "a b", "--c", cwd=tmp_path).stdout == '["args", "a b", "--c"]\n'
    assert (
        run(wasmtime, program, "env", "FROM_TEST", cwd=tmp_path, env={"FROM_TEST": "yes"}).stdout == "yes\n"
    )
    assert run(wasmtime, program, "env", "PWD", cwd=tmp_path).stdout == f"{tmp_path}\n"
    assert (
        run(wasmtime, program, "read", "data.txt", cwd=tmp_path).stdout == "read from the working directory\n"
    )
    absolute = run(wasmtime, program, "read", str(tmp_path / "data.txt"), cwd=Path("/"))
    assert absolute.stdout == "read from the working directory\n"  # / is preopened
    exited = run(wasmtime, program, "exit", "7", cwd=tmp_path)
    assert (exited.returncode, exited.proc.ok) == (7, False)
    assert run(wasmtime, program, "exit", "0", cwd=tmp_path).proc.ok


def test_a_trap_is_a_crash_with_its_message(
    program: Path, wasmtime: WasmtimeExecutor, tmp_path: Path
) -> None:
    res = run(wasmtime, program, "trap", cwd=tmp_path)
    assert res.returncode == TRAP_STATUS and not res.proc.ok
    assert res.stdout == "before the trap\n"
    assert "wasm trap: " in res.stderr and "unreachable" in res.stderr


def test_the_wasm_stack_is_gos_8_mib(program: Path, wasmtime: WasmtimeExecutor, tmp_path: Path) -> None:
    # 30000 calls deep: more than wasmtime's default 2 MiB holds, less than Go's script's 8 MiB.
    assert run(wasmtime, program, "deep", "30000", cwd=tmp_path).stdout.strip().isdigit()
    small = [
        sys.executable,
        "-m",
        "pytest_multiarch.wasmrun",
        "--max-wasm-stack=2097152",  # wasmtime's default
        str(program),
        "deep",
        "30000",
    ]
    res = proc.run(small, env=proc.base_env(), cwd=tmp_path, timeout=120)
    assert res.returncode == TRAP_STATUS and b"call stack exhausted" in res.stderr
    overflow = run(wasmtime, program, "deep", "100000000", cwd=tmp_path)
    assert overflow.returncode == TRAP_STATUS and "call stack exhausted" in overflow.stderr


def test_a_rerun_compiles_nothing(program: Path, wasmtime: WasmtimeExecutor, tmp_path: Path) -> None:
    """The first run compiles the module into the cache; the next ones map it from there: no
    file of the cache is written again (a compile writes a new file: another inode)."""
    assert wasmtime.cache_dir is not None
    cache = wasmtime.cache_dir

    def files() -> dict[Path, tuple[int, int]]:
        def compiled(p: Path) -> bool:  # not the configuration, stats, or cleanup lock (.cleanup.wip-PID)
            return p.is_file() and p.suffix not in (".toml", ".stats") and not p.name.startswith(".cleanup.")

        stats = {p: p.stat() for p in cache.rglob("*") if compiled(p)}
        return {p: (st.st_ino, st.st_size) for p, st in stats.items()}

    assert run(wasmtime, program, "exit", "0", cwd=tmp_path).proc.ok
    first = files()
    # wasmtime's cache cleanup (a thread, now and then) removes every file in its directory that
    # it did not write: our serialized modules and the configuration must live outside it.
    config = cache / "wasmtime-cache.toml"
    directory = Path(tomllib.loads(config.read_text())["cache"]["directory"])
    assert directory.is_relative_to(cache) and directory.is_dir()
    for ours in (cache / SERIALIZED, config):
        assert not ours.is_relative_to(directory), (ours, directory)
    assert [p.parent.name for p in first if p.suffix == ".cwasm"] == [SERIALIZED], first
    assert any("modules" in p.parts for p in first), "nothing in wasmtime's own compile cache"
    for _ in range(2):
        assert run(wasmtime, program, "exit", "0", cwd=tmp_path).proc.ok
        assert files() == first
    # An artifact another wasmtime made (here: garbage) is refused by wasmtime, and replaced.
    (artifact,) = (p for p in first if p.suffix == ".cwasm")
    artifact.write_bytes(b"not a compiled module")
    assert run(wasmtime, program, "args", "again", cwd=tmp_path).stdout == '["args", "again"]\n'
    assert artifact.read_bytes() != b"not a compiled module"


def test_the_serialized_modules_are_pruned_least_recently_used_first(tmp_path: Path) -> None:
    for age, name in enumerate(("new", "middle", "old")):
        path = tmp_path / f"{name}.cwasm"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    prune(tmp_path, limit=250)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["middle.cwasm", "new.cwasm"]


def test_a_timeout_kills_the_module_and_leaves_nothing(program: Path, tmp_path: Path) -> None:
    spinner = tmp_path / f"spin-{uuid.uuid4().hex[:8]}.wasm"
    os.link(program, spinner)
    res = run(WasmtimeExecutor(cache_dir=tmp_path / "cache"), spinner, "spin", cwd=tmp_path, timeout=3)
    assert res.timed_out and not res.proc.ok
    assert processes_matching(spinner.name) == []


def test_what_is_not_a_module_is_refused_before_it_runs(
    program: Path, wasmtime: WasmtimeExecutor, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(ElfMismatch, match="is not a WebAssembly module"):
        run(wasmtime, text, cwd=tmp_path)
    with pytest.raises(ElfMismatch, match="not a WebAssembly module"):
        run(wasmtime, Path(sys.executable).resolve(), cwd=tmp_path)
    native = RunRequest(program, (), archmod.host(), default().get("native"), proc.base_env(), tmp_path)
    with pytest.raises(ElfMismatch, match=r"a WebAssembly module \(run it as --arch=wasm\)"):
        executors.run(native)


def test_the_reproduce_line_pastes_into_a_shell(
    program: Path, wasmtime: WasmtimeExecutor, tmp_path: Path
) -> None:
    res = run(wasmtime, program, "env", "PASTED", cwd=tmp_path, env={"PASTED": "it's here"})
    line = res.invocation.shell_line()
    assert "pytest_multiarch/wasmrun.py" in line and "PASTED=" in line
    again = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120, check=False)
    assert (again.returncode, again.stdout) == (0, "it's here\n")


def test_the_exec_shim_runs_modules(program: Path, tmp_path: Path) -> None:
    shim = [sys.executable, "-m", "pytest_multiarch", "exec"]

    def exec_(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*shim, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
        )

    assert exec_(str(program), "args", "x").stdout == '["args", "x"]\n'
    assert exec_("--arch", "wasm32", str(program), "exit", "3").returncode == 3
    trapped = exec_(str(program), "trap")
    assert trapped.returncode == TRAP_STATUS and "wasm trap: " in trapped.stderr
    wrong = exec_("--arch", "arm64", str(program), "exit", "0")
    assert wrong.returncode == 126 and "built for wasm, not arm64" in wrong.stderr
    written = subprocess.run([*shim[:-1], "shims", str(tmp_path / "bin"), "--arch=wasm"], capture_output=True,
                             text=True, timeout=60, check=True)  # fmt: skip
    assert written.stdout.split() == [str(tmp_path / "bin" / "go_wasip1_wasm_exec")]
    shim_file = tmp_path / "bin" / "go_wasip1_wasm_exec"
    via = subprocess.run([str(shim_file), str(program), "exit", "5"], timeout=120, check=False)
    assert via.returncode == 5


def test_setup_plans_exactly_wasmtime_py_and_the_rustup_target_from_absent(tmp_path: Path) -> None:
    """From a Python without wasmtime-py and a toolchain without the target: those two, nothing
    else (no apt, no QEMU, no cross gcc)."""
    bare = toolchain_without_wasm(rustup_rustc(), tmp_path)
    code = ("import sys; sys.modules['wasmtime'] = None; from pytest_multiarch.cli.main import main; "
            "sys.exit(main(['setup', '--arch=wasm', '--dry-run']))")  # fmt: skip
    env = {**os.environ, "CARGO": str(bare / "bin" / "cargo"), "RUSTC": str(bare / "bin" / "rustc")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                         cwd=tmp_path, check=False)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    planned = [line for line in res.stdout.splitlines() if line.startswith(("[setup] would", "  "))]
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "wasmtime>=50"]
    assert planned == [
        "[setup] would install: wasmtime-py (the Python package) for wasm",
        f"  {shlex.join(pip)}",
        "[setup] would install: Rust std for wasm with rustup",
        f"  {shutil.which('rustup')} target add --toolchain {bare.name} wasm32-wasip1",
    ], res.stdout


def test_setup_adds_rust_src_to_a_nightly_so_wasm_tests_unwind(tmp_path: Path) -> None:
    """A nightly toolchain that has the wasm std but not its library source: setup adds exactly
    rust-src (with it, wasm tests are built to unwind; see test_wasm_e2e)."""
    nightly = nightly_with_wasm(source=False)
    bare = toolchain_copy(nightly, tmp_path, ("lib/rustlib/src",))
    code = (
        "import sys; from pytest_multiarch.cli.main import main; "
        "sys.exit(main(['setup', '--arch=wasm', '--dry-run']))"
    )
    env = {**os.environ, "CARGO": str(bare / "bin" / "cargo"), "RUSTC": str(bare / "bin" / "rustc")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                         cwd=tmp_path, check=False)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    planned = [line for line in res.stdout.splitlines() if line.startswith(("[setup] would", "  "))]
    assert planned == [
        "[setup] would install: Rust library source for wasm with rustup (its tests are built to unwind)",
        f"  {shutil.which('rustup')} component add rust-src --toolchain {bare.name}",
    ], res.stdout
