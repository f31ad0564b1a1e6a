"""A Go module per architecture: its packages and tests (listed once, cached), and all its test
binaries built by one ``go test -c -o DIR/ ./p1 ./p2 ...`` into the content-addressed cache.

Keys, from cheap to exact:
- the *listing* of a module for an arch is reused while nothing in the module tree changed
  (file names, sizes, mtimes), nor go.mod/go.work, the toolchain, the flags or the environment
  that matters: a re-run with nothing changed starts no ``go`` process at all;
- each package's *test binary* is keyed by the contents of the files it is built from: its own
  and its test files, embedded files, and those of every package of the module it imports,
  plus go.mod/go.sum and the same toolchain/flags/env. An edit rebuilds only what it affects.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache, key
from pytest_multiarch.toolchains.go.discover import Found, ListerError, PackageFiles, list_tests
from pytest_multiarch.toolchains.go.tool import (
    BUILD_TIMEOUT,
    LIST_TIMEOUT,
    GoError,
    GoPackage,
    build_env,
    decode_json_stream,
    release,
)

SCHEMA = 3  # bump when what a listing record holds changes
# The variables `go` reads that change what it builds (beyond GOOS/GOARCH, which are the arch).
BUILD_VARIABLES = (
    "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM", "GOARM64", "GO386", "GOMIPS", "GOMIPS64",
    "GOPPC64", "GORISCV64", "GOFIPS140", "GOROOT", "GOWORK", "GOTOOLCHAIN", "GOOS", "GOARCH",
    "CGO_ENABLED", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS", "CGO_FFLAGS",
    "CC", "CXX", "PKG_CONFIG", "GOPATH", "GOMODCACHE",
)  # fmt: skip
_SOURCE_FIELDS = ("GoFiles", "CgoFiles", "CFiles", "CXXFiles", "MFiles", "HFiles", "FFiles", "SFiles",
                  "SwigFiles", "SwigCXXFiles", "SysoFiles", "EmbedFiles")  # fmt: skip
_TEST_FIELDS = ("TestGoFiles", "XTestGoFiles", "TestEmbedFiles", "XTestEmbedFiles")
_LIST_FIELDS = ("ImportPath", "Dir", "Error", "Deps", "TestImports", "XTestImports", "IgnoredGoFiles",
                *_SOURCE_FIELDS, *_TEST_FIELDS)  # fmt: skip
_LOCAL_PATH = re.compile(r"=>\s*(\.{1,2}/\S*|/\S*)")  # a replace directive's local directory
_SECTION = re.compile(r"^# (\S+)", re.M)  # `# example.com/m/p [example.com/m/p.test]`


@dataclass(frozen=True)
class Request:
    """What is built: a module, for an arch, with the go command, tags and cgo setting."""

    go: str
    module_dir: Path
    arch: Arch
    tags: tuple[str, ...] = ()
    cgo: bool = False
    extra_env: tuple[tuple[str, str], ...] = ()  # from pytest_multiarch_build_env hooks

    def env(self) -> dict[str, str]:
        return {**build_env(self.arch, cgo=self.cgo), **dict(self.extra_env)}

    def identity(self) -> list[object]:
        """What besides the sources decides a build: toolchain, arch, flags, environment."""
        go = os.path.realpath(self.go)
        env = self.env()
        return [go, fingerprint.file_stamp(go), self.arch.name, list(self.tags), self.cgo,
                sorted((k, env[k]) for k in BUILD_VARIABLES if k in env), sorted(self.extra_env)]  # fmt: skip


def _go_work(module_dir: Path) -> Path | None:
    if os.environ.get("GOWORK"):
        return None if os.environ["GOWORK"] == "off" else Path(os.environ["GOWORK"])
    for d in (module_dir, *module_dir.parents):
        if (d / "go.work").is_file():
            return d / "go.work"
    return None


def _local_dirs(module_dir: Path) -> list[Path]:
    """Directories outside the module that its builds read: local replaces, go.work's uses."""
    found = []
    work = _go_work(module_dir)
    for file in (module_dir / "go.mod", work):
        if file is None or not file.is_file():
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        paths = _LOCAL_PATH.findall(text)
        if file.name == "go.work":
            paths += re.findall(r"^\s*(?:use\s+)?(\.{1,2}(?:/\S*)?)\s*$", text, re.M)
        for p in paths:
            d = (file.parent / p).resolve()
            if d.is_dir() and d != module_dir.resolve() and d not in found:
                found.append(d)
    return found


