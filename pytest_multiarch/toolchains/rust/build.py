"""Rust: building test binaries (and other binaries) per target triple with cargo."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.toolchains.rust import lld_link, musl
from pytest_multiarch.toolchains.rust.messages import POLL_INTERVAL, Lines, json_lines
from pytest_multiarch.toolchains.rust.model import (
    BUILD_TIMEOUT,
    RustBuildError,
    RustError,
    RustToolchain,
    TestBinary,
)
from pytest_multiarch.toolchains.rust.readiness import builds_std, find_linker, linker_env_var, unwinds
from pytest_multiarch.toolchains.rust.targets import rust_target

# Crate kinds cargo reports for a library target; they all make one "lib" test binary.
_LIB_KINDS = frozenset({"lib", "rlib", "dylib", "cdylib", "staticlib"})


def build_env(
    toolchain: RustToolchain,
    arch: Arch,
    project_dir: str | os.PathLike[str],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for cargo: our rustc, and the linker when only PATH knows it."""
    env = proc.base_env()
    env["RUSTC"] = str(toolchain.rustc)
    env["CARGO_TERM_COLOR"] = "never"  # cargo's own errors end up in a pytest report
    linker = find_linker(toolchain, arch, project_dir, env)
    # Env and config linkers cargo finds itself (a config's relative path means something there).
    if linker is not None and linker.source in ("PATH", musl.SOURCE) and arch.rust_triple:
        env[linker_env_var(arch.rust_triple)] = linker.program
    elif linker is None and arch.rust_triple != toolchain.host and lld_link.route(arch) is not None:
        link = lld_link.cargo_link_env(arch)
        if isinstance(link, lld_link.LinkEnv):  # else readiness said what is missing
            _add_link_env(env, link)
    if extra:
        env.update(extra)
    return env


def _add_link_env(env: dict[str, str], link: lld_link.LinkEnv) -> None:
    """Add the clang+lld route's variables; its flags join RUSTFLAGS when the user set those
    (cargo then ignores CARGO_TARGET_<TRIPLE>_RUSTFLAGS)."""
    for name, value in link.variables.items():
        if name.endswith("_RUSTFLAGS") and env.get("CARGO_ENCODED_RUSTFLAGS"):
            env["CARGO_ENCODED_RUSTFLAGS"] += "\x1f" + "\x1f".join(link.rustflags)
        elif name.endswith("_RUSTFLAGS") and env.get("RUSTFLAGS"):
            env["RUSTFLAGS"] += " " + " ".join(link.rustflags)
        else:
            env[name] = value


_STD_CRATES = ("core", "alloc", "std")  # what -Zbuild-std compiles that runs in every test
UNWIND_FLAGS = "-Cpanic=unwind -Ctarget-feature=+exception-handling"  # wasm tests that unwind


def target_args(toolchain: RustToolchain, arch: Arch) -> tuple[list[str], dict[str, str]]:
    """cargo's arguments and variables that select ``arch``'s target, as targets.py chose it.

    A target without a prebuilt std gets ``-Zbuild-std``: cargo compiles std from the toolchain's
    library source into the target dir once, and reuses it until the toolchain changes.
    RUSTC_BOOTSTRAP=1 lets a stable cargo accept the flag, as it lets libtest print JSON.
    """
    target = rust_target(arch, toolchain)
    if target is None:
        raise RustError(f"no Rust target for {arch.name}")
    # std built with the test profile is unoptimised: a panicking test then took 7.5 s instead of
    # 1.2 s under qemu-mips64 (measured). Prebuilt std is optimised; so is a built one.
    optimised = [w for c in _STD_CRATES for w in ("--config", f"profile.dev.package.{c}.opt-level=3")]
    if builds_std(toolchain, target):
        return ["--target", target.triple, "-Zbuild-std", *optimised], {"RUSTC_BOOTSTRAP": "1"}
    if unwinds(toolchain, target):  # wasm on nightly: std and tests that unwind (readiness.unwinds)
        variable = f"CARGO_TARGET_{target.triple.upper().replace('-', '_')}_RUSTFLAGS"
        select = ["--target", target.triple, "-Zbuild-std=std,panic_unwind", *optimised]
        return select, {variable: UNWIND_FLAGS}
    return ["--target", target.triple], {}


