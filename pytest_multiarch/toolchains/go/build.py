"""Building Go programs for an architecture: the environment go builds with, the one go build
command line (test binaries of the collected packages, ``go_build``'s programs, the binfmt probe),
and all of a module's test binaries built by one ``go test -c -o DIR/ ./p1 ./p2 ...`` into the
content-addressed cache (keyed as the listing computed: see list.py).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch import env as envvars
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache, key
from pytest_multiarch.toolchains.go.discover import GoPackage
from pytest_multiarch.toolchains.go.find import GoError, release

BUILD_TIMEOUT = 900.0  # a cold build compiles the standard library for the target: minutes at worst
# The variables `go` reads that change what it builds (beyond GOOS/GOARCH, which are the arch).
BUILD_VARIABLES = (
    "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM", "GOARM64", "GO386", "GOMIPS", "GOMIPS64",
    "GOPPC64", "GORISCV64", "GOFIPS140", "GOROOT", "GOWORK", "GOTOOLCHAIN", "GOOS", "GOARCH",
    "CGO_ENABLED", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS", "CGO_FFLAGS",
    "CC", "CXX", "PKG_CONFIG", "GOPATH", "GOMODCACHE",
)  # fmt: skip
_SECTION = re.compile(r"^# (\S+)", re.M)  # `# example.com/m/p [example.com/m/p.test]`


def build_env(arch: Arch, *, cgo: bool = False, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment go builds for ``arch`` with (GOOS, GOARCH, GOARM, cgo and its cross
    compiler), plus ``extra``. A musl column is Go's static build: CGO_ENABLED=0 whatever
    ``cgo`` says (with cgo off, Go links its programs statically and calls no C library)."""
    cgo = cgo and arch.libc != "musl"
    env = proc.base_env()
    env.update(GOOS=arch.goos, GOARCH=arch.goarch, CGO_ENABLED="1" if cgo else "0")
    env.pop("GOARM", None)
    if arch.goarm:
        env["GOARM"] = arch.goarm
    if cgo and arch != archmod.host():
        # The cross compiler, not a CC meant for the host; MULTIARCH_CC_<ARCH> overrides.
        named = envvars.cc(arch.name)
        env["CC"] = named if named is not None else f"{arch.gnu_triple}-gcc"
    if extra:
        env.update(extra)
    return env


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


def build_argv(
    go: str,
    targets: Sequence[str],
    *,
    out: str,
    test: bool = False,
    tags: Sequence[str] = (),
    ldflags: str | None = None,
) -> list[str]:
    """The go command line that builds ``targets`` into ``out`` (a file, or a directory ending
    in a separator for several test binaries): ``go build``, or ``go test -c`` for ``test``."""
    argv = [go, "test", "-c"] if test else [go, "build"]
    argv += ["-o", out]
    if tags:
        argv.append("-tags=" + ",".join(tags))
    if ldflags is not None:
        argv.append("-ldflags=" + ldflags)
    return [*argv, *targets]


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


Ready = Callable[[str, "Path | GoError"], None]  # told (import path, binary or compiler error)
POLL_INTERVAL = 0.05  # how often the output directory is looked at while go builds


