"""Run one WASI (preview 1) module with wasmtime, in a process of its own.

``python [-m pytest_multiarch.wasmrun | .../pytest_multiarch/wasmrun.py] [options] MODULE.wasm
[ARGS...]``: the ``wasmtime`` executor starts it by its file for every run (``-m`` would import
the whole package first), and its reproduce lines say so. It imports nothing of the package.

It follows the conventions of Go's ``go_wasip1_wasm_exec`` script (``wasmtime run --dir=/ --env PWD=... -W
max-wasm-stack=8388608``): the host's ``/`` preopened as ``/``, the working directory also
preopened as ``.`` (for wasi-libc's relative paths: Rust), ``PWD`` set to it, stdio inherited.

It runs in a process of its own because wasmtime's inherited stdout writes to file descriptor 1
directly, and because the caller's supervision (timeout, process group kill) then stops a guest
that never returns to Python.

Exit status: the module's own (``proc_exit``); 134 when the module traps (unreachable, stack
exhausted, out-of-bounds access), with the trap's message on stderr, so that a trap is a crash and
never a pass; 125 when the module cannot be loaded (not a module, no WASI entry point).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TRAP_STATUS = 134  # 128 + SIGABRT, as a native program that aborts
LOAD_STATUS = 125  # the module could not be compiled or instantiated
GO_STACK = 8 * 1024 * 1024  # Go's script: -W max-wasm-stack=8388608
TRAP_PREFIX = "wasm trap: "  # how the runner's own line about a trap starts
THREAD_EXTRA = 16 * 1024 * 1024  # the guest's thread's stack beyond the wasm stack limit
SERIALIZED = "serialized"  # the cache dir's folder of compiled modules, mapped as they are
# wasmtime's own compile cache: a folder of its own, because wasmtime's cleanup removes every
# file in its directory that it did not write (our serialized modules and its config among them).
COMPILE_CACHE = "compiled"
SERIALIZED_LIMIT = 2 * 1024**3  # bytes of them kept (least recently used go first)


def cache_config(cache_dir: Path) -> Path:
    """A wasmtime cache configuration (TOML), kept in ``cache_dir``, that keeps wasmtime's compiled
    modules in ``cache_dir/compiled``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    config = cache_dir / "wasmtime-cache.toml"
    text = f'[cache]\ndirectory = "{(cache_dir / COMPILE_CACHE).as_posix()}"\n'
    if not config.exists() or config.read_text() != text:
        tmp = config.with_name(f"{config.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, config)
    return config


def load(engine: Any, module: Path, stack: int, cache_dir: Path | None) -> Any:
    """The compiled ``module``: from its serialized form in ``cache_dir/serialized`` (mapped from
    the file: milliseconds, where wasmtime's own cache takes ~70 ms to read back a Go test
    binary), else compiled (through wasmtime's cache) and serialized there for the next run.

    The artifact is named by the module's digest and the stack size; wasmtime itself refuses one
    that another wasmtime version or configuration made, and then the module is compiled again.
    Written to a temporary name and renamed, so a reader never maps a half-written file."""
    import wasmtime

    if cache_dir is None:
        return wasmtime.Module.from_file(engine, str(module))
    data = module.read_bytes()
    folder = cache_dir / SERIALIZED
    artifact = folder / f"{hashlib.sha256(data).hexdigest()[:40]}-{stack}.cwasm"
    if artifact.is_file():
        try:
            compiled = wasmtime.Module.deserialize_file(engine, str(artifact))
        except wasmtime.WasmtimeError:
            pass  # made by another wasmtime: compiled again below
        else:
            with contextlib.suppress(OSError):
                os.utime(artifact)  # recently used: the last to go when the folder is pruned
            return compiled
    compiled = wasmtime.Module(engine, data)
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{artifact.name}.{os.getpid()}"
        tmp.write_bytes(compiled.serialize())
        os.replace(tmp, artifact)
        prune(folder)
    return compiled


def prune(folder: Path, limit: int = SERIALIZED_LIMIT) -> None:
    """Remove the least recently used artifacts until ``folder`` holds at most ``limit`` bytes."""
    found = []
    for path in folder.glob("*.cwasm"):
        with contextlib.suppress(OSError):
            st = path.stat()
            found.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in found)
    for _, size, path in sorted(found):
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pytest_multiarch.wasmrun", description=__doc__.split("\n")[0])
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a guest variable")
    p.add_argument("--inherit-env", action="store_true", help="pass this process's whole environment in")
    p.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST]", help="a preopened dir")
    p.add_argument("--max-wasm-stack", type=int, default=GO_STACK, metavar="BYTES")
    p.add_argument("--cache-dir", type=Path, default=None, help="wasmtime's compile cache directory")
    p.add_argument("module", type=Path)
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p.parse_args(argv)


