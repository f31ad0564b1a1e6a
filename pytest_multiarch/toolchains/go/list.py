"""A Go module per architecture: its packages and their tests, listed once and cached, each
with the content key its test binary is built under (see build.py).

Keys, from cheap to exact:
- the *listing* of a module for an arch is reused while nothing in the module tree changed
  (file names, sizes, mtimes), nor go.mod/go.work, the toolchain, the flags or the environment
  that matters: a re-run with nothing changed starts no ``go`` process at all;
- each package's *test binary* is keyed by the contents of the files it is built from: its own
  and its test files, embedded files, and those of every package of the module it imports,
  plus go.mod/go.sum and the same toolchain/flags/env. An edit rebuilds only what it affects.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_multiarch import proc
from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache, key
from pytest_multiarch.toolchains.go.build import Request
from pytest_multiarch.toolchains.go.discover import Found, GoPackage, ListerError, PackageFiles, list_tests
from pytest_multiarch.toolchains.go.find import GoError

LIST_TIMEOUT = 120.0
SCHEMA = 3  # bump when what a listing record holds changes
_SOURCE_FIELDS = ("GoFiles", "CgoFiles", "CFiles", "CXXFiles", "MFiles", "HFiles", "FFiles", "SFiles",
                  "SwigFiles", "SwigCXXFiles", "SysoFiles", "EmbedFiles")  # fmt: skip
_TEST_FIELDS = ("TestGoFiles", "XTestGoFiles", "TestEmbedFiles", "XTestEmbedFiles")
_LIST_FIELDS = ("ImportPath", "Dir", "Error", "Deps", "TestImports", "XTestImports", "IgnoredGoFiles",
                *_SOURCE_FIELDS, *_TEST_FIELDS)  # fmt: skip
_LOCAL_PATH = re.compile(r"=>\s*(\.{1,2}/\S*|/\S*)")  # a replace directive's local directory


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


def decode_json_stream(text: str) -> list[dict[str, object]]:
    """`go list -json` prints concatenated JSON objects, not a list."""
    decoder = json.JSONDecoder()
    objs: list[dict[str, object]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return objs
        obj, pos = decoder.raw_decode(text, pos)
        objs.append(obj)