def std_note(toolchain: RustToolchain, arch: Arch, target_dir: str | os.PathLike[str]) -> str | None:
    """What the progress line says before a build that compiles std for ``arch`` for the first
    time in ``target_dir`` (a minute or so); None when it needs no std built or has one."""
    target = rust_target(arch, toolchain)
    if target is None or not (builds_std(toolchain, target) or unwinds(toolchain, target)):
        return None
    if std_marker(toolchain, arch, target_dir).exists():
        return None
    source = target.std.name if builds_std(toolchain, target) else "rust-src, to unwind"
    return f"std for {arch.name} ({target.triple}) from {source}, once per toolchain: about a minute"


def std_marker(toolchain: RustToolchain, arch: Arch, target_dir: str | os.PathLike[str]) -> Path:
    """The file saying that std for ``arch`` was built by ``toolchain`` in ``target_dir``."""
    which = f"{toolchain.rustc}\0{toolchain.sysroot}\0{toolchain.version}"
    stamp = hashlib.sha256(which.encode()).hexdigest()
    return Path(target_dir) / ".multiarch-std" / f"{arch.rust_triple}-{stamp[:16]}"


def build_tests(
    toolchain: RustToolchain,
    manifest_path: str | os.PathLike[str],
    arch: Arch,
    target_dir: str | os.PathLike[str] | None = None,
    env_extra: Mapping[str, str] | None = None,
    *,
    timeout: float = BUILD_TIMEOUT,
    on_binary: Callable[[TestBinary], None] | None = None,
) -> list[TestBinary]:
    """`cargo test --no-run` for ``arch``: the test binaries cargo test would run.

    Like cargo: a package manifest builds that package's lib, bins, tests/ and `test = true`
    targets; a virtual (workspace) manifest builds its default members. Raises RustBuildError
    with rustc's rendered errors on failure. ``on_binary`` is told each test binary as soon as
    cargo says it is finished (its compiler-artifact message), while cargo builds the others.
    (together.py builds several architectures in one cargo run.)
    """
    if arch.rust_triple is None:
        raise RustError(f"no Rust target for {arch.name}")
    manifest = Path(manifest_path).resolve()
    select, select_env = target_args(toolchain, arch)
    # cwd = the package: cargo finds .cargo/config.toml from its cwd, as find_linker does.
    env = build_env(toolchain, arch, manifest.parent, {**select_env, **(env_extra or {})})
    _keep_target_flags(env, select_env)
    told = (lambda _, b: on_binary(b)) if on_binary is not None else None
    found = no_run(toolchain, manifest, [arch], select, env, target_dir, timeout=timeout, on_binary=told)
    if target_dir is not None and select_env:  # std was built (or reused) for this toolchain
        marker = std_marker(toolchain, arch, target_dir)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return found[arch]


def _keep_target_flags(env: dict[str, str], select_env: Mapping[str, str]) -> None:
    """A target's own flags (``CARGO_TARGET_<T>_RUSTFLAGS``) are ignored by cargo when the user
    set RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS: they join those instead."""
    for name, flags in select_env.items():
        if not name.endswith("_RUSTFLAGS"):
            continue
        if env.get("CARGO_ENCODED_RUSTFLAGS"):
            env["CARGO_ENCODED_RUSTFLAGS"] += "\x1f" + "\x1f".join(flags.split())
        elif env.get("RUSTFLAGS"):
            env["RUSTFLAGS"] += " " + flags


