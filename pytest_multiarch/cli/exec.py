"""``python -m pytest_multiarch exec [--arch ARCH] [--] BINARY ARGS...``: run a binary built for
any architecture the way the plugin runs it (the executor for its ELF's arch: native, a binfmt
handler, qemu with the right sysroot, or docker; wasmtime for a WebAssembly module), with stdin,
stdout, stderr and the exit status passed through. It is what ``go test -exec`` and cargo's
``CARGO_TARGET_<TRIPLE>_RUNNER`` want, and what ``go_<goos>_<goarch>_exec`` shims on PATH
(``shims`` writes them, ``go_wasip1_wasm_exec`` included) run.

Exit status: the program's own; 128+N when signal N ended it; 126 when it cannot be run here
(with the reason and the fix on stderr), 127 when the file does not exist.
"""

from __future__ import annotations

import argparse
import os
import shlex
import stat
import sys
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch import elf, executors, proc
from pytest_multiarch import env as envvars
from pytest_multiarch.executors import BUILTIN

CANNOT_RUN, NOT_FOUND = 126, 127


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "exec", help="run a binary of any architecture with the right emulator (go test -exec, cargo runner)"
    )
    p.add_argument("--arch", help="the architecture the binary must be built for (default: its ELF's)")
    p.add_argument(
        "--arch-executor",
        default=envvars.executor(),
        choices=BUILTIN.choices(),
        help="how to run it (default: $MULTIARCH_EXECUTOR, else auto: native, binfmt handler, qemu)",
    )
    p.add_argument("binary", help="the program to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    s = sub.add_parser("shims", help="write go_<os>_<arch>_exec scripts that `go test` and `go run` use")
    s.add_argument("directory", type=Path, help="where to write them (put it first on PATH)")
    s.add_argument("--arch", action="append", default=[], help="architectures (comma list; default: all)")


def _fail(code: int, message: str) -> int:
    print(f"pytest-multiarch exec: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    binary = Path(args.binary)
    if not binary.exists():
        return _fail(NOT_FOUND, f"{binary}: no such file")
    arch = _wasm_arch(binary)
    if arch is None:
        try:
            info = elf.read(binary)
        except elf.ElfMismatch as exc:
            return _fail(CANNOT_RUN, str(exc))
        arch = info.arch
        if arch is None:
            return _fail(CANNOT_RUN, f"{binary} is {info.describe()}: no architecture pytest-multiarch runs")
    if args.arch:
        try:
            wanted = archmod.get(args.arch)
        except archmod.ArchError as exc:
            return _fail(CANNOT_RUN, f"--arch: {exc}")
        if wanted != arch:
            return _fail(CANNOT_RUN, f"{binary} is built for {arch.name}, not {wanted.name}; rebuild it "
                         f"with GOARCH={wanted.goarch} (or the matching cargo --target)")  # fmt: skip
    try:
        executor = executors.select(arch, args.arch_executor)
        # Absolute: Path("./prog") is "prog", which a direct (binfmt) run would look up on PATH.
        invocation = executor.invocation(binary.absolute(), args.args, arch)  # a "--" after it is its own
        invocation = executor.bind(invocation, {}, os.getcwd())
    except executors.ExecutorUnavailable as exc:
        return _fail(CANNOT_RUN, str(exc))
    if executor.name != "docker":
        return proc.run_attached(invocation.argv, env={**os.environ, **invocation.env}, cwd=os.getcwd())
    # A container: its output comes back when it ends (no stdin: see the docker how-to).
    request = executors.RunRequest(binary, tuple(args.args), arch, executor, dict(os.environ), os.getcwd())
    result = executor.execute(invocation, request)
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(result.stderr)
    sys.stderr.flush()
    return 128 + result.signal if result.signal else result.returncode


def _wasm_arch(binary: Path) -> archmod.Arch | None:
    """The wasm architecture for a WebAssembly module (by its magic number), else None."""
    try:
        with binary.open("rb") as f:
            magic = f.read(4)
    except OSError:
        return None
    return next((a for a in archmod.ARCHES if a.binary_format == "wasm"), None) if magic == b"\0asm" else None


def write_shims(args: argparse.Namespace) -> int:
    """``go_<goos>_<goarch>_exec`` for each architecture (``go_linux_arm64_exec``,
    ``go_wasip1_wasm_exec``): `go test`/`go run` look them up on PATH when GOOS/GOARCH are not the
    host's. Each runs this Python's ``-m pytest_multiarch exec``."""
    try:
        arches = archmod.parse_list(args.arch or ["all"], all_arches=list(archmod.ARCHES))
    except archmod.ArchError as exc:
        return _fail(2, f"--arch: {exc}")
    args.directory.mkdir(parents=True, exist_ok=True)
    runner = f"{shlex.quote(sys.executable)} -m pytest_multiarch exec"
    for a in arches:
        shim = args.directory / f"go_{a.goos}_{a.goarch}_exec"
        shim.write_text(f'#!/bin/sh\nexec {runner} --arch {a.name} -- "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        print(shim)
    print(f"# put {args.directory} first on PATH; for cargo: "
          f"export CARGO_TARGET_<TRIPLE>_RUNNER='{runner}'", file=sys.stderr)  # fmt: skip
    return 0
