"""A warm wasm run of the demo's Go module against the same module under qemu-aarch64.

    python benchmarks/wasm.py [--repeat N]

Two measures, medians of N runs after one warm-up run each (builds done, wasmtime's compile
cache filled, Go's test cache off):

- the test binary alone: `qemu-aarch64-static gocodec.test -test.v=test2json` against
  `python .../pytest_multiarch/wasmrun.py gocodec.wasm -test.v=test2json` (the wasmtime
  executor's own command, child Python start-up included);
- the whole plugin: `pytest --arch=arm64 --arch-executor=qemu gocodec` against
  `pytest --arch=wasm gocodec`.

It prints one line per measure with both medians and the ratio wasm / qemu (below 1: wasm faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOCODEC = REPO / "examples" / "polyglot" / "gocodec"


def timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(list(argv), cwd=cwd, env=dict(env), capture_output=True, timeout=900, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        said = done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{said}")
    return elapsed


def median_of(argv: Sequence[str], cwd: Path, env: Mapping[str, str], repeat: int) -> float:
    timed(argv, cwd, env)  # warm-up: builds, compile cache
    return statistics.median(timed(argv, cwd, env) for _ in range(repeat))


def line(what: str, qemu: float, wasm: float) -> str:
    return f"{what}: qemu-aarch64 {qemu:.2f} s, wasm {wasm:.2f} s, wasm/qemu = {wasm / qemu:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    go = shutil.which("go") or "/usr/local/go/bin/go"
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if qemu is None:
        sys.exit("qemu-aarch64(-static) is not on PATH: python -m pytest_multiarch setup --arch=arm64")
    env = {**os.environ, "CGO_ENABLED": "0"}
    with tempfile.TemporaryDirectory(prefix="wasm-bench-") as tmp:
        work = Path(tmp)
        arm = work / "gocodec.test"
        wasm = work / "gocodec.wasm"
        for out, goos, goarch in ((arm, "linux", "arm64"), (wasm, "wasip1", "wasm")):
            build_env = {**env, "GOOS": goos, "GOARCH": goarch}
            subprocess.run(
                [go, "test", "-c", "-o", str(out), "."], cwd=GOCODEC, env=build_env, check=True, timeout=900
            )
        args = ["-test.v=test2json", "-test.count=1"]
        runner = [sys.executable, "-P", str(REPO / "pytest_multiarch" / "wasmrun.py"), "--dir=/", "--dir=.",
                  f"--cache-dir={work / 'cache'}"]  # fmt: skip
        q = median_of([qemu, str(arm), *args], GOCODEC, env, opts.repeat)
        w = median_of([*runner, str(wasm), *args], GOCODEC, env, opts.repeat)
        print(line("test binary alone", q, w))
        copy = work / "gocodec-src"
        shutil.copytree(GOCODEC, copy)
        common = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--arch-test-cache=off",
                  f"--arch-cache-dir={work / 'plugin-cache'}", "."]  # fmt: skip
        q = median_of([*common, "--arch=arm64", "--arch-executor=qemu"], copy, env, opts.repeat)
        w = median_of([*common, "--arch=wasm"], copy, env, opts.repeat)
        print(line("pytest, the whole module", q, w))
    return 0


if __name__ == "__main__":
    sys.exit(main())
