"""Rust: finding cargo/rustc and what they can target, building test binaries per target
triple, listing their tests, and turning libtest's JSON events into per-test outcomes."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import executors, proc
from ..arch import Arch
from ..outcome import ParsedRun, TestOutcome
from . import debian_rust

INSTALL_FIX = (
    "python -m pytest_multiarch setup (installs Debian's Rust with cross standard libraries, found "
    "without any setting), or install Rust with rustup (https://rustup.rs), or point the ini option "
    "multiarch_cargo or $CARGO at a cargo"
)
NOT_FOUND = f"cargo not found ($CARGO, multiarch_cargo, PATH, setup's prefixes). Fix: {INSTALL_FIX}"
QUERY_TIMEOUT = 60.0
LIST_TIMEOUT = 120.0  # a listing is one emulated start (~0.1 s); generous for loaded CI machines
BUILD_TIMEOUT = 1800.0  # cold builds compile every dependency for the target

# libtest's JSON output and listing are unstable options; RUSTC_BOOTSTRAP=1 in the test binary's
# environment makes a stable libtest accept them (it reads the variable at run time).
RUN_ENV: Mapping[str, str] = {"RUSTC_BOOTSTRAP": "1"}

DOCTEST_NOTE = (
    "Rust doc tests are not run cross-architecture (rustdoc would have to compile and run each one "
    "under the emulator); run `cargo test --doc` natively for them"
)

# Crate kinds cargo reports for a library target; they all make one "lib" test binary.
_LIB_KINDS = frozenset({"lib", "rlib", "dylib", "cdylib", "staticlib"})
# The prefix every libtest JSON line starts with; lets us split off uncaptured text before it.
_JSON_START = '{ "type": "'
_PANIC_AT = re.compile(r"^thread '(?P<thread>[^']*)' panicked at (?P<where>.*?):?$")
# Debian architectures with no libstd-rust matching a current rustc in Debian 12 (bookworm), and
# what to do instead. A target's std must be exactly the version of the rustc using it.
RUSTUP_FIX = "use a rustup toolchain (multiarch_cargo / $CARGO) and run: rustup target add {triple}"
BUILD_STD_FIX = (
    "{triple} is tier 3 since Rust 1.72 (no prebuilt std anywhere): build std with a nightly "
    "toolchain (cargo +nightly test -Zbuild-std --target {triple}), or leave {arch} out"
)
DEBIAN_NO_STD: dict[str, tuple[str, str]] = {
    "riscv64": ("riscv64 is not a Debian 12 architecture", RUSTUP_FIX),
    "loong64": ("loong64 is not a Debian 12 architecture", RUSTUP_FIX),
    "ppc64": ("ppc64 is not a Debian 12 release architecture", RUSTUP_FIX),
    "mips64el": ("Debian 12's mips64el std stops at Rust 1.70", BUILD_STD_FIX),
    "mips64": ("mips64 is not a Debian 12 release architecture", BUILD_STD_FIX),
    "mipsel": ("mipsel is not a Debian 12 release architecture", BUILD_STD_FIX),
    "mips": ("mips is not a Debian 12 release architecture", BUILD_STD_FIX),
}


def tier3(arch: Arch) -> bool:
    """Rust ships no prebuilt std for ``arch`` anywhere (rustup cannot add it)."""
    entry = DEBIAN_NO_STD.get(arch.debian_arch)
    return entry is not None and entry[1] == BUILD_STD_FIX


class RustError(Exception):
    """A cargo, rustc or test-binary step failed; the message says what, why and what to do."""


class RustToolchainError(RustError):
    """No usable cargo/rustc."""


class RustBuildError(RustError):
    """`cargo test --no-run` failed; the message holds rustc's rendered errors."""

    def __init__(self, message: str, diagnostics: Sequence[str], argv: Sequence[str]) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)
        self.argv = list(argv)


@dataclass(frozen=True)
class RustToolchain:
    cargo: Path
    rustc: Path
    sysroot: Path
    version: str  # rustc's release, e.g. "1.85.0"; a target's std must match it exactly
    host: str  # rustc's host triple

    @property
    def rustup_toolchain(self) -> str | None:
        """The rustup toolchain name when rustup manages this sysroot, else None."""
        if (self.sysroot / "lib/rustlib/multirust-channel-manifest.toml").is_file():
            return self.sysroot.name
        return None