def module_stamp(module_dir: Path, cache: BuildCache) -> str:
    """The metadata of every file a listing of the module reads, whatever the arch: its tree,
    local replace / go.work directories, go.work (computed once per module, not per arch)."""
    stamps = [fingerprint.tree_stamp(module_dir, nested_marker="go.mod", skip=[cache.root])]
    stamps += [fingerprint.tree_stamp(d, skip=[cache.root]) for d in _local_dirs(module_dir)]
    work = _go_work(module_dir)
    stamps.append(fingerprint.file_stamp(work) if work else "-")
    return key(stamps)


def listing_key(req: Request, stamp: str) -> str:
    """Changes when anything that could change the package list or a test binary changed."""
    return key("go-list", SCHEMA, str(req.module_dir), stamp, req.identity())


def _module_files(req: Request) -> list[Path]:
    """Module-wide inputs of every binary: go.mod/go.sum, go.work, vendored and replaced code."""
    files = [req.module_dir / n for n in ("go.mod", "go.sum", "vendor/modules.txt")]
    work = _go_work(req.module_dir)
    if work:
        files += [work, work.with_name("go.work.sum")]
    for d in [*_local_dirs(req.module_dir), req.module_dir / "vendor"]:
        for dirpath, dirnames, names in os.walk(d):
            dirnames[:] = [n for n in dirnames if not n.startswith((".", "_"))]
            files += [Path(dirpath, n) for n in names if not n.startswith(".")]
    return files


def _strings(obj: Mapping[str, Any], name: str) -> list[str]:
    value = obj.get(name)
    return [str(v) for v in value] if isinstance(value, list) else []


def list_packages(req: Request, cache: BuildCache, stamp: str) -> list[GoPackage]:
    """The module's packages that have tests for ``req.arch``; from the cache when unchanged.
    ``stamp`` is the module's :func:`module_stamp`."""
    lk = listing_key(req, stamp)
    record = cache.read_record(lk)
    if isinstance(record, list):
        return [_from_record(r) for r in record]
    with cache.lock(lk):  # xdist workers collect the same module at once: one lists it
        record = cache.read_record(lk)
        if isinstance(record, list):
            return [_from_record(r) for r in record]
        packages = _list_with_go(req, cache)
        cache.write_record(lk, [_to_record(p) for p in packages])
    return packages


def _list_with_go(req: Request, cache: BuildCache) -> list[GoPackage]:
    argv = [req.go, "list", "-e", "-json=" + ",".join(_LIST_FIELDS)]
    if req.tags:
        argv.append("-tags=" + ",".join(req.tags))
    argv.append("./...")
    res = proc.run(argv, env=req.env(), cwd=req.module_dir, timeout=LIST_TIMEOUT)
    if not res.ok:
        stderr = res.stderr.decode(errors="replace").rstrip("\n")
        raise GoError(
            f"`go list ./...` in {req.module_dir} for GOARCH={req.arch.goarch} {res.describe_exit()}:\n"
            f"{stderr}\nFix: {listing_fix(req.module_dir, stderr)}"
        )
    objs = decode_json_stream(res.stdout.decode(errors="replace"))
    by_path = {str(o["ImportPath"]): o for o in objs}
    # What each package's test binary runs, from the files go listed for this GOARCH, parsed as
    # cmd/go parses them: one lister process for the whole module.
    files = [_package_files(o) for o in objs]
    with_tests = [f for f in files if f.test_go_files or f.xtest_go_files or f.ignored_test_files]
    try:
        listed = dict(zip((f.dir for f in with_tests), list_tests(req.go, cache, with_tests), strict=True))
    except ListerError as exc:
        raise GoError(str(exc)) from None
    module_digest = fingerprint.files_digest(_module_files(req))
    identity = req.identity()
    packages = []
    for obj, pkg_files in zip(objs, files, strict=True):
        pkg_dir = pkg_files.dir
        test_files = tuple(pkg_dir / n for n in (*pkg_files.test_go_files, *pkg_files.xtest_go_files))
        err = obj.get("Error")
        err_text = str(err.get("Err")) if isinstance(err, dict) else None
        found: tuple[Found, ...] = ()
        elsewhere: tuple[str, ...] = ()
        if pkg_dir in listed:
            answer = listed[pkg_dir]
            found = answer.tests
            names = {t.name for t in found}
            elsewhere = tuple(dict.fromkeys(t.name for t in answer.elsewhere if t.name not in names))
            if answer.error:  # go test cannot build this binary: it runs none of them
                err_text, found = err_text or answer.error, ()
        if not found and not err_text and not elsewhere:
            continue
        deps = _local_deps(obj, by_path)
        inputs = [pkg_dir / n for f in _TEST_FIELDS for n in _strings(obj, f)]
        for dep in deps:
            dep_dir = Path(str(by_path[dep]["Dir"]))
            inputs += [dep_dir / n for f in _SOURCE_FIELDS for n in _strings(by_path[dep], f)]
        binary_key = key("go-test-binary", SCHEMA, str(obj["ImportPath"]), str(pkg_dir), identity,
                         module_digest, fingerprint.files_digest(inputs))  # fmt: skip
        packages.append(GoPackage(str(obj["ImportPath"]), pkg_dir, test_files, err_text, found,
                                  key=binary_key, deps=tuple(sorted(deps)), elsewhere=elsewhere))  # fmt: skip
    return packages


