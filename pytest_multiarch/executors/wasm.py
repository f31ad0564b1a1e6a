"""Run WebAssembly (WASI preview 1) modules with wasmtime, each in a child Python process.

The child is ``python .../pytest_multiarch/wasmrun.py`` (see that module for the conventions it
follows), started like any other program of a test: through ``proc.run`` with the request's
environment, working directory, timeout and supervision, its process group killed at the end.
wasmtime is the ``wasmtime`` package from PyPI (the ``wasm`` extra), imported only by the child.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_multiarch import env as envvars
from pytest_multiarch import wasmrun
from pytest_multiarch.arch import Arch
from pytest_multiarch.elf import ElfMismatch
from pytest_multiarch.executors.base import ExecutorUnavailable, Invocation, LocalExecution

# The runner by its file, not `-m pytest_multiarch.wasmrun`: `-m` imports the package first
# (~0.3 s here), which the runner does not need; each run pays the start-up.
RUNNER = str(Path(wasmrun.__file__).resolve())
PACKAGE = "wasmtime"  # the PyPI package (wasmtime-py)
REQUIREMENT = "wasmtime>=50"  # as pyproject.toml's `wasm` extra


def install_fix() -> str:
    """The command that installs wasmtime-py for this Python (pytest-multiarch's `wasm` extra)."""
    pip = shlex.join([sys.executable, "-m", "pip", "install", REQUIREMENT])
    return f"{pip} (or: python -m pytest_multiarch setup --arch=wasm)"


_MAGIC = b"\0asm"
_CORE_VERSION = b"\x01\0\0\0"  # a core module; WASI preview 2 components have another layer/version


@functools.cache
def wasmtime_version() -> str | None:
    """The installed wasmtime-py's version, or None when this Python cannot import it."""
    if importlib.util.find_spec(PACKAGE) is None:
        return None
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def default_cache_dir() -> Path:
    """Where compiled modules are kept when no session says: ``$MULTIARCH_CACHE_DIR/wasmtime``,
    else ``$XDG_CACHE_HOME/pytest-multiarch/wasmtime`` (``~/.cache/...``)."""
    named = envvars.cache_dir()
    if named:
        return Path(os.path.expanduser(named)).absolute() / "wasmtime"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(xdg) / "pytest-multiarch" / "wasmtime"


def check_module(binary: Path, arch: Arch) -> None:
    """Raise ElfMismatch (the "not a program of this arch" error) unless ``binary`` is a core
    WebAssembly module."""
    try:
        with binary.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ElfMismatch(f"{binary} cannot be read ({exc.strerror}); cannot run it on {arch.name}") from None
    if head[:4] != _MAGIC:
        raise ElfMismatch(
            f"{binary} is not a WebAssembly module (it starts {head[:8].hex(' ') or 'empty'}); "
            f"rebuild it for {arch.name} (GOOS={arch.goos} GOARCH={arch.goarch}, or --target "
            f"{arch.rust_triple})"
        )
    if head[4:8] != _CORE_VERSION:
        raise ElfMismatch(
            f"{binary} is a WebAssembly component or another version ({head[4:8].hex(' ')}), not a WASI "
            f"preview 1 core module; rebuild it for {arch.name} (--target {arch.rust_triple})"
        )


class WasmtimeExecutor(LocalExecution):
    """wasm modules under wasmtime-py; ``cache_dir``: its compile cache (the session sets it)."""

    name = "wasmtime"

    def __init__(self, cache_dir: Path | None = None, python: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.python = python or sys.executable

    def check(self, arch: Arch) -> None:
        if arch.binary_format != "wasm":
            raise ExecutorUnavailable(
                arch, f"the wasmtime executor runs WebAssembly modules, and {arch.name} programs are "
                f"{arch.binary_format}", "use --arch-executor=auto",
            )  # fmt: skip
        if wasmtime_version() is None:
            raise ExecutorUnavailable(
                arch, f"the Python package {PACKAGE} (wasmtime-py) is not installed in {sys.executable}",
                install_fix(),
            )  # fmt: skip

    def describe(self, arch: Arch) -> str:
        version = wasmtime_version()
        return f"wasmtime-py {version}" if version else f"wasmtime-py: missing ({install_fix()})"

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        check_module(binary, arch)
        self.check(arch)
        cache = self.cache_dir or default_cache_dir()
        # -P: the script's directory is not put first on the child's sys.path.
        argv = (self.python, "-P", RUNNER, "--inherit-env", "--dir=/", "--dir=.",
                f"--cache-dir={cache}", str(binary), *args)  # fmt: skip
        return Invocation(argv=argv, notes=(f"wasmtime-py {wasmtime_version()}, compile cache {cache}",))