def no_run(
    toolchain: RustToolchain,
    manifest: Path,
    arches: Sequence[Arch],
    select: Sequence[str],
    env: Mapping[str, str],
    target_dir: str | os.PathLike[str] | None,
    *,
    timeout: float,
    on_binary: Callable[[Arch, TestBinary], None] | None = None,
) -> dict[Arch, list[TestBinary]]:
    """One `cargo test --no-run` with ``select`` (its --target arguments) for ``arches``: each
    arch's test binaries, each told to ``on_binary`` as soon as cargo has finished it.

    With one arch, every test binary is its (proc-macro tests, built for the host, included:
    callers tell them by their triple); with several, a binary is the arch whose triple names its
    directory under ``target_dir``, and host-built ones belong to none.
    """
    argv = [str(toolchain.cargo), "test", "--no-run", "--message-format=json", *select,
            "--manifest-path", str(manifest)]  # fmt: skip
    if target_dir is not None:
        argv += ["--target-dir", os.fspath(target_dir)]
    by_triple = {a.rust_triple: a for a in arches}
    harness_off: dict[Path, set[tuple[str, str]]] = {}
    binaries: dict[Arch, list[TestBinary]] = {a: [] for a in arches}
    messages: list[dict[str, Any]] = []

    def arch_of(m: Mapping[str, Any]) -> Arch | None:
        if len(arches) == 1:
            return arches[0]
        if target_dir is None or not m.get("executable"):
            return None
        try:
            where = Path(m["executable"]).relative_to(target_dir).parts
        except ValueError:
            return None
        return by_triple.get(where[0]) if where else None

    def read(lines: Lines, final: bool = False) -> None:
        for m in lines.read(final):
            if not isinstance(m.get("reason"), str):
                continue
            messages.append(m)
            arch = arch_of(m)
            binary = None if arch is None else _test_binary(m, toolchain, arch, harness_off)
            if arch is not None and binary is not None:
                binaries[arch].append(binary)
                if on_binary is not None:
                    on_binary(arch, binary)

    with tempfile.TemporaryDirectory(prefix="multiarch-cargo-") as tmp:
        capture = proc.Capture(Path(tmp, "stdout"), Path(tmp, "stderr"))
        lines = Lines(capture.stdout)

        def watch() -> str | None:  # never a reason to stop cargo
            read(lines)
            return None

        supervision = proc.Supervision(capture, watch=watch, interval=POLL_INTERVAL)
        ran = proc.run(argv, env=dict(env), cwd=manifest.parent, timeout=timeout, supervision=supervision)
        read(lines, final=True)
        res = dataclasses.replace(ran, stdout=capture.stdout.read_bytes(), stderr=capture.stderr.read_bytes())
    if not res.ok or not any(m["reason"] == "build-finished" and m.get("success") for m in messages):
        raise _build_error(argv, res, messages, arches[0])
    return binaries


def _test_binary(
    m: dict[str, Any], toolchain: RustToolchain, arch: Arch, harness_off: dict[Path, set[tuple[str, str]]]
) -> TestBinary | None:
    """The test binary a cargo message announces, or None when it announces none."""
    if m["reason"] != "compiler-artifact" or not m.get("executable") or not m["profile"].get("test"):
        return None
    assert arch.rust_triple is not None
    target = m["target"]
    kinds = set(target["kind"])
    kind = "lib" if kinds & _LIB_KINDS else next(iter(sorted(kinds)))
    pkg_manifest = Path(m["manifest_path"])
    if pkg_manifest not in harness_off:
        harness_off[pkg_manifest] = _no_harness_targets(pkg_manifest)
    name, version = _package_name_version(m["package_id"], pkg_manifest.parent.name)
    return TestBinary(
        kind=kind,
        target_name=target["name"],
        package_name=name,
        package_version=version,
        executable=Path(m["executable"]),
        src_path=Path(target["src_path"]),
        manifest_path=pkg_manifest,
        # cargo builds proc-macro crates, and so their tests, for the host whatever --target says.
        triple=toolchain.host if kind == "proc-macro" else arch.rust_triple,
        harness=(kind, _norm(target["name"])) not in harness_off[pkg_manifest],
        doctest=kind == "lib" and bool(target.get("doctest")),
    )


def build_binary(
    toolchain: RustToolchain,
    manifest_path: str | os.PathLike[str],
    arch: Arch,
    *,
    bin: str | None = None,
    example: str | None = None,
    test: str | None = None,
    release: bool = False,
    features: Sequence[str] = (),
    target_dir: str | os.PathLike[str] | None = None,
    env_extra: Mapping[str, str] | None = None,
    timeout: float = BUILD_TIMEOUT,
) -> Path:
    """Build one executable of a package for ``arch`` (a bin, an example, or an integration
    test's binary) and return its path. With none named, the package's only binary."""
    if arch.rust_triple is None:
        raise RustError(f"no Rust target for {arch.name}")
    if sum(x is not None for x in (bin, example, test)) > 1:
        raise ValueError("name at most one of bin=, example=, test=")
    manifest = Path(manifest_path).resolve()
    argv = [str(toolchain.cargo), "test" if test is not None else "build"]
    if test is not None:
        argv += ["--no-run", "--test", test]
    elif example is not None:
        argv += ["--example", example]
    elif bin is not None:
        argv += ["--bin", bin]
    else:
        argv.append("--bins")
    select, select_env = target_args(toolchain, arch)
    argv += ["--message-format=json", *select, "--manifest-path", str(manifest)]
    if release:
        argv.append("--release")
    if features:
        argv += ["--features", ",".join(features)]
    if target_dir is not None:
        argv += ["--target-dir", os.fspath(target_dir)]
    env = build_env(toolchain, arch, manifest.parent, {**select_env, **(env_extra or {})})
    res = proc.run(argv, env=env, cwd=manifest.parent, timeout=timeout)
    messages = [m for m in json_lines(res.stdout) if isinstance(m.get("reason"), str)]
    if not res.ok:
        raise _build_error(argv, res, messages, arch)
    executables = [
        Path(m["executable"])
        for m in messages
        if m["reason"] == "compiler-artifact" and m.get("executable") and m["manifest_path"] == str(manifest)
    ]
    if len(executables) != 1:
        found = ", ".join(p.name for p in executables) or "none"
        raise RustError(
            f"`{shlex.join(argv)}` built {len(executables)} executables ({found}); name one with "
            "bin=, example= or test="
        )
    return executables[0]


