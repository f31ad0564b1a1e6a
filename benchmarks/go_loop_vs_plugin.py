"""Side by side, one run: the shell loop users write today versus one pytest-multiarch run.

    python benchmarks/go_loop_vs_plugin.py [--arches amd64,arm64,...] [--repeat 3]

The loop is `for a in ARCHES: GOARCH=$a go test -count=1 -exec qemu-$a-static ./...` over the
example Go module; the plugin is `pytest --arch=ARCHES examples/polyglot/gocodec`. Both run warm
(one untimed round first, so Go's build cache holds every architecture's standard library).
Prints each round's seconds and the ratio of medians: machines are noisy, compare ratios only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pytest_multiarch import arch as archmod
from pytest_multiarch.executors import qemu

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "examples" / "polyglot" / "gocodec"


def shell_loop(arches: list[archmod.Arch]) -> None:
    for a in arches:
        env = {**os.environ, "GOARCH": a.goarch, "CGO_ENABLED": "0"}
        if a.goarm:
            env["GOARM"] = a.goarm
        cmd = ["go", "test", "-count=1"]
        if a != archmod.host() and a.name != "386":
            cmd += ["-exec", str(qemu.find_qemu(a))]
        cmd.append("./...")
        # Failures are expected (the example has portability bugs): only the time matters.
        subprocess.run(
            cmd,
            cwd=MODULE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=900,
            check=False,
        )


def plugin_run(arches: list[archmod.Arch]) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--arch=" + ",".join(a.name for a in arches),
        str(MODULE),
    ]
    subprocess.run(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900, check=False
    )


def timed(fn: object, arches: list[archmod.Arch]) -> float:
    start = time.perf_counter()
    fn(arches)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--arches", default="amd64,386,arm,arm64,ppc64le,riscv64,s390x,mips64,mips64le,loong64"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    arches = archmod.parse_list([args.arches])
    print(f"arches: {', '.join(a.name for a in arches)}; warming caches...", flush=True)
    shell_loop(arches)
    plugin_run(arches)
    loop_times, plugin_times = [], []
    for i in range(args.repeat):  # interleaved, so drift in machine load hits both alike
        loop_times.append(timed(shell_loop, arches))
        plugin_times.append(timed(plugin_run, arches))
        print(
            f"round {i + 1}: shell loop {loop_times[-1]:.2f}s, pytest-multiarch {plugin_times[-1]:.2f}s",
            flush=True,
        )
    loop, plugin = statistics.median(loop_times), statistics.median(plugin_times)
    print(
        f"median: shell loop {loop:.2f}s, pytest-multiarch {plugin:.2f}s; "
        f"ratio loop/plugin = {loop / plugin:.2f}x"
    )


if __name__ == "__main__":
    main()
