"""The one base of the plugin's errors, and the one place that says what an error becomes.

Every error says **what** went wrong, **why**, and the **fix** (the command that fixes it, or
``""``). What it becomes is the class's ``becomes``, turned into pytest's terms by ``verdict``:

- ``skip``: a missing toolchain or emulator for an architecture. A skip that says so; a failure
  under ``--arch-strict``; always a failure when the user *named* the tool (``MULTIARCH_QEMU_<ARCH>``,
  ``CARGO``...), since a skip would hide every failure of that architecture behind a green run.
- ``fail``: the test (or what it built or ran) failed: a test failure with the message alone.
- ``usage``: a bad option, ini value or hook answer: ``pytest.UsageError`` (exit status 4).
- ``infra``: the machinery around the test failed, not the test: a failure (the report counts it
  apart, by the evidence the batch records).

This module is the bottom layer: it imports nothing from the package, so every module can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import pytest

Becomes = Literal["skip", "fail", "usage", "infra"]
FIX_SEPARATOR = ". Fix: "  # how a one-line message joins its fix: "<what>. Fix: <fix>"
STRICT_SUFFIX = " (an error because of --arch-strict)"


class MultiarchError(Exception):
    """An error of pytest-multiarch: what went wrong, why, and the fix (or ``""``).

    Built from a message alone (``SomeError("...")``), ``what`` and ``fix`` are read from it: the
    text before and after ``. Fix: ``. ``str()`` is always the message, unchanged.
    """

    becomes: ClassVar[Becomes] = "fail"

    def __init__(
        self, *args: object, what: str = "", why: str = "", fix: str = "", named: bool = False
    ) -> None:
        super().__init__(*args)
        message = str(args[0]) if args else ""
        said_what, _, said_fix = message.partition(FIX_SEPARATOR)
        self.what = what or said_what
        self.why = why
        self.fix = fix or said_fix
        # The user named the tool that does not work: never a skip (see the module doc).
        self.named = named


@dataclass(frozen=True)
class Verdict:
    """What an error becomes here, and the message it says."""

    becomes: Becomes
    message: str

    def exception(self) -> BaseException:
        """The exception that makes pytest report it so (raise it ``from None`` inside an except
        block: pytest would show the chained exception in the report, pytrace=False or not)."""
        if self.becomes == "skip":
            # Reported at the item (file and test name), not at the line of the plugin that raised.
            return pytest.skip.Exception(self.message, _use_item_location=True)
        if self.becomes == "usage":
            return pytest.UsageError(self.message)
        return pytest.fail.Exception(self.message, pytrace=False)


def unavailable(reason: str, *, strict: bool, named: bool = False) -> Verdict:
    """A missing toolchain or emulator, said by ``reason``: a skip, a failure under --arch-strict,
    a failure when the user ``named`` the tool."""
    if named:
        return Verdict("fail", reason)
    if strict:
        return Verdict("fail", reason + STRICT_SUFFIX)
    return Verdict("skip", reason)


def verdict(error: BaseException, *, strict: bool = False, where: str = "") -> Verdict:
    """What ``error`` becomes: by its class's ``becomes`` (``fail`` for an exception not ours);
    ``where`` (an option or ini key) leads a usage error's message."""
    if not isinstance(error, MultiarchError):
        return Verdict("fail", str(error))
    if error.becomes == "skip":
        return unavailable(str(error), strict=strict, named=error.named)
    if error.becomes == "usage":
        return Verdict("usage", f"{where}: {error}" if where else str(error))
    return Verdict(error.becomes, str(error))


def usage_error(error: BaseException, where: str) -> pytest.UsageError:
    """``error`` as the usage error of the option or ini key ``where`` ("--arch: ...")."""
    return pytest.UsageError(f"{where}: {error}")
