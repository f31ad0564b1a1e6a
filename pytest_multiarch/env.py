"""Every ``MULTIARCH_*`` environment variable the package reads: each is read here only.

A bottom layer (it imports nothing of the package): the plugin's settings read it once per
session, and the lower modules the command-line tools share with the plugin (the Go toolchain,
QEMU, ``setup``'s planning) read it when they are asked, through these functions. Each takes the
environment to read (default: this process's), and returns the value typed, or None when unset
(an empty value counts as unset). docs/reference/environment.md describes each variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

GO = "MULTIARCH_GO"  # the go command
QEMU_PREFIX = "MULTIARCH_QEMU_"  # + ARCH: one architecture's emulator
CC_PREFIX = "MULTIARCH_CC_"  # + ARCH: the C cross-compiler for cgo
CACHE_DIR = "MULTIARCH_CACHE_DIR"  # the build cache, when --arch-cache-dir is not given
HOME = "MULTIARCH_HOME"  # where setup unpacks Debian's Rust
OS_RELEASE = "MULTIARCH_OS_RELEASE"  # the os-release file setup reads
PROGRESS_SECONDS = "MULTIARCH_PROGRESS_SECONDS"  # seconds between progress lines
EXECUTOR = "MULTIARCH_EXECUTOR"  # exec's default executor (and set in every test process)
ARCH = "MULTIARCH_ARCH"  # set in every test process: the arch it runs as

DEFAULT_HOME = Path("/opt/pytest-multiarch")
DEFAULT_OS_RELEASE = Path("/etc/os-release")
DEFAULT_PROGRESS_SECONDS = 10.0


def _get(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return value or None


def qemu_variable(arch_name: str) -> str:
    """``MULTIARCH_QEMU_S390X`` for ``s390x``: the canonical name in upper case."""
    return QEMU_PREFIX + arch_name.upper()


def cc_variable(arch_name: str) -> str:
    """``MULTIARCH_CC_ARM64`` for ``arm64``."""
    return CC_PREFIX + arch_name.upper()


def go(environ: Mapping[str, str] | None = None) -> str | None:
    """The go the user named (a path or a program name), or None."""
    return _get(GO, environ)


def qemu(arch_name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The emulator the user named for one architecture, or None."""
    return _get(qemu_variable(arch_name), environ)


def cc(arch_name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The C cross-compiler the user named for one architecture, or None."""
    # Read as the plugin always has: a variable set to "" is a choice too (kept as is).
    return (os.environ if environ is None else environ).get(cc_variable(arch_name))


def cache_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """The build cache directory as written (``~`` not expanded), or None."""
    return _get(CACHE_DIR, environ)


def home(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``setup`` unpacks Debian's Rust, and where the plugin looks for it."""
    value = _get(HOME, environ)
    return Path(value) if value else DEFAULT_HOME


def os_release(environ: Mapping[str, str] | None = None) -> Path:
    """The os-release file that describes this system."""
    value = _get(OS_RELEASE, environ)
    return Path(value) if value else DEFAULT_OS_RELEASE


def progress_seconds(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between progress lines (0 or less: none); the default when unset or not a number."""
    value = (os.environ if environ is None else environ).get(PROGRESS_SECONDS)
    if value is None:
        return DEFAULT_PROGRESS_SECONDS
    try:
        return float(value)
    except ValueError:
        return DEFAULT_PROGRESS_SECONDS


def executor(environ: Mapping[str, str] | None = None) -> str:
    """The executor ``exec`` uses when ``--arch-executor`` is not given (default ``auto``)."""
    # As before: set means chosen, even when empty (argparse then rejects it).
    return (os.environ if environ is None else environ).get(EXECUTOR, "auto")