@dataclass(frozen=True)
class Missing:
    """Why Rust tests cannot be built for an architecture, and the command that fixes it."""

    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.reason}. Fix: {self.fix}"


@dataclass(frozen=True)
class Linker:
    program: str
    source: str  # "env CARGO_TARGET_..._LINKER", "<config path>", or "PATH"


@dataclass(frozen=True)
class TestBinary:
    """One test executable cargo built (a lib's, a bin's, an integration test's unit tests...)."""

    kind: str  # "lib", "bin", "test", "bench", "example" or "proc-macro"
    target_name: str
    package_name: str
    package_version: str
    executable: Path
    src_path: Path
    manifest_path: Path
    triple: str  # what it was built for: the host's for proc-macro crates, whatever --target says
    harness: bool = True  # False: `harness = false`, a plain program that is not libtest
    doctest: bool = False  # the lib target has doc tests enabled (they are not run cross)
    __test__ = False  # not a pytest test class, despite the name

    @property
    def package_dir(self) -> Path:
        """Where cargo runs this binary (its package root): use it as the run's cwd."""
        return self.manifest_path.parent

    @property
    def binary_id(self) -> str:
        """A stable id within a workspace, as cargo-nextest spells it: `pkg`, `pkg::bin/x`."""
        if self.kind in ("lib", "proc-macro"):
            return self.package_name
        if self.kind == "test":
            return f"{self.package_name}::{self.target_name}"
        return f"{self.package_name}::{self.kind}/{self.target_name}"


@dataclass(frozen=True)
class ListedTest:
    name: str
    ignored: bool
    ignore_reason: str = ""
    source_path: str = ""  # relative to the workspace root, as rustc saw it; "" when unknown
    line: int = 0


# ---------------------------------------------------------------------------------------------
# Discovery


@dataclass(frozen=True)
class CargoCandidate:
    """A cargo to try, and why it is a candidate (shown by doctor)."""

    cargo: str
    why: str


