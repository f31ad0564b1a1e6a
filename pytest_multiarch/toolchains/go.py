"""Go: finding the toolchain, listing packages and tests per GOARCH, building test binaries,
and turning test2json events into per-test outcomes."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import arch as archmod
from .. import proc
from ..arch import Arch
from ..outcome import ParsedRun, TestOutcome

INSTALL_FIX = (
    "python -m pytest_multiarch setup (installs Go from the distribution, from backports on Debian 12), "
    "or install Go 1.21 or newer (https://go.dev/doc/install)"
)
LIST_TIMEOUT = 120.0
BUILD_TIMEOUT = 900.0  # a cold build compiles the standard library for the target: minutes at worst

# A test function as `go test` finds it: TestXxx where Xxx does not start with a lower-case letter.
# What `go test` runs, as `go test` finds it: TestXxx(*testing.T), FuzzXxx(*testing.F) (their seed
# corpus runs as a test), and ExampleXxx() with an output comment. Xxx must not start lower-case.
_TEST_FUNC = re.compile(
    r"^func\s+((?:Test|Fuzz|Example)(?:[^a-z(\s][\w]*)?)\s*\(\s*(?:\w+\s+\*testing\.[TF]\s*)?\)", re.M
)
_EXAMPLE_OUTPUT = re.compile(r"^\s*//\s*(?:Unordered output|Output):", re.M | re.I)


def _declared_tests(text: str) -> list[tuple[str, int]]:
    """(name, offset) of every function `go test` would run in one file's text."""
    found = []
    for m in _TEST_FUNC.finditer(text):
        name, signature = m.group(1), m.group(0)
        if name.startswith("Example"):
            if "testing." in signature:
                continue
            end = text.find("\n}", m.end())
            if not _EXAMPLE_OUTPUT.search(text, m.end(), end if end >= 0 else len(text)):
                continue  # an example without an output comment is compiled, not run
        elif ("*testing.F" in signature) != name.startswith("Fuzz") or "testing." not in signature:
            continue
        found.append((name, m.start()))
    return found


class GoError(Exception):
    """A go command failed; the message holds its output."""


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    dir: Path
    test_files: tuple[Path, ...]  # _test.go files this GOARCH compiles (build constraints applied)
    error: str | None = None
    where: Mapping[str, tuple[Path, int]] = field(default_factory=dict)  # test → (file, line)

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(self.where)


def find_go() -> str | None:
    """The go command: $MULTIARCH_GO if set (and then only it), else PATH, else /usr/local/go,
    else the newest of Debian's versioned Go packages (/usr/lib/go-1.N, which `setup` installs
    from backports and which are not on PATH)."""
    explicit = os.environ.get("MULTIARCH_GO")
    if explicit:  # when set, the only candidate: a wrong path must not silently fall back
        found = shutil.which(explicit)
        return found if found and os.access(found, os.X_OK) else None
    debian = sorted(Path("/usr/lib").glob("go-1.*/bin/go"), key=_go_dir_version, reverse=True)
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go", *map(str, debian)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.cache
def version(go: str) -> str:
    """What ``go version`` says of itself, e.g. ``go1.26.8 linux/amd64`` ("" if it says nothing)."""
    res = proc.run([go, "version"], env=proc.base_env(), cwd="/", timeout=60)
    return res.stdout.decode(errors="replace").strip().removeprefix("go version ")


def release(go: str) -> tuple[int, ...]:
    """(major, minor) of ``go``'s release; (0,) when it cannot tell."""
    m = re.match(r"go(\d+)\.(\d+)", version(go))
    return (int(m.group(1)), int(m.group(2))) if m else (0,)


def _go_dir_version(go: Path) -> tuple[int, ...]:
    m = re.search(r"go-(\d+)\.(\d+)", str(go))
    return (int(m.group(1)), int(m.group(2))) if m else (0,)


def not_found_reason() -> str:
    """Why find_go() found nothing, and the fix."""
    explicit = os.environ.get("MULTIARCH_GO")
    if explicit:
        return f"MULTIARCH_GO={explicit} is not an executable go. Fix: point it at a go, or unset it"
    return (
        "Go toolchain not found (no `go` on PATH, /usr/local/go/bin/go or /usr/lib/go-1.*/bin/go). "
        f"Fix: {INSTALL_FIX}"
    )


