"""Telling an emulator or infrastructure failure from a test failure, by the evidence it prints.

A test process that dies is the test's fault unless something between us and the test said it
failed: QEMU aborting or refusing the binary, the kernel refusing to execute it, the container
runtime failing. Only then is the outcome ``infra_error``, with the line that says so.

QEMU prints ``qemu: uncaught target signal N`` whenever the *guest* dies of a signal, which is
also what a test's own ``abort()`` or a Rust ``panic = "abort"`` produces natively: that stays a
test failure. The exception is SIGILL (4), which under emulation means an instruction the
emulated CPU does not implement far more often than a bug of the test.
"""

from __future__ import annotations

import re

_LOAD = (
    r"^qemu[\w.-]*: .*(?:Unable to find a guest_base|Error mapping (?:file|bss)|"
    r"Invalid ELF image for this architecture|unable to find CPU model|Could not open '[^']*'.*)$"
)
_EVIDENCE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^qemu: fatal: .*|^qemu: unhandled CPU exception .*", re.M), "the emulator aborted"),
    (re.compile(_LOAD, re.M), "the emulator could not load the binary"),
    (re.compile(r"^qemu: uncaught target signal 4 \(Illegal instruction\).*", re.M),
     "the emulated CPU does not implement an instruction of this binary (try QEMU_CPU=max)"),
    (re.compile(r"^Fatal glibc error: .*", re.M), "the emulator's C library failed"),
    (re.compile(r".*\b[Ee]xec format error\b.*", re.M), "the kernel cannot execute this binary here"),
    (re.compile(r".*(?:OCI runtime (?:create|exec|start) failed|Error response from daemon).*", re.M),
     "the container runtime failed"),
    (re.compile(r"^pytest-multiarch: the ssh connection to .* was lost.*", re.M),
     "the connection to the remote machine failed"),
]


def evidence(text: str) -> str:
    """``"<what failed>: <the line that says so>"`` when ``text`` (a dead test process's own
    output, not a test's) shows the emulator or infrastructure failed; else ``""``."""
    for pattern, what in _EVIDENCE:
        found = pattern.search(text)
        if found:
            return f"{what}: {found.group(0).strip()[:300]}"
    return ""