def build(
    req: Request, packages: Sequence[GoPackage], cache: BuildCache, on_ready: Ready | None = None
) -> dict[str, Path | GoError]:
    """Test binaries of ``packages`` for ``req.arch``: from the cache, else built together.

    One ``go test -c`` builds every missing binary (Go's own parallelism across packages); a
    package that fails to compile gets its compiler messages, the others their binaries.
    Processes building the same module and arch wait for each other, then reuse what was built.
    ``on_ready`` is told each package's result as soon as it is known: a cached binary at once,
    a built one as soon as go has finished it (while go still compiles the others), a compiler
    error when go ends.
    """
    tell: Ready = on_ready or (lambda _path, _result: None)
    results: dict[str, Path | GoError] = dict(cached_binaries(packages, cache))
    for import_path, found in results.items():
        tell(import_path, found)
    if len(results) == len(packages):
        return results
    with cache.lock(key("go-build", str(req.module_dir), req.arch.name)):
        # Built meanwhile by another process.
        late = cached_binaries([p for p in packages if p.import_path not in results], cache)
        for import_path, found in late.items():
            results[import_path] = found
            tell(import_path, found)
        missing = [p for p in packages if p.import_path not in results]
        # -o DIR/ for several packages needs Go 1.21; older ones build one package at a time.
        rounds = [[p] for p in missing] if missing and release(req.go) < (1, 21) else _rounds(missing)
        for group in rounds:
            results.update(_build_round(req, group, cache, tell))
    return results


class _Finished:
    """Takes each test binary out of go's output directory once go has put it there whole, into
    the cache, and says so. Go links a test binary in its work directory and renames it into
    ``-o`` (cmd/go's moveOrCopyFile), so with GOTMPDIR on the output's file system a binary is
    there complete or not at all. It copies instead into a directory with the setgid bit: then
    the binaries are taken only once go has ended."""

    def __init__(self, out: Path, group: Sequence[GoPackage], cache: BuildCache, tell: Ready) -> None:
        self.out = out
        self.pending = {binary_name(p): p for p in group}
        self.cache = cache
        self.tell = tell
        self.done: dict[str, Path | GoError] = {}
        self.streams = not os.stat(out).st_mode & stat.S_ISGID

    def poll(self) -> None:
        for name, p in list(self.pending.items()):
            produced = self.out / name
            if produced.is_file():
                del self.pending[name]
                self.done[p.import_path] = stored = self.cache.store_file(p.key, produced, name)
                self.tell(p.import_path, stored)

    def watch(self) -> str | None:  # a proc.Supervision watch: never a reason to stop go
        self.poll()
        return None


def _build_round(
    req: Request, group: Sequence[GoPackage], cache: BuildCache, tell: Ready
) -> dict[str, Path | GoError]:
    with tempfile.TemporaryDirectory(dir=cache.tmp_dir()) as work:
        out, gotmp = Path(work, "out"), Path(work, "gotmp")
        out.mkdir()
        gotmp.mkdir()
        # What `go test` itself links its test binaries with when it runs them (no symbol table,
        # no DWARF): linking is most of a warm build's time.
        ldflags = None if "-ldflags" in req.env().get("GOFLAGS", "") else "-s -w"
        argv = build_argv(
            req.go, [_relative(req.module_dir, p.dir) for p in group],
            out=str(out / binary_name(group[0])) if len(group) == 1 else str(out) + os.sep,
            test=True, tags=req.tags, ldflags=ldflags,
        )  # fmt: skip
        finished = _Finished(out, group, cache, tell)
        capture = proc.Capture(Path(work, "stdout"), Path(work, "stderr"))
        watch = finished.watch if finished.streams else None
        supervision = proc.Supervision(capture, watch=watch, interval=POLL_INTERVAL)
        timeout = BUILD_TIMEOUT + 30.0 * len(group)
        # GOTMPDIR: go's work directory, where it links, on the file system of the output.
        env = {**req.env(), "GOTMPDIR": str(gotmp)}
        res = proc.run(argv, env=env, cwd=req.module_dir, timeout=timeout, supervision=supervision)
        finished.poll()
        text = (capture.stderr.read_bytes() + capture.stdout.read_bytes()).decode(errors="replace")
        results = dict(finished.done)
        for p in finished.pending.values():
            shown = _sections_for(p, text) or text
            results[p.import_path] = error = GoError(
                f"go test -c {p.import_path} for {req.arch.name} (GOARCH={req.arch.goarch}) "
                f"{res.describe_exit() if not res.ok else 'wrote no test binary'}:\n{shown}"
            )
            tell(p.import_path, error)
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