def cargo_candidates(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> list[CargoCandidate]:
    """The cargos to consider, in order.

    $CARGO, $RUSTC or ``explicit`` (ini ``multiarch_cargo``), when set, is the only choice: a
    user who names a toolchain gets that one. Otherwise the cargo on PATH comes first, then each
    Debian Rust prefix that ``python -m pytest_multiarch setup`` unpacked, newest first.
    """
    env = os.environ if env is None else env
    path = env.get("PATH")
    for value, why in (
        (env.get("CARGO"), "$CARGO"),
        (os.fspath(explicit) if explicit else None, "multiarch_cargo"),
    ):
        if value:
            named = shutil.which(value, path=path)
            return [CargoCandidate(named, why)] if named else []
    on_path = shutil.which("cargo", path=path)
    if env.get("RUSTC"):  # a chosen rustc pairs with the cargo on PATH only
        return [CargoCandidate(on_path, "PATH (with $RUSTC)")] if on_path else []
    found = [CargoCandidate(on_path, "PATH")] if on_path else []
    for cargo in debian_rust.provisioned_cargos(env):
        if all(Path(c.cargo).resolve() != cargo.resolve() for c in found):
            found.append(CargoCandidate(str(cargo), f"provisioned by setup in {cargo.parent.parent}"))
    return found


def find_cargo(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """The first cargo to try (see :func:`cargo_candidates`)."""
    candidates = cargo_candidates(explicit, env)
    return candidates[0].cargo if candidates else None


def find_rustc(cargo: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> str | None:
    """The rustc to use with ``cargo``: $RUSTC, then the one beside cargo, then PATH.

    The one beside cargo comes before PATH: a cargo from a private prefix must not pair with
    another toolchain's rustc, whose std would not match. build_tests passes it as $RUSTC.
    """
    env = os.environ if env is None else env
    sibling = Path(cargo).parent / "rustc"
    for candidate in (env.get("RUSTC"), str(sibling) if os.access(sibling, os.X_OK) else None, "rustc"):
        if candidate:
            found = shutil.which(candidate, path=env.get("PATH"))
            if found:
                return found
    return None


def find_toolchain(
    explicit_cargo: str | os.PathLike[str] | None = None,
    *,
    project_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> RustToolchain:
    """The first candidate cargo with its rustc, asked for its version, host and sysroot.

    ``project_dir`` matters for rustup: its proxies pick the toolchain from the directory
    (rust-toolchain.toml). Raises RustToolchainError (with the fix) when nothing usable is found.
    """
    env = dict(os.environ if env is None else env)
    cargo = find_cargo(explicit_cargo, env)
    if cargo is None:
        raise RustToolchainError(NOT_FOUND)
    return toolchain_of(cargo, project_dir=project_dir, env=env)


def toolchain_of(
    cargo: str, *, project_dir: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> RustToolchain:
    """``cargo`` and its rustc (:func:`find_rustc`), with rustc's version, host and sysroot."""
    env = dict(os.environ if env is None else env)
    rustc = find_rustc(cargo, env)
    if rustc is None:
        raise RustToolchainError(f"rustc not found beside {cargo} or on PATH. Fix: {INSTALL_FIX}")
    cwd = os.fspath(project_dir) if project_dir else "/"
    info = _query(rustc, ["-vV"], env, cwd)
    fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
    if "release" not in fields or "host" not in fields:
        raise RustToolchainError(f"`{rustc} -vV` did not print its release and host:\n{info}")
    sysroot = _query(rustc, ["--print", "sysroot"], env, cwd).strip()
    return RustToolchain(Path(cargo), Path(rustc), Path(sysroot), fields["release"], fields["host"])


@dataclass(frozen=True)
class Chosen:
    """The toolchain picked for one architecture, and why (doctor shows it)."""

    toolchain: RustToolchain
    why: str
    missing: Missing | None  # None: ready to build for the architecture


def choose_toolchain(
    arch: Arch,
    explicit_cargo: str | os.PathLike[str] | None = None,
    *,
    project_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    lookup: Callable[[str], RustToolchain] | None = None,
) -> Chosen:
    """The first candidate (:func:`cargo_candidates`) that can build for ``arch``.

    When none can, the first usable one, with what it lacks. ``lookup`` turns a cargo path into
    its toolchain (callers cache it). Raises RustToolchainError when no candidate works at all.
    """
    env = dict(os.environ if env is None else env)
    candidates = cargo_candidates(explicit_cargo, env)
    if not candidates:
        raise RustToolchainError(NOT_FOUND)
    get = lookup or (lambda cargo: toolchain_of(cargo, project_dir=project_dir, env=env))
    first: Chosen | None = None
    error: RustToolchainError | None = None
    for candidate in candidates:
        try:
            toolchain = get(candidate.cargo)
        except RustToolchainError as exc:
            error = error or exc
            continue
        missing = readiness(toolchain, arch, project_dir, env)
        if missing is None:
            skipped = "" if first is None else f"; {first.toolchain.cargo} lacks it"
            return Chosen(toolchain, candidate.why + skipped, None)
        first = first or Chosen(toolchain, candidate.why, missing)
    if first is None:
        assert error is not None
        raise error
    return first


def _query(rustc: str, args: list[str], env: Mapping[str, str], cwd: str) -> str:
    try:
        res = proc.run([rustc, *args], env=env, cwd=cwd, timeout=QUERY_TIMEOUT)
    except OSError as exc:
        raise RustToolchainError(f"cannot run {rustc}: {exc}. Fix: {INSTALL_FIX}") from exc
    if not res.ok:
        raise RustToolchainError(
            f"`{shlex.join([rustc, *args])}` {res.describe_exit()}:\n{res.stderr.decode(errors='replace')}"
        )
    return res.stdout.decode(errors="replace")


def installed_targets(toolchain: RustToolchain) -> list[str]:
    """Target triples whose standard library is installed in the toolchain's sysroot."""
    rustlib = toolchain.sysroot / "lib" / "rustlib"
    if not rustlib.is_dir():
        return []
    return sorted(d.name for d in rustlib.iterdir() if d.is_dir() and any((d / "lib").glob("libstd-*.rlib")))


@functools.cache
def known_targets(toolchain: RustToolchain) -> frozenset[str]:
    """Every triple this rustc can compile for (std installed or not)."""
    out = _query(str(toolchain.rustc), ["--print", "target-list"], proc.base_env(), "/")
    return frozenset(out.split())


def linker_env_var(triple: str) -> str:
    return "CARGO_TARGET_" + re.sub(r"[^A-Za-z0-9]", "_", triple).upper() + "_LINKER"


def find_linker(
    toolchain: RustToolchain,
    arch: Arch,
    project_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
) -> Linker | None:
    """The linker cargo will use for ``arch``, as cargo looks for it; None when none is needed
    (the host triple) or none is found.

    Order: $CARGO_TARGET_<TRIPLE>_LINKER, ``[target.<triple>] linker`` in .cargo/config(.toml)
    from ``project_dir`` upwards then $CARGO_HOME, then ``<gnu-triple>-gcc`` on PATH.
    """
    env = os.environ if env is None else env
    triple = arch.rust_triple
    if triple is None:
        return None
    var = linker_env_var(triple)
    if env.get(var):
        return Linker(env[var], f"env {var}")
    for config in _cargo_configs(Path(project_dir), env):
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue  # cargo reports a broken config itself, better than we could
        target = data.get("target", {}).get(triple, {})
        if isinstance(target, dict) and isinstance(target.get("linker"), str):
            return Linker(target["linker"], str(config))
    if triple == toolchain.host:
        return None
    gcc = shutil.which(f"{arch.gnu_triple}-gcc", path=env.get("PATH"))
    return Linker(gcc, "PATH") if gcc else None


def _cargo_configs(start: Path, env: Mapping[str, str]) -> list[Path]:
    """Cargo config files in cargo's precedence order (nearest first)."""
    dirs = [start.resolve(), *start.resolve().parents]
    cargo_home = Path(env.get("CARGO_HOME") or Path.home() / ".cargo")
    found: list[Path] = []
    for d in [*(p / ".cargo" for p in dirs), cargo_home]:
        # Both present: cargo reads the one without extension (and warns).
        for name in ("config", "config.toml"):
            if (d / name).is_file():
                if (d / name).resolve() not in [f.resolve() for f in found]:
                    found.append(d / name)
                break
    return found


def readiness(
    toolchain: RustToolchain,
    arch: Arch,
    project_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
) -> Missing | None:
    """None when Rust tests can be built for ``arch`` here, else what is missing and the fix."""
    triple = arch.rust_triple
    if triple is None or triple not in known_targets(toolchain):
        what = f"rustc {toolchain.version} does not know the target {triple}" if triple else "no Rust target"
        return Missing(
            f"{what} for {arch.name}",
            f"leave {arch.name} out of --arch for Rust tests, or use a Rust toolchain that supports it",
        )
    problems: list[Missing] = []
    if triple not in installed_targets(toolchain):
        problems.append(_std_missing(toolchain, arch, triple))
    if triple != toolchain.host and find_linker(toolchain, arch, project_dir, env) is None:
        problems.append(
            Missing(
                f"no linker for {triple} ({arch.gnu_triple}-gcc is not on PATH; neither "
                f"{linker_env_var(triple)} nor [target.{triple}] linker in .cargo/config.toml is set)",
                f"apt-get install gcc-{arch.gnu_triple} libc6-dev-{arch.debian_arch}-cross",
            )
        )
    if not problems:
        return None
    return Missing("; ".join(p.reason for p in problems), "; ".join(p.fix for p in problems))


def _std_missing(toolchain: RustToolchain, arch: Arch, triple: str) -> Missing:
    reason = (
        f"the Rust {toolchain.version} standard library for {triple} is not installed in {toolchain.sysroot}"
    )
    name = toolchain.rustup_toolchain
    if name is not None and not tier3(arch):
        return Missing(reason, f"rustup target add --toolchain {name} {triple}")
    if arch.debian_arch in DEBIAN_NO_STD:
        note, fix = DEBIAN_NO_STD[arch.debian_arch]
        return Missing(
            f"{reason}, and Debian has none to add ({note})", fix.format(triple=triple, arch=arch.name)
        )
    owner = _dpkg_owner(toolchain)
    if owner is not None:  # a Debian-installed rustc: the same std package, foreign architecture
        pkg, version = owner
        return Missing(
            reason,
            f"dpkg --add-architecture {arch.debian_arch} && apt-get update && "
            f"apt-get install {pkg}:{arch.debian_arch}={version}",
        )
    # A Debian rustc unpacked into a private prefix (what `setup` does): setup unpacks the
    # matching std package into the same prefix.
    return Missing(
        reason + " (the std of a target must be the exact version of rustc)",
        f"python -m pytest_multiarch setup --arch={arch.name}",
    )


def _dpkg_owner(toolchain: RustToolchain) -> tuple[str, str] | None:
    """(package, version) of the Debian package that installed the host's std, if dpkg did."""
    host_std = next((toolchain.sysroot / "lib/rustlib" / toolchain.host / "lib").glob("libstd-*.rlib"), None)
    dpkg_query = shutil.which("dpkg-query")
    if host_std is None or dpkg_query is None:
        return None
    env = proc.base_env()
    res = proc.run([dpkg_query, "-S", str(host_std)], env=env, cwd="/", timeout=QUERY_TIMEOUT)
    if not res.ok:
        return None
    pkg = res.stdout.decode(errors="replace").split(":", 1)[0].strip()
    ver = proc.run([dpkg_query, "-W", "-f=${Version}", pkg], env=env, cwd="/", timeout=QUERY_TIMEOUT)
    return (pkg, ver.stdout.decode(errors="replace").strip()) if ver.ok else None


# ---------------------------------------------------------------------------------------------
# Building


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
    if linker is not None and linker.source == "PATH" and arch.rust_triple:
        env[linker_env_var(arch.rust_triple)] = linker.program
    if extra:
        env.update(extra)
    return env


def build_tests(
    toolchain: RustToolchain,
    manifest_path: str | os.PathLike[str],
    arch: Arch,
    target_dir: str | os.PathLike[str] | None = None,
    env_extra: Mapping[str, str] | None = None,
    *,
    timeout: float = BUILD_TIMEOUT,
) -> list[TestBinary]:
    """`cargo test --no-run` for ``arch``: the test binaries cargo test would run.

    Like cargo: a package manifest builds that package's lib, bins, tests/ and `test = true`
    targets; a virtual (workspace) manifest builds its default members. Raises RustBuildError
    with rustc's rendered errors on failure.
    """
    if arch.rust_triple is None:
        raise RustError(f"no Rust target for {arch.name}")
    manifest = Path(manifest_path).resolve()
    argv = [
        str(toolchain.cargo), "test", "--no-run", "--message-format=json",
        "--target", arch.rust_triple, "--manifest-path", str(manifest),
    ]  # fmt: skip
    if target_dir is not None:
        argv += ["--target-dir", os.fspath(target_dir)]
    # cwd = the package: cargo finds .cargo/config.toml from its cwd, as find_linker does.
    env = build_env(toolchain, arch, manifest.parent, env_extra)
    res = proc.run(argv, env=env, cwd=manifest.parent, timeout=timeout)
    messages = [m for m in _json_lines(res.stdout) if isinstance(m.get("reason"), str)]
    if not res.ok or not any(m["reason"] == "build-finished" and m.get("success") for m in messages):
        raise _build_error(argv, res, messages, arch)
    harness_off: dict[Path, set[tuple[str, str]]] = {}
    binaries = []
    for m in messages:
        if m["reason"] != "compiler-artifact" or not m.get("executable") or not m["profile"].get("test"):
            continue
        target = m["target"]
        kinds = set(target["kind"])
        kind = "lib" if kinds & _LIB_KINDS else next(iter(sorted(kinds)))
        pkg_manifest = Path(m["manifest_path"])
        if pkg_manifest not in harness_off:
            harness_off[pkg_manifest] = _no_harness_targets(pkg_manifest)
        name, version = _package_name_version(m["package_id"], pkg_manifest.parent.name)
        binaries.append(
            TestBinary(
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
        )
    return binaries


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
    argv += ["--message-format=json", "--target", arch.rust_triple, "--manifest-path", str(manifest)]
    if release:
        argv.append("--release")
    if features:
        argv += ["--features", ",".join(features)]
    if target_dir is not None:
        argv += ["--target-dir", os.fspath(target_dir)]
    env = build_env(toolchain, arch, manifest.parent, env_extra)
    res = proc.run(argv, env=env, cwd=manifest.parent, timeout=timeout)
    messages = [m for m in _json_lines(res.stdout) if isinstance(m.get("reason"), str)]
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


def _json_lines(data: bytes) -> list[dict[str, Any]]:
    out = []
    for line in data.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


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


def cargo_env(binary: TestBinary, toolchain: RustToolchain | None = None) -> dict[str, str]:
    """The variables `cargo test` sets for a test binary at run time (tests read e.g.
    CARGO_MANIFEST_DIR); run it with cwd=binary.package_dir, as cargo does."""
    env = {
        "CARGO_MANIFEST_DIR": str(binary.package_dir),
        "CARGO_MANIFEST_PATH": str(binary.manifest_path),
        "CARGO_PKG_NAME": binary.package_name,
        "CARGO_PKG_VERSION": binary.package_version,
        "CARGO_CRATE_NAME": _norm(binary.target_name),
    }
    m = re.match(r"(\d+)\.(\d+)\.(\d+)(?:-([^+]*))?", binary.package_version)
    if m:
        env.update(
            CARGO_PKG_VERSION_MAJOR=m.group(1),
            CARGO_PKG_VERSION_MINOR=m.group(2),
            CARGO_PKG_VERSION_PATCH=m.group(3),
            CARGO_PKG_VERSION_PRE=m.group(4) or "",
        )
    if toolchain is not None:
        env["CARGO"] = str(toolchain.cargo)
    return env


# ---------------------------------------------------------------------------------------------
# Listing


def list_tests_detailed(
    binary: str | os.PathLike[str],
    arch: Arch,
    executor: executors.Executor,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = LIST_TIMEOUT,
) -> list[ListedTest]:
    """Every test with its ignore reason and source line, from one emulated run when libtest
    can list as JSON (seen with 1.85), else from two terse listings (all, then ignored only)."""
    run_env = proc.base_env(RUN_ENV) if env is None else {**env, **RUN_ENV}
    where = Path(binary).parent if cwd is None else cwd

    def run(args: list[str]) -> str:
        res = executors.run(
            binary, args, arch=arch, executor=executor, env=run_env, cwd=where, timeout=timeout
        )
        if not res.proc.ok:
            raise RustError(f"listing the tests of {binary} failed: {executors.RunFailed(res)}")
        return res.stdout

    # One emulated start gives names, ignore reasons and source lines; an older libtest that
    # cannot list as JSON errors out or prints plain text, and the terse listings follow.
    res = executors.run(
        binary,
        ["-Z", "unstable-options", "--format", "json", "--list"],
        arch=arch, executor=executor, env=run_env, cwd=where, timeout=timeout,
    )  # fmt: skip
    listed = parse_json_list(res.stdout) if res.proc.ok else None
    if listed is not None:
        return listed
    ignored = set(parse_terse_list(run(["--list", "--format", "terse", "--ignored"])))
    return [
        ListedTest(name, name in ignored) for name in parse_terse_list(run(["--list", "--format", "terse"]))
    ]


def parse_terse_list(text: str) -> list[str]:
    """Test names from `--list --format terse` (`name: test` lines; benchmarks left out)."""
    return [line[: -len(": test")] for line in text.splitlines() if line.endswith(": test")]


def parse_json_list(text: str) -> list[ListedTest] | None:
    """Tests from `--format json --list` "discovered" events; None when the output has none of
    libtest's discovery events (an older libtest that printed the plain list instead)."""
    tests: list[ListedTest] = []
    seen_suite = False
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("type") == "suite" and ev.get("event") == "discovery":
            seen_suite = True
        elif ev.get("type") == "test" and ev.get("event") == "discovered":
            tests.append(
                ListedTest(
                    name=str(ev["name"]),
                    ignored=bool(ev.get("ignore")),
                    ignore_reason=str(ev.get("ignore_message") or ""),
                    source_path=str(ev.get("source_path") or ""),
                    line=int(ev.get("start_line") or 0),
                )
            )
    return tests if seen_suite else None


# ---------------------------------------------------------------------------------------------
# Running


def test_args(selected: Sequence[str], all_tests: Sequence[str], serial: bool = False) -> list[str]:
    """Arguments for one run of a libtest binary over ``selected`` of its tests.

    Test threads as under ``cargo test``: libtest's default (``RUST_TEST_THREADS``, else one per
    CPU), so that tests sharing state behave as they do there. ``serial`` (one thread) is for
    finding which test took a process down when several were running (see batch.py), and makes
    uncaptured output (child processes, raw fd writes) belong to the one running test. Panics in
    threads a test spawns land in that test's output either way: libtest's capture is inherited
    by spawned threads. Ignored tests are not forced to run: they are reported skipped.
    """
    args = ["-Z", "unstable-options", "--format", "json", "--report-time", "--show-output"]
    if serial:
        args.append("--test-threads=1")
    if set(selected) != set(all_tests):
        args += ["--exact", *selected]  # several filters: a test runs when it matches any
    return args


def parse_libtest_json(stdout: bytes, stderr: bytes = b"") -> ParsedRun:
    """Fold libtest JSON events (`-Z unstable-options --format json`) into per-test outcomes.

    Text that is not a JSON event (printed past libtest's capture: raw writes to fd 1, child
    processes) joins the output of the one test running at the time, else ``ParsedRun.output``.
    ``stderr`` is not folded in: batch.py adds the process's stderr to crash reports itself.
    """
    run = ParsedRun()
    running: list[str] = []
    raw: dict[str, list[str]] = {}
    loose: list[str] = []

    def uncaptured(text: str) -> None:
        (raw.setdefault(running[0], []) if len(running) == 1 else loose).append(text)

    for line in stdout.decode("utf-8", "replace").splitlines(keepends=True):
        start = line.find(_JSON_START)
        if start > 0:  # uncaptured text without a newline, then an event
            uncaptured(line[:start])
            line = line[start:]
        ev = _event(line) if start >= 0 else None
        if ev is None:
            uncaptured(line)
            continue
        if ev.get("type") != "test" or not isinstance(ev.get("name"), str):
            continue  # suite and bench events
        name, event = ev["name"], ev.get("event")
        if event == "started":
            if name not in run.started:
                run.started.append(name)
            running.append(name)
            continue
        if event not in ("ok", "failed", "ignored"):
            continue  # "timeout" is libtest's "running for over 60 s" note, not a result
        if name in running:
            running.remove(name)
        run.outcomes[name] = _outcome(name, event, ev, "".join(raw.pop(name, [])))
    for name in run.unfinished():
        run.partial[name] = "".join(raw.get(name, []))
    run.output = "".join(loose)
    return run


def _event(line: str) -> dict[str, Any] | None:
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None


def _outcome(name: str, event: str, ev: Mapping[str, Any], uncaptured: str) -> TestOutcome:
    duration = float(ev.get("exec_time") or 0.0)
    if event == "ignored":
        reason = str(ev.get("message") or "") or "ignored (#[ignore])"
        return TestOutcome(name, "skipped", duration, uncaptured, reason)
    output = uncaptured + str(ev.get("stdout") or "")
    if event == "ok":
        return TestOutcome(name, "passed", duration, output)
    # "message": a should_panic mismatch; "reason": e.g. "time limit exceeded" (--ensure-time).
    extra = [str(ev[k]) for k in ("message", "reason") if ev.get(k)]
    if extra:
        output = (output.rstrip("\n") + "\n" if output.strip() else "") + "\n".join(extra) + "\n"
    summary = extra[0].splitlines()[0] if extra else _panic_summary(output)
    return TestOutcome(name, "failed", duration, output, summary)


def _panic_summary(output: str) -> str:
    """`thread 'x' panicked at src/lib.rs:3:5: message` for the first panic: the root cause
    when a spawned thread's panic made the test's own join().unwrap() panic later."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _PANIC_AT.match(line)
        if m:
            if m["where"].startswith("'"):  # before Rust 1.73: `panicked at 'msg', file:line:col`
                return line.strip()
            message = lines[i + 1].strip() if i + 1 < len(lines) else ""
            head = f"thread '{m['thread']}' panicked at {m['where']}"
            return f"{head}: {message}" if message else head
    return "failed"


def parser() -> Callable[[bytes, bytes], ParsedRun]:
    """The batch parser for libtest binaries run with ``test_args`` and ``RUN_ENV``."""
    return parse_libtest_json