def build_env(arch: Arch, *, cgo: bool = False, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = proc.base_env()
    env.update(GOOS="linux", GOARCH=arch.goarch, CGO_ENABLED="1" if cgo else "0")
    env.pop("GOARM", None)
    if arch.goarm:
        env["GOARM"] = arch.goarm
    if cgo and arch != archmod.host():
        # The cross compiler, not a CC meant for the host; MULTIARCH_CC_<ARCH> overrides.
        env["CC"] = os.environ.get(f"MULTIARCH_CC_{arch.name.upper()}", f"{arch.gnu_triple}-gcc")
    if extra:
        env.update(extra)
    return env


def _decode_json_stream(text: str) -> list[dict[str, object]]:
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


def find_tests(files: Sequence[Path]) -> dict[str, tuple[Path, int]]:
    """Top-level tests declared in ``files``, in file order, with their file and 0-based line."""
    found: dict[str, tuple[Path, int]] = {}
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        for name, offset in _declared_tests(text):
            found.setdefault(name, (f, text.count("\n", 0, offset)))
    return found


def list_packages(
    go: str, module_dir: Path, arch: Arch, *, tags: Sequence[str] = (), cgo: bool = False
) -> list[GoPackage]:
    """Packages of the module at ``module_dir`` that have tests when built for ``arch``."""
    argv = [go, "list", "-e", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles,Error"]
    if tags:
        argv.append("-tags=" + ",".join(tags))
    argv.append("./...")
    res = proc.run(argv, env=build_env(arch, cgo=cgo), cwd=module_dir, timeout=LIST_TIMEOUT)
    if not res.ok:
        raise GoError(
            f"`go list ./...` in {module_dir} for GOARCH={arch.goarch} {res.describe_exit()}:\n"
            + res.stderr.decode(errors="replace")
        )
    packages = []
    for obj in _decode_json_stream(res.stdout.decode(errors="replace")):
        pkg_dir = Path(str(obj["Dir"]))
        names = [*_strings(obj.get("TestGoFiles")), *_strings(obj.get("XTestGoFiles"))]
        files = tuple(pkg_dir / n for n in names)
        err = obj.get("Error")
        err_text = str(err.get("Err")) if isinstance(err, dict) else None
        where = find_tests(files)
        if where or err_text:
            packages.append(GoPackage(str(obj["ImportPath"]), pkg_dir, files, err_text, where))
    return packages


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def build_test_binary(
    go: str, pkg: GoPackage, arch: Arch, out: Path, *, cgo: bool = False, tags: Sequence[str] = ()
) -> None:
    """`go test -c` for ``arch``; raises GoError with the compiler's message on failure."""
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [go, "test", "-c", "-o", str(out)]
    if tags:
        argv.append("-tags=" + ",".join(tags))
    argv.append(".")
    res = proc.run(argv, env=build_env(arch, cgo=cgo), cwd=pkg.dir, timeout=BUILD_TIMEOUT)
    if not res.ok:
        raise GoError(
            f"go test -c {pkg.import_path} for {arch.name} (GOARCH={arch.goarch}) {res.describe_exit()}:\n"
            + (res.stderr + res.stdout).decode(errors="replace")
        )


def test_args(selected: Sequence[str]) -> list[str]:
    """Arguments for one run of a Go test binary over ``selected`` of its tests.

    Always a -test.run filter, even for all of them: nothing runs that no item reports on.
    """
    run = "-test.run=^(" + "|".join(re.escape(t) for t in selected) + ")$"
    return ["-test.v=test2json", "-test.count=1", run]


def parse_test2json_events(lines: bytes) -> ParsedRun:
    """Fold `go tool test2json` events into one outcome per top-level test.

    Subtests (``TestX/sub``) fold into their parent: their lines join its output, and a failing
    subtest shows up in its parent's report as Go prints it.
    """
    run = ParsedRun()
    outputs: dict[str, list[str]] = {}
    package_output: list[str] = []
    for raw in lines.splitlines():
        try:
            ev = json.loads(raw)
        except ValueError:
            package_output.append(raw.decode(errors="replace") + "\n")
            continue
        test = ev.get("Test")
        action = ev.get("Action")
        if not test:
            if action == "output":
                package_output.append(ev.get("Output", ""))
            continue
        top = test.split("/", 1)[0]
        if action == "run" and top == test and top not in run.started:
            run.started.append(top)
        elif action == "output":
            outputs.setdefault(top, []).append(ev.get("Output", ""))
        elif action in ("pass", "fail", "skip") and test == top:
            text = "".join(outputs.get(top, []))
            status = {"pass": "passed", "fail": "failed", "skip": "skipped"}[action]
            run.outcomes[top] = TestOutcome(
                top, status,  # type: ignore[arg-type]
                duration=float(ev.get("Elapsed") or 0.0),
                output=text,
                message=_skip_reason(text) if status == "skipped" else "",
            )  # fmt: skip
    for name in run.unfinished():
        run.partial[name] = "".join(outputs.get(name, []))
    run.output = "".join(package_output)
    return run


def _skip_reason(text: str) -> str:
    """The message given to t.Skip: the lines after `--- SKIP`, or before it."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("=== ")]
    reason = [ln for ln in lines if not ln.startswith("--- SKIP")]
    # The item's location already names file and line: keep just t.Skip's words.
    return re.sub(r"^\S+_test\.go:\d+: ", "", reason[-1]) if reason else "skipped by the Go test"


def parser(go: str, import_path: str):  # type: ignore[no-untyped-def]
    """A batch parser: raw `-test.v=test2json` output → events (via `go tool test2json`) → run."""

    def parse(stdout: bytes, stderr: bytes) -> ParsedRun:
        res = proc.run(
            [go, "tool", "test2json", "-t", "-p", import_path],
            env=proc.base_env(), cwd="/", timeout=LIST_TIMEOUT, input=stdout,
        )  # fmt: skip
        return parse_test2json_events(res.stdout)  # batch.py adds stderr to crash reports itself

    return parse
