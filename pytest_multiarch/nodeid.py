"""Node ids of (test, architecture) cells: the test's own id without its architecture, and the
architecture a node id names."""

from __future__ import annotations


def base_id(nodeid: str, arch: str) -> str:
    """``pkg::TestX[arm64]`` → ``pkg::TestX``; ``t.py::f[arm64-1]`` → ``t.py::f[1]``."""
    # Only the parameters, from the first "[" after the path: a directory may hold "-arm64-" too.
    start = nodeid.find("[", max(nodeid.find("::"), 0))
    if start < 0:
        return nodeid
    head, params = nodeid[:start], nodeid[start:]
    for old, new in ((f"[{arch}]", ""), (f"[{arch}-", "["), (f"-{arch}]", "]"), (f"-{arch}-", "-")):
        if old in params:
            return head + params.replace(old, new, 1)
    return nodeid


def arch_in_nodeid(nodeid: str, arches: list[str]) -> str | None:
    """The selected architecture a node id's parameters name (``f[1-arm64]`` → arm64), or None.
    For the xdist controller, which sees workers' node ids but not their items."""
    start = nodeid.find("[", max(nodeid.find("::"), 0))
    if start < 0 or not nodeid.endswith("]"):
        return None
    # Whole "-"-separated runs of the parameters, longest name first: "f[1-amd64-musl]" is
    # amd64-musl, not amd64.
    params = f"-{nodeid[start + 1 : -1]}-"
    return next((a for a in sorted(arches, key=len, reverse=True) if f"-{a}-" in params), None)


def language_of(base: str) -> str | None:
    """The language of a collected Go or Rust test ("go", "rust") by its node id's manifest; None
    for others (a Python test)."""
    if "/Cargo.toml::" in f"/{base}":
        return "rust"
    if "/go.mod::" in f"/{base}":
        return "go"
    return None
