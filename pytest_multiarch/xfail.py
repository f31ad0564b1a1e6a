"""Known failures per (test, architecture): the ini option ``multiarch_xfail``.

Each line is ``ARCHES: TEST`` or ``ARCHES: TEST: REASON``. ARCHES is a comma list of
architecture names (aliases allowed); TEST is the end of a node id without its ``[arch]``,
starting at a ``::`` or ``/`` boundary (``example.com/m::TestDecodeWire``, ``tests::large_header``,
``test_wire.py::test_decode``); a TEST without ``[`` also covers the test's parametrized
instances. Every matching item on those architectures gets ``pytest.mark.xfail(strict=True)``: it
is reported xfailed while it fails, and fails as XPASS(strict) once it passes. A line that matches
no collected test is a warning that names it, so that a typo is not silent.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch import errors
from pytest_multiarch.nodeid import base_id
from pytest_multiarch.outcome import arch_of

INI = "multiarch_xfail"
# ARCHES (names, commas, spaces), a colon that is not half of a "::", then the test (and reason).
_LINE = re.compile(r"^(?P<arches>[\w\s,.-]+?)\s*:(?!:)\s*(?P<rest>\S.*)$")
_RULES_KEY = pytest.StashKey[list["Rule"]]()


@dataclass(frozen=True)
class Rule:
    line: str  # as written, for messages
    arches: frozenset[str]  # canonical names
    test: str
    reason: str

    def matches(self, base: str) -> bool:
        """Is ``base`` (a node id without ``[arch]``) this rule's test, or an instance of it?"""
        candidates = [base]
        if "[" not in self.test and base.endswith("]") and "[" in base:
            candidates.append(base[: base.index("[", max(base.rfind("::"), 0))])
        return any(c == self.test or c.endswith(("::" + self.test, "/" + self.test)) for c in candidates)


def parse(lines: Sequence[str]) -> list[Rule]:
    """The rules of the ini option's lines; pytest.UsageError for a line that is not one."""
    rules = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise pytest.UsageError(
                f"{INI}: {line!r} is not `ARCHES: TEST` (e.g. `s390x: example.com/m::TestDecodeWire` "
                "or `s390x,mips64: tests::large_header: why it fails`)"
            )
        try:
            names = frozenset(archmod.get(n).name for n in m["arches"].split(",") if n.strip())
        except archmod.ArchError as exc:
            raise errors.usage_error(exc, f"{INI}: {line!r}") from None
        test, _, reason = m["rest"].partition(": ")
        test = test.strip()
        why = reason.strip() or f"known failure on {', '.join(sorted(names))}"
        rules.append(Rule(line, names, test, f"{why} ({INI}: {line})"))
    return rules


def configure(config: pytest.Config, lines: Sequence[str]) -> None:
    """Check the ini option's lines once, at configure (a bad line stops the run before any
    build), and mark the items once they are collected."""
    config.stash[_RULES_KEY] = parse(lines)
    if config.stash[_RULES_KEY]:
        config.pluginmanager.register(_Marker(), "multiarch-xfail")


class _Marker:
    @pytest.hookimpl(tryfirst=True)  # every collected item, before -k, -m or --lf deselect some
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        apply(config, items)


def item_arch(item: pytest.Item) -> str | None:
    """The architecture an item runs for (a Go/Rust cell or a Python test using ``arch``)."""
    return arch_of(item.user_properties)


def apply(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """Mark the items the rules name as strict expected failures; warn of rules that name none."""
    rules = config.stash.get(_RULES_KEY, [])
    if not rules:
        return
    used: set[Rule] = set()
    for item in items:
        arch = item_arch(item)
        if arch is None:
            continue
        base = base_id(item.nodeid, arch)
        for rule in rules:
            if rule.matches(base):
                used.add(rule)  # the test exists: not a typo, even when this arch is not listed
                if arch in rule.arches:
                    item.add_marker(pytest.mark.xfail(strict=True, reason=rule.reason))
    for rule in rules:
        if rule not in used:
            where, line = _ini_line(config, rule.line)
            warnings.warn_explicit(
                pytest.PytestConfigWarning(
                    f"{INI}: {rule.line!r} matches no collected test (give the end of a node id "
                    "without [arch], e.g. `example.com/m::TestDecodeWire`; see `pytest --collect-only -q`)"
                ),
                pytest.PytestConfigWarning, where, line,
            )  # fmt: skip


def _ini_line(config: pytest.Config, text: str) -> tuple[str, int]:
    """The ini file and the number of the line holding ``text`` (0 when it cannot tell)."""
    path = config.inipath
    if path is None:
        return "pytest.ini", 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return str(path), 0
    return str(path), next((i for i, line in enumerate(lines, 1) if line.strip() == text), 0)
