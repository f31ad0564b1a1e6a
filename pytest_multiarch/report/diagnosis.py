"""What the matrix says beyond its cells, for every view of it (terminal, Markdown, HTML): each
cell's symbol, the rows worth a look, and the diagnosis of what the failing architectures share.
Pure functions of a ``Matrix``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pytest_multiarch import arch as archmod
from pytest_multiarch.nodeid import language_of
from pytest_multiarch.report.matrix import Matrix

SYMBOLS = {"passed": ".", "failed": "F", "error": "E", "skipped": "s", "infra_error": "!", "xfailed": "x"}
FLAKY, MISSING, NOT_RUN = "R", "?", "-"
XPASS_STRICT = "[XPASS(strict)]"  # how pytest's message starts for a strict xfail that passed


def symbol(m: Matrix, base: str, arch: str) -> str:
    r = m.results.get((base, arch))
    if r is None and (base, arch) in m.not_run:
        return MISSING  # selected, never ran (interrupted): not a deliberate "-"
    if r is None:
        return NOT_RUN if (base, arch) in m.deliberate or m.left_out(base, arch) else MISSING
    return FLAKY if r.flaky and r.outcome == "passed" else SYMBOLS[r.outcome]


def interesting(m: Matrix) -> list[str]:
    """The rows worth a look: outcome differs, flaky, an infra error or a missing cell."""
    differing = m.differing()
    odd = {r.base for r in m.results.values() if r.flaky or r.outcome in ("infra_error", "xfailed")}
    odd |= {b for b, _ in m.missing()}
    return [b for b in m.bases() if b in differing or b in odd]


def diagnosis_lines(m: Matrix) -> list[str]:
    """What differs and why: per test where it fails and what those arches share; then flaky
    tests and emulator/infrastructure errors, which are not architecture bugs."""
    lines = []
    for base, per_arch in sorted(m.differing().items()):
        failed = [a for a in m.arches if per_arch.get(a) in ("failed", "error")]
        ok = [a for a in m.arches if per_arch.get(a) == "passed"]
        fixed = [a for a in failed if m.results[(base, a)].message.startswith(XPASS_STRICT)]
        if fixed:  # failed because it passes: not an architecture difference to explain
            lines.append(f"{base}: passes on {', '.join(fixed)}, where it is marked as a known failure "
                         f"({XPASS_STRICT}): remove the mark")  # fmt: skip
            failed = [a for a in failed if a not in fixed]
            ok += fixed
        if failed:
            lines.append(f"{base}: fails on {', '.join(failed)} (passes on {', '.join(ok) or 'none'})"
                         f"{shared_trait(failed, [*failed, *ok], m.runs_on, language_of(base))}")  # fmt: skip
    for r in m.flaky():
        lines.append(f"{r.base}: flaky on {r.arch} (failed {r.flaky}x, then passed on a re-run; "
                     "not counted as an architecture difference)")  # fmt: skip
    for r in m.infra_errors():
        lines.append(f"{r.base}: infra error on {r.arch}, not a test failure: {r.message}")
    for r in m.xfailed():
        lines.append(f"{r.base}: known failure on {r.arch}, still failing ({r.message})")
    return lines


def shared_trait(
    failed: list[str], ran: list[str], runs_on: Mapping[str, str] | None = None, language: str | None = None
) -> str:
    """Name what the failing architectures, and only they, have in common. Word sizes are the
    ``language``'s ("go", "rust"; None: the CPU's): Go's wasm is 64-bit, Rust's wasm32 32-bit."""
    if not failed or set(failed) >= set(ran):
        return ""  # nothing failed, or nothing passed: no trait separates the failing ones
    arches = {a.name: a for a in archmod.ARCHES}
    traits: dict[str, Callable[[archmod.Arch], bool]] = {
        "big-endian": lambda a: a.endian == "big",
        "32-bit": lambda a: a.word_bits(language) == 32,
        "64-bit": lambda a: a.word_bits(language) == 64,
        "little-endian": lambda a: a.endian == "little",
        # The C library: a musl column is its CPU's glibc column, statically linked with musl.
        "musl": lambda a: a.libc == "musl",
        "glibc": lambda a: a.libc == "gnu" and a.linux_elf,
    }
    for label, has in traits.items():
        if all(n in arches for n in ran) and {n for n in ran if has(arches[n])} == set(failed):
            return f" — exactly the {label} ones"
    how = {runs_on.get(a, "") for a in failed} if runs_on else set()
    if len(how) == 1 and "" not in how:
        (one,) = how
        if {a for a in ran if runs_on and runs_on.get(a) == one} == set(failed):
            return f" — exactly the ones run by {one}"
    if len(failed) == 1:
        return f" — {failed[0]} only"
    return ""