def _package_files(obj: Mapping[str, Any]) -> PackageFiles:
    ignored = [n for n in _strings(obj, "IgnoredGoFiles") if n.endswith("_test.go")]
    return PackageFiles(Path(str(obj["Dir"])), _strings(obj, "TestGoFiles"), _strings(obj, "XTestGoFiles"),
                        ignored)  # fmt: skip


def listing_fix(module_dir: Path, stderr: str) -> str:
    """What to do about a failed ``go list ./...``, from what go said."""
    m = re.search(r"errors parsing (go\.mod|go\.work)", stderr)
    if m:
        return (
            f"correct {m.group(1)} at the line go names above; `go mod edit -json` in {module_dir} "
            "shows whether go.mod parses"
        )
    if "requires go >=" in stderr:
        return (
            "use a Go at least as new as the module asks for (MULTIARCH_GO, or PATH), or lower the "
            "`go` line of go.mod"
        )
    return f"run `go list ./...` in {module_dir}: it shows the same error"


def _local_deps(obj: Mapping[str, Any], by_path: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Packages of this listing that a package's test binary is built from (itself included)."""
    deps = {str(obj["ImportPath"]), *_strings(obj, "Deps")}
    for imported in (*_strings(obj, "TestImports"), *_strings(obj, "XTestImports")):
        deps.add(imported)
        if imported in by_path:
            deps.update(_strings(by_path[imported], "Deps"))
    return {d for d in deps if d in by_path}


def _to_record(p: GoPackage) -> dict[str, Any]:
    return {"import_path": p.import_path, "dir": str(p.dir), "test_files": [str(f) for f in p.test_files],
            "error": p.error, "found": [[t.name, t.go_name, str(t.file), t.line, t.kind] for t in p.found],
            "key": p.key, "deps": list(p.deps), "elsewhere": list(p.elsewhere)}  # fmt: skip


def _from_record(r: Mapping[str, Any]) -> GoPackage:
    found = tuple(Found(name, go_name, Path(f), line, kind) for name, go_name, f, line, kind in r["found"])
    files = tuple(Path(f) for f in r["test_files"])
    deps, elsewhere = tuple(r["deps"]), tuple(r["elsewhere"])
    return GoPackage(r["import_path"], Path(r["dir"]), files, r["error"], found, key=r["key"], deps=deps,
                     elsewhere=elsewhere)  # fmt: skip


# --- building --------------------------------------------------------------------------------
def exec_name(import_path: str) -> str:
    """The file name `go test -c -o DIR/` gives a package's test binary (its last path element,
    or the one before a major-version suffix such as /v2)."""
    parts = import_path.split("/")
    last = parts[-1]
    if len(parts) > 1 and re.fullmatch(r"v(?:[2-9]|[1-9]\d+)", last):
        last = parts[-2]
    return f"{last}.test"


def _rounds(packages: Sequence[GoPackage]) -> list[list[GoPackage]]:
    """Split packages into go invocations whose test binaries have different file names."""
    rounds: list[list[GoPackage]] = []
    for p in packages:
        for r in rounds:
            if all(exec_name(q.import_path) != exec_name(p.import_path) for q in r):
                r.append(p)
                break
        else:
            rounds.append([p])
    return rounds


def binary_name(pkg: GoPackage) -> str:
    return exec_name(pkg.import_path)


def cached_binaries(packages: Sequence[GoPackage], cache: BuildCache) -> dict[str, Path]:
    found = {}
    for p in packages:
        entry = cache.entry(p.key)
        if entry is not None:
            found[p.import_path] = entry / binary_name(p)
    return found


def build(req: Request, packages: Sequence[GoPackage], cache: BuildCache) -> dict[str, Path | GoError]:
    """Test binaries of ``packages`` for ``req.arch``: from the cache, else built together.

    One ``go test -c`` builds every missing binary (Go's own parallelism across packages); a
    package that fails to compile gets its compiler messages, the others their binaries.
    Processes building the same module and arch wait for each other, then reuse what was built.
    """
    results: dict[str, Path | GoError] = dict(cached_binaries(packages, cache))
    if len(results) == len(packages):
        return results
    with cache.lock(key("go-build", str(req.module_dir), req.arch.name)):
        results.update(cached_binaries(packages, cache))  # built meanwhile by another process
        missing = [p for p in packages if p.import_path not in results]
        # -o DIR/ for several packages needs Go 1.21; older ones build one package at a time.
        rounds = [[p] for p in missing] if missing and release(req.go) < (1, 21) else _rounds(missing)
        for group in rounds:
            results.update(_build_round(req, group, cache))
    return results


def _build_round(req: Request, group: Sequence[GoPackage], cache: BuildCache) -> dict[str, Path | GoError]:
    with tempfile.TemporaryDirectory(dir=cache.tmp_dir()) as out:
        argv = [req.go, "test", "-c", "-o", out + os.sep]
        if len(group) == 1:
            argv[-1] = os.path.join(out, binary_name(group[0]))
        if req.tags:
            argv.append("-tags=" + ",".join(req.tags))
        if "-ldflags" not in req.env().get("GOFLAGS", ""):
            # What `go test` itself links its test binaries with when it runs them (no symbol
            # table, no DWARF): linking is most of a warm build's time.
            argv.append("-ldflags=-s -w")
        argv += [_relative(req.module_dir, p.dir) for p in group]
        timeout = BUILD_TIMEOUT + 30.0 * len(group)
        res = proc.run(argv, env=req.env(), cwd=req.module_dir, timeout=timeout)
        text = (res.stderr + res.stdout).decode(errors="replace")
        results: dict[str, Path | GoError] = {}
        for p in group:
            produced = Path(out, binary_name(p))
            if produced.is_file():
                results[p.import_path] = cache.store_file(p.key, produced, binary_name(p))
                continue
            shown = _sections_for(p, text) or text
            results[p.import_path] = GoError(
                f"go test -c {p.import_path} for {req.arch.name} (GOARCH={req.arch.goarch}) "
                f"{res.describe_exit() if not res.ok else 'wrote no test binary'}:\n{shown}"
            )
        return results


def _relative(module_dir: Path, pkg_dir: Path) -> str:
    rel = pkg_dir.relative_to(module_dir).as_posix() if pkg_dir.is_relative_to(module_dir) else None
    if rel is None:
        return str(pkg_dir)
    return "." if rel == "." else "./" + rel


def _sections_for(pkg: GoPackage, text: str) -> str:
    """The parts of go's output about ``pkg`` or a package of the module it is built from."""
    own = {pkg.import_path, pkg.import_path + "_test", *pkg.deps}
    starts = [(m.start(), m.group(1)) for m in _SECTION.finditer(text)]
    parts = []
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        if name in own:
            parts.append(text[start:end])
    return "".join(parts)