def _config(stack: int, cache_dir: Path | None) -> object:
    import wasmtime
    from wasmtime import _bindings as ffi

    config = wasmtime.Config()
    # A wasm stack above wasmtime's 2 MiB default aborts the process unless the stack it runs on
    # (the async stack) is larger still: raise that first (wasmtime-py has no setter for it).
    ffi.wasmtime_config_async_stack_size_set(config.ptr(), stack + 2 * 1024 * 1024)
    config.max_wasm_stack = stack
    # Exception handling: what Rust tests built to unwind (nightly, -Zbuild-std) throw and catch.
    if hasattr(config, "wasm_exceptions"):
        config.wasm_exceptions = True
    if cache_dir is not None:
        config.cache = str(cache_config(cache_dir))
    return config


def run(ns: argparse.Namespace) -> int:
    import wasmtime

    cwd = os.getcwd()
    env: dict[str, str] = dict(os.environ) if ns.inherit_env else {}
    env["PWD"] = cwd
    for item in ns.env:
        key, _, value = item.partition("=")
        env[key] = value
    try:
        engine = wasmtime.Engine(_config(ns.max_wasm_stack, ns.cache_dir))  # type: ignore[arg-type]
        module = load(engine, ns.module, ns.max_wasm_stack, ns.cache_dir)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [str(ns.module), *ns.args]
        wasi.env = list(env.items())
        for spec in ns.dir or ["/"]:
            host, _, guest = spec.partition("::")
            wasi.preopen_dir(host, guest or host)
        wasi.inherit_stdin()
        wasi.inherit_stdout()
        wasi.inherit_stderr()
        store.set_wasi(wasi)
        instance = linker.instantiate(store, module)
        start = instance.exports(store).get("_start")
        if not isinstance(start, wasmtime.Func):
            print(f"wasmrun: {ns.module} has no WASI entry point (_start)", file=sys.stderr)
            return LOAD_STATUS
    except (wasmtime.WasmtimeError, OSError) as exc:
        print(f"wasmrun: cannot load {ns.module}: {exc}", file=sys.stderr)
        return LOAD_STATUS
    status: list[int] = []

    def call() -> None:
        try:
            start(store)
            status.append(0)  # returned from _start without proc_exit: WASI's success
        except wasmtime.ExitTrap as exc:  # proc_exit: the module's own status
            status.append(int(exc.code))
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:  # Trap is no WasmtimeError
            print(f"{TRAP_PREFIX}{exc}", file=sys.stderr)
            status.append(TRAP_STATUS)

    # The guest's frames are on the calling thread's own stack: a thread with room for the whole
    # wasm stack and more, so that wasmtime's limit (a trap) comes before the end of the thread's
    # stack (SIGSEGV), as the main thread's 8 MiB would not allow.
    threading.stack_size(ns.max_wasm_stack + THREAD_EXTRA)
    runner = threading.Thread(target=call, name="wasm")
    runner.start()
    runner.join()
    return status[0] if status else TRAP_STATUS


def main(argv: Sequence[str] | None = None) -> int:
    # The guest runs inside one C call: Python's own SIGINT handler would wait for it to return.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # Stopped with SIGQUIT first (a Go batch's limit), it dumps no goroutines, and leaves no core.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    ns = parse(sys.argv[1:] if argv is None else argv)
    try:
        import wasmtime  # noqa: F401
    except ImportError:
        print(
            "wasmrun: the Python package wasmtime is not installed. Fix: "
            f"{sys.executable} -m pip install 'wasmtime>=50'",
            file=sys.stderr,
        )
        return LOAD_STATUS
    return run(ns)


if __name__ == "__main__":
    sys.exit(main())
