"""The executors a session knows, by name: the plugin's own and those hooks add.

Each entry may take part in ``auto`` with a priority (lower first): ``auto`` picks the first
executor, in that order, whose ``check`` passes for the architecture. The plugin's own order is
native (0), then a remote machine of the arch configured for ssh (5), then a working
binfmt_misc handler (10), then qemu (20), then wasmtime (30; the only one for wasm, which the
others refuse); docker is never automatic.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pytest_multiarch.arch import Arch
from pytest_multiarch.errors import MultiarchError
from pytest_multiarch.executors import qemu
from pytest_multiarch.executors.base import Executor, ExecutorUnavailable
from pytest_multiarch.executors.binfmt import BinfmtExecutor
from pytest_multiarch.executors.docker import DockerExecutor
from pytest_multiarch.executors.native import NativeExecutor
from pytest_multiarch.executors.qemu import QemuExecutor
from pytest_multiarch.executors.ssh import SshExecutor
from pytest_multiarch.executors.wasm import WasmtimeExecutor

AUTO = "auto"


class UnknownExecutor(MultiarchError, ValueError):
    """A name no executor of the registry has."""

    becomes = "usage"  # an --arch-executor value, or a hook's executor


@dataclass(frozen=True)
class Entry:
    executor: Executor
    auto: int | None = None  # priority in `auto` (lower first); None: only when named


class Registry:
    """An open set of executors by name, and the choice between them for ``auto``."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: dict[str, Entry] = {}
        for entry in entries:
            self.add(entry.executor, auto=entry.auto)

    def add(self, executor: Executor, *, auto: int | None = None) -> None:
        """Make ``executor`` choosable by its name (replacing one of that name), and part of
        ``auto`` at priority ``auto`` when given."""
        name = getattr(executor, "name", None)
        if not isinstance(name, str) or not name or name == AUTO or "," in name or ":" in name:
            why = f"an executor needs a name other than {AUTO!r}, without ',' or ':'"
            raise UnknownExecutor(f"{why} ({name!r})")
        self._entries[name] = Entry(executor, auto)

    def copy(self) -> Registry:
        return Registry(self._entries.values())

    def names(self) -> tuple[str, ...]:
        """The executors' names, in the order they were added."""
        return tuple(self._entries)

    def choices(self) -> tuple[str, ...]:
        """What ``--arch-executor`` accepts."""
        return (AUTO, *self._entries)

    def get(self, name: str) -> Executor:
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownExecutor(self.unknown(name))
        return entry.executor

    def unknown(self, name: str) -> str:
        """What to say of a name no executor has."""
        return f"invalid choice: {name!r} (choose from {', '.join(map(repr, self.choices()))})"

    def validate(self, preference: str) -> str:
        """``preference`` if it is ``auto`` or a known name; UnknownExecutor otherwise."""
        if preference != AUTO:
            self.get(preference)
        return preference

    def automatic(self) -> list[Executor]:
        """The executors ``auto`` tries, in order."""
        ranked = sorted((e.auto, i) for i, e in enumerate(self._entries.values()) if e.auto is not None)
        entries = list(self._entries.values())
        return [entries[i].executor for _, i in ranked]

    def select(self, arch: Arch, preference: str = AUTO) -> Executor:
        """The executor that runs ``arch`` here: the named one, or for ``auto`` the first of
        ``automatic()`` that can. Raises ExecutorUnavailable (with the fix) when it cannot: for
        ``auto``, the last one's reason, or the first reason about a program the user named."""
        if preference != AUTO:
            executor = self.get(preference)
            executor.check(arch)
            return executor
        candidates = self.automatic()
        if not candidates:
            raise UnknownExecutor("no executor takes part in auto")
        last: ExecutorUnavailable | None = None
        for executor in candidates:
            try:
                executor.check(arch)
                return executor
            except ExecutorUnavailable as exc:
                if exc.named:
                    raise
                last = exc
        assert last is not None
        raise last


def runs_on(arch: Arch, executor: Executor) -> str:
    """A short account of how ``arch`` runs under the chosen ``executor``, for the totals' "runs
    on" column: "native", "qemu 10.0.2", or the executor's own description (binfmt, docker, a
    hook's, a subclass of the plugin's own)."""
    if type(executor) is NativeExecutor:
        return "native"
    if type(executor) is QemuExecutor:
        path = qemu.find_qemu(arch)
        version = qemu.qemu_version(path) if path else None
        return "qemu " + (".".join(map(str, version)) if version else "(unknown version)")
    return executor.describe(arch)


def warm_runs_on(chosen: Iterable[tuple[Arch, Executor]]) -> None:
    """Ask every QEMU that ``runs_on`` will describe for its version at once, each in a thread
    (``qemu --version`` is a process start, ~15 ms): ``runs_on`` then reads the cached answers."""
    paths = {qemu.find_qemu(a) for a, executor in chosen if type(executor) is QemuExecutor}
    wanted = sorted(p for p in paths if p is not None)
    if len(wanted) > 1:
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            list(pool.map(qemu.qemu_version, wanted))


def default() -> Registry:
    """A registry of the plugin's own executors (a new one each call: sessions add to theirs)."""
    return Registry(
        [
            Entry(NativeExecutor(), auto=0),
            Entry(BinfmtExecutor(), auto=10),
            Entry(QemuExecutor(), auto=20),
            Entry(DockerExecutor()),
            Entry(SshExecutor(), auto=5),  # only an arch with a remote configured (multiarch_remotes)
            Entry(WasmtimeExecutor(), auto=30),  # wasm only: the others refuse non-ELF arches
        ]
    )


BUILTIN = default()  # for the commands (doctor, exec), which have no hooks
