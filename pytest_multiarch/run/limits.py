"""How long a test or a test process may run, per executor and architecture.

Limits are given in native seconds (``--arch-timeout`` for one test process, i.e. one batch;
``--arch-test-timeout`` for one test) and multiplied by a factor for the way the arch runs.
The default factors are emulation slowdowns measured on this project's 2-core x86_64 machines
with QEMU 10.0.2 user mode: a pure-Go workload (map updates, fmt, sort, GC; no assembly, so
no native SIMD advantage) timed natively and under each emulator, medians of three runs
(2026-11-30): arm 13.5x, arm64 13.6x, ppc64le 10.2x, ppc64 10.6x, riscv64 31.3x, s390x 11.5x,
mips 13.9x, mipsle 11.5x, mips64 13.1x, mips64le 12.8x, loong64 8.1x; 386 runs natively (1.2x).
wasm under wasmtime-py 51 (its compile cache warm, child start-up included; a map/sort/fmt Go
program, medians of three, 2026-12-07): 2.7x, where qemu-aarch64 took 7.8x on the same program;
its factor is doubled for the first run of a module, which compiles it (seconds for a Go test
binary). Rounded up, they make limits that a slow but healthy test does not hit under emulation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pytest_multiarch import arch as archmod
from pytest_multiarch.errors import MultiarchError

DEFAULT_FACTORS: Mapping[str, float] = {
    "arm": 14, "arm64": 14, "ppc64le": 11, "ppc64": 11, "riscv64": 32, "s390x": 12,
    "mips": 14, "mipsle": 12, "mips64": 14, "mips64le": 13, "loong64": 9, "wasm": 6,
}  # fmt: skip
UNKNOWN_EMULATED = 16.0  # an emulated arch with no measurement
NATIVE_SPEED = ("native", "ssh")  # executors that run on a real CPU of the arch: factor 1


class ScaleError(MultiarchError, ValueError):
    """A factor entry that does not parse."""

    becomes = "usage"  # --arch-timeout-scale, multiarch_timeout_scale


def parse_factors(entries: Iterable[str], executors: Sequence[str]) -> dict[str, float]:
    """``KEY=FACTOR`` entries (comma lists allowed), KEY one of ``executors`` (a session's
    registry: hook-added executors included), an architecture, or ``EXECUTOR:ARCH``; FACTOR a
    number > 0. Keys are canonicalised (``aarch64`` → ``arm64``)."""
    factors: dict[str, float] = {}
    for entry in (e.strip() for chunk in entries for e in chunk.split(",")):
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = -1.0
        if not sep or not factor > 0 or factor == float("inf"):
            raise ScaleError(f"{entry!r}: write KEY=FACTOR with a number > 0, e.g. qemu:riscv64=40")
        executor, colon, arch = key.strip().rpartition(":")
        if not colon:
            executor, arch = ("", key.strip()) if key.strip() not in executors else (key.strip(), "")
        if executor and executor not in executors:
            raise ScaleError(f"{entry!r}: unknown executor {executor!r} (one of {', '.join(executors)})")
        if arch:
            try:
                arch = archmod.get(arch).name
            except archmod.ArchError as exc:
                raise ScaleError(f"{entry!r}: {exc}") from None
        factors[f"{executor}:{arch}" if executor and arch else executor or arch] = factor
    return factors


def factor(factors: Mapping[str, float], executor: str, arch: str) -> float:
    """The factor for ``arch`` run by ``executor``: the most specific entry given, else the
    measured default (1 for what runs natively: docker on the host's own arch, and ssh on a real
    machine of the arch, included; an arch-only factor is for emulation and does not apply)."""
    for key in (f"{executor}:{arch}", arch if executor not in NATIVE_SPEED else "", executor):
        if key and key in factors:
            return factors[key]
    if executor in NATIVE_SPEED or archmod.get(arch) == archmod.host():
        return 1.0
    return float(DEFAULT_FACTORS.get(arch, UNKNOWN_EMULATED))