def _build_error(
    argv: list[str], res: proc.ProcResult, messages: list[dict[str, Any]], arch: Arch
) -> RustBuildError:
    diagnostics: list[str] = []
    warnings = 0
    for m in messages:
        if m["reason"] != "compiler-message":
            continue
        msg = m.get("message", {})
        if msg.get("level") in ("error", "error: internal compiler error"):
            rendered = msg.get("rendered") or msg.get("message", "")
            if rendered not in diagnostics:
                diagnostics.append(rendered)
        elif msg.get("level") == "warning":
            warnings += 1
    # cargo's own errors (manifest, resolution, "could not compile") are plain text on stderr.
    stderr = "\n".join(
        ln for ln in res.stderr.decode(errors="replace").splitlines()
        if not ln.lstrip().startswith(
            ("Compiling ", "Blocking ", "Downloaded ", "Downloading ", "warning: build failed")
        )
    )  # fmt: skip
    compiler = musl.missing_c_compiler(stderr) if arch.libc == "musl" else None
    if compiler is not None:  # the cc crate found no musl C compiler: a skip, with the fix
        return musl.no_c_compiler(arch, compiler, argv)
    what = " ".join(argv[1:3]) if len(argv) > 2 else "cargo"
    parts = [f"cargo {what} for {arch.name} ({arch.rust_triple}) {res.describe_exit()}"]
    parts += [d.rstrip() for d in diagnostics]
    if warnings:
        parts.append(f"({warnings} warning(s) not shown)")
    if stderr.strip():
        parts.append(stderr.strip()[-4000:])
    parts.append(f"command: {shlex.join(argv)}")
    return RustBuildError("\n".join(parts), diagnostics, argv)


def _norm(name: str) -> str:
    return name.replace("-", "_")


def _no_harness_targets(manifest: Path) -> set[tuple[str, str]]:
    """(kind, name) of the targets a manifest declares with `harness = false`."""
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    found: set[tuple[str, str]] = set()
    lib = data.get("lib")
    if isinstance(lib, dict) and lib.get("harness") is False:
        package = data.get("package", {})
        found.add(("lib", _norm(str(lib.get("name") or package.get("name", "")))))
    for key, kind in (("bin", "bin"), ("test", "test"), ("bench", "bench"), ("example", "example")):
        for t in data.get(key, []) if isinstance(data.get(key), list) else []:
            if isinstance(t, dict) and t.get("harness") is False and "name" in t:
                found.add((kind, _norm(str(t["name"]))))
    return found


def _package_name_version(package_id: str, dir_name: str) -> tuple[str, str]:
    """Name and version from a cargo package id, in its new or pre-1.77 spelling.

    New: ``path+file:///dir#name@1.0`` or ``path+file:///dir#1.0`` (name = last path segment).
    Old: ``name 1.0 (path+file:///dir)``.
    """
    if " (" in package_id:
        name, version = package_id.split(" ", 2)[:2]
        return name, version
    fragment = package_id.rpartition("#")[2]
    if "@" in fragment:
        name, _, version = fragment.partition("@")
        return name, version
    url_path = package_id.rpartition("#")[0].split("?", 1)[0].rstrip("/")
    return url_path.rsplit("/", 1)[-1] or dir_name, fragment


def has_doctests(binaries: Iterable[TestBinary]) -> bool:
    """Whether cargo test would also have run doc tests (print DOCTEST_NOTE once if so)."""
    return any(b.doctest for b in binaries)
