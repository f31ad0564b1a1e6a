"""The package's shape, read from its imports: layers that only import downwards, no cycles, no
imports hidden inside functions, and modules small enough to read."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_multiarch"
NAME = "pytest_multiarch"

# Bottom first. A module may import its own layer and the layers below it, never one above.
# Each entry is a module or a package (every module under it).
LAYERS: list[tuple[str, ...]] = [
    ("errors", "env", "arch", "nodeid", "proc", "outfile", "watchdog", "outcome", "wasmrun"),
    ("elf", "cache"),
    # Go's toolchain reads packages statically; Rust's lists a test binary's tests by running it.
    ("toolchains", "toolchains.go"),
    ("executors",),
    ("toolchains.rust",),
    ("run",),
    ("options", "settings", "state"),
    ("collect", "markers", "xfail", "fixtures"),
    ("report",),
    ("interrupt", "hookspecs", "session"),
    ("provision",),
    ("plugin", "cli", "__init__", "__main__"),
]
# Imported inside a function on purpose: slow third-party imports most runs never need.
LATE_THIRD_PARTY = {
    "docker",
    "xdist.scheduler",
    "elftools.common.exceptions",
    "elftools.elf.elffile",
    "elftools.elf.segments",
    "elftools.elf.enums",
    "wasmtime",  # wasmrun: only in the child process that runs a module
    "wasmtime._bindings",
}
MAX_LINES = 450


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 1 else rel.parts
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def imported(node: ast.Import | ast.ImportFrom, known: set[str]) -> Iterator[str]:
    """The package's modules an import statement names (relative to the package)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level or node.module is None:
        raise AssertionError(f"relative import at line {node.lineno}: use absolute imports")
    else:
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    for full in names:
        if full.startswith(NAME + "."):
            rel = full[len(NAME) + 1 :]
            if rel in known:
                yield rel


def top_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def late_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
            yield node


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {
        m: {i for node in top_level_imports(t) for i in imported(node, known)} - {m} for m, t in mods.items()
    }


def layer_of(module: str) -> int:
    """The layer of the longest entry that is the module or a package holding it."""
    matches = [
        (len(entry), index)
        for index, entries in enumerate(LAYERS)
        for entry in entries
        if module == entry or module.startswith(entry + ".")
    ]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return max(matches)[1]


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_imports_only_go_down() -> None:
    climbs = [
        f"{m} (layer {layer_of(m)}) imports {i} (layer {layer_of(i)})"
        for m, deps in graph().items()
        for i in sorted(deps)
        if layer_of(i) > layer_of(m)
    ]
    assert climbs == []


def test_no_import_cycles() -> None:
    g = graph()
    # Tarjan's strongly connected components: a component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    # A package's __init__ that re-exports its own submodules is not a cycle to break.
    real = [c for c in cycles if not all(m.split(".")[0] == c[0].split(".")[0] for m in c)]
    assert real == []


def test_no_late_imports() -> None:
    found = []
    for module, tree in modules().items():
        for node in late_imports(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.startswith(NAME) or name not in LATE_THIRD_PARTY:
                    found.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    assert found == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p) or "init")
def test_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: split it by job"


def test_layers_tests_itself() -> None:
    """The checks above can fail: a made-up upward import is seen as a climb."""
    assert layer_of("proc") < layer_of("plugin")
    assert layer_of("toolchains.go.build") < layer_of("executors.qemu") < layer_of("toolchains.rust.libtest")
    with pytest.raises(AssertionError):
        layer_of("no_such_module")
