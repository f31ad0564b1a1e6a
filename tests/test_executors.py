"""The executor registry: names, `auto`'s order as data, and the errors it gives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_multiarch import executors
from pytest_multiarch.arch import Arch, get, host
from pytest_multiarch.executors import ExecutorUnavailable, Registry, UnknownExecutor
from pytest_multiarch.executors.base import Invocation, LocalExecution
from pytest_multiarch.executors.registry import Entry, default


class Fake(LocalExecution):
    """Runs nothing; can or cannot run an arch as told."""

    def __init__(self, name: str, can: bool, named: bool = False) -> None:
        self.name, self.can, self.named = name, can, named

    def check(self, arch: Arch) -> None:
        if not self.can:
            raise ExecutorUnavailable(arch, f"{self.name} cannot", "none", named=self.named)

    def describe(self, arch: Arch) -> str:
        return self.name

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        return Invocation(argv=(str(binary), *args))


def test_the_plugins_executors_and_autos_order() -> None:
    registry = default()
    assert registry.names() == ("native", "binfmt", "qemu", "docker", "ssh", "wasmtime")
    assert registry.choices() == ("auto", "native", "binfmt", "qemu", "docker", "ssh", "wasmtime")
    # docker: only by name; ssh: in auto, but only an arch with a remote configured passes its check
    assert [e.name for e in registry.automatic()] == ["native", "ssh", "binfmt", "qemu", "wasmtime"]
    assert registry.select(host()).name == "native"
    assert executors.select(host(), "native").name == "native"


def test_auto_takes_the_first_that_can_by_priority() -> None:
    registry = Registry([Entry(Fake("late", True), auto=20), Entry(Fake("early", False), auto=0)])
    registry.add(Fake("middle", True), auto=10)
    registry.add(Fake("manual", True))
    assert [e.name for e in registry.automatic()] == ["early", "middle", "late"]
    assert registry.select(get("arm64")).name == "middle"
    assert registry.select(get("arm64"), "manual").name == "manual"


def test_auto_says_the_last_reason_unless_a_named_program_is_broken() -> None:
    a = get("s390x")
    registry = Registry([Entry(Fake("one", False), auto=0), Entry(Fake("two", False), auto=1)])
    with pytest.raises(ExecutorUnavailable, match="two cannot"):
        registry.select(a)
    registry.add(Fake("broken", False, named=True), auto=-1)
    with pytest.raises(ExecutorUnavailable, match="broken cannot") as info:
        registry.select(a)
    assert info.value.named


def test_unknown_names_and_bad_names() -> None:
    registry = default()
    assert registry.validate("auto") == "auto"
    with pytest.raises(UnknownExecutor, match=r"invalid choice: 'vm' \(choose from 'auto', 'native', "):
        registry.validate("vm")
    for bad in ("auto", "", "a:b", "a,b"):
        with pytest.raises(UnknownExecutor, match="an executor needs a name"):
            registry.add(Fake(bad, True))


def test_a_copy_is_independent() -> None:
    registry = default()
    mine = registry.copy()
    mine.add(Fake("extra", True))
    assert "extra" in mine.names() and "extra" not in registry.names()


def test_runs_on_short_forms() -> None:
    registry = default()
    assert executors.runs_on(host(), registry.get("native")) == "native"
    assert executors.runs_on(host(), Fake("hooked", True)) == "hooked"
