"""What collecting a crate for one architecture found (toolchain, test binaries, their tests),
remembered across runs so that a re-run with nothing changed starts no cargo, rustc or emulator.

Cargo has its own fingerprints, but asking it costs a cargo and two rustc processes per crate, and
listing the tests costs one emulated run per test binary. The record is reused only while
nothing cargo would look at may have changed, judged from file metadata (no file is read):

- the crate's tree, and the trees of its path dependencies (recursively);
- in every ancestor directory: Cargo.toml, Cargo.lock, rust-toolchain(.toml), .cargo/config(.toml);
- every candidate cargo (PATH, $CARGO, setup's prefixes) and what rustup would pick: its
  settings and each toolchain's rustc and installed targets;
- the environment cargo, rustc and build scripts read (CARGO*, RUST*, CC*, PATH, ...);
- and each recorded test binary is still the file cargo wrote.

A build script that reads something else (a system library found with pkg-config) is not seen:
``--arch-cache-clear`` rebuilds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_multiarch.arch import Arch
from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache, key
from pytest_multiarch.toolchains import rust as rusttool
from pytest_multiarch.toolchains.rust import lld_link

SCHEMA = 1
_ANCESTOR_FILES = ("Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml", ".cargo/config",
                   ".cargo/config.toml")  # fmt: skip
_ENV_PREFIXES = ("CARGO", "RUST", "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "AR", "TARGET_", "HOST_",
                 "PKG_CONFIG", "MULTIARCH_", "QEMU_", "PATH", "HOME")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Built:
    """One test binary of the crate for an arch, its tests, and the toolchain that built it."""

    binary: rusttool.TestBinary
    tests: tuple[rusttool.ListedTest, ...]
    toolchain: rusttool.RustToolchain


def _path_deps(manifest: Path) -> list[Path]:
    """Directories of the crate's path dependencies, recursively (workspace siblings included)."""
    found: list[Path] = []
    todo = [manifest]
    while todo:
        current = todo.pop()
        try:
            data = tomllib.loads(current.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for table in _dependency_tables(data):
            for spec in table.values():
                if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                    d = (current.parent / spec["path"]).resolve()
                    if d not in found and (d / "Cargo.toml").is_file():
                        found.append(d)
                        todo.append(d / "Cargo.toml")
    return found


def _dependency_tables(data: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    names = ("dependencies", "dev-dependencies", "build-dependencies")
    for holder in (data, data.get("workspace", {}), *data.get("target", {}).values()):
        if isinstance(holder, dict):
            for n in names:
                if isinstance(holder.get(n), dict):
                    yield holder[n]


def _rustup_state(env: Mapping[str, str]) -> list[str]:
    home = Path(env.get("RUSTUP_HOME") or Path(env.get("HOME", "/root"), ".rustup"))
    state = [fingerprint.file_stamp(home / "settings.toml")]
    toolchains = home / "toolchains"
    if toolchains.is_dir():
        for tc in sorted(toolchains.iterdir()):
            rustc, targets = tc / "bin" / "rustc", tc / "lib" / "rustlib"
            state += [tc.name, fingerprint.file_stamp(rustc), _dir_stamp(targets)]
    return state


def _dir_stamp(path: Path) -> str:
    """A directory's mtime: changes when an entry (an installed target) is added or removed."""
    try:
        return str(os.stat(path).st_mtime_ns)
    except FileNotFoundError:
        return "-"


def collection_keys(
    manifest: Path,
    arches: Sequence[Arch],
    *,
    explicit_cargo: str | None,
    target_dir: Path,
    cache: BuildCache,
    ignore_lockfile: bool = False,
    extra_env: Mapping[Arch, Mapping[str, str]] | None = None,
) -> dict[Arch, str]:
    """The record key of each arch's collection of the crate (see the module's docstring).

    With ``ignore_lockfile``, a key that does not see Cargo.lock: cargo writes it during the
    first build, and comparing these keys before and after a build tells whether anything else
    changed meanwhile.
    """
    env = os.environ
    crate_dir = manifest.parent
    skip = [cache.root, target_dir]
    ignore = ["Cargo.lock"] if ignore_lockfile else []
    stamps = [fingerprint.tree_stamp(d, skip=skip, ignore=ignore) for d in (crate_dir, *_path_deps(manifest))]
    names = [n for n in _ANCESTOR_FILES if n not in ignore]
    for d in crate_dir.resolve().parents:
        stamps += [fingerprint.file_stamp(d / n) for n in names]
    candidates = rusttool.cargo_candidates(explicit_cargo)
    tools = []
    for c in candidates:
        real = os.path.realpath(c.cargo)
        prefix = Path(real).parent.parent
        tools += [c.cargo, real, fingerprint.file_stamp(real), _dir_stamp(prefix / "lib" / "rustlib")]
        tools.append(fingerprint.file_stamp(prefix / ".debian-version"))
        tools.append(_dir_stamp(prefix / "usr" / "lib" / "rustlib"))  # a prefix's std and source
    tools += _rustup_state(env)
    relevant = sorted((k, v) for k, v in env.items() if k.startswith(_ENV_PREFIXES))
    base = key("rust-collect", SCHEMA, str(manifest), str(target_dir), stamps, tools, relevant)
    extra_env = extra_env or {}
    # The target chosen for each arch (with Debian's Rust: setup's), where its std comes from.
    targets = {a: str(rusttool.rust_target(a)) + _link_identity(a) for a in arches}
    return {a: key(base, a.name, targets[a], sorted(extra_env.get(a, {}).items())) for a in arches}


def _link_identity(a: Arch) -> str:
    """The clang+lld route's tools and sysroot packages, for an arch linked that way."""
    if lld_link.route(a) is None:
        return ""
    link = lld_link.cargo_link_env(a)
    return link.identity if isinstance(link, lld_link.LinkEnv) else "missing"


def load(cache: BuildCache, k: str) -> list[Built] | None:
    """The recorded builds, if recorded and every binary is still the file that was listed."""
    record = cache.read_record(k)
    if not isinstance(record, list):
        return None
    try:
        builds = [_from_record(r) for r in record]
        stamps = [r["stamp"] for r in record]
    except (KeyError, TypeError, ValueError):
        return None
    for b, stamp in zip(builds, stamps, strict=True):
        if fingerprint.file_stamp(b.binary.executable) != stamp:
            return None
    return builds


def save(cache: BuildCache, k: str, builds: Sequence[Built]) -> None:
    records = []
    for b in builds:
        r = _to_record(b)
        r["stamp"] = fingerprint.file_stamp(b.binary.executable)
        records.append(r)
    cache.write_record(k, records)


def _plain(obj: Any) -> dict[str, Any]:
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


def _to_record(b: Built) -> dict[str, Any]:
    tests = [_plain(t) for t in b.tests]
    return {"binary": _plain(b.binary), "tests": tests, "toolchain": _plain(b.toolchain)}


_PATH_FIELDS = re.compile(r"^(executable|src_path|manifest_path|cargo|rustc|sysroot)$")


def _typed(cls: type[Any], data: Mapping[str, Any]) -> Any:
    kwargs = {k: (Path(v) if _PATH_FIELDS.match(k) else v) for k, v in data.items()}
    return cls(**kwargs)


def _from_record(r: Mapping[str, Any]) -> Built:
    return Built(
        _typed(rusttool.TestBinary, r["binary"]),
        tuple(_typed(rusttool.ListedTest, t) for t in r["tests"]),
        _typed(rusttool.RustToolchain, r["toolchain"]),
    )


def recall_path(cache: BuildCache, k: str) -> Path | None:
    """A binary recorded under ``k`` by :func:`remember_path`, if it is still that file."""
    record = cache.read_record(k)
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        return None
    path = Path(record["path"])
    return path if fingerprint.file_stamp(path) == record.get("stamp") else None


def remember_path(cache: BuildCache, k: str, path: Path) -> None:
    cache.write_record(k, {"path": str(path), "stamp": fingerprint.file_stamp(path)})
