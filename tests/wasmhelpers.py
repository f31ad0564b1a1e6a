"""WebAssembly programs for the tests: Rust sources built with rustup's rustc for wasm32-wasip1."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from rusthelpers import REAL_HOME

TRIPLE = "wasm32-wasip1"
FIX = "python -m pytest_multiarch setup --arch=wasm (rustup target add wasm32-wasip1)"

# One program, several behaviours, chosen by its first argument.
PROGRAM = r"""
use std::io::Write;

// Recursion on the wasm stack itself (values in wasm locals, not in linear memory's stack).
#[inline(never)]
fn depth(n: u64, a: u64, b: u64, c: u64, d: u64, e: u64, f: u64, g: u64, h: u64) -> u64 {
    if n == 0 { return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h; }
    let r = depth(n - 1, b.wrapping_mul(3), c + 1, d ^ a, e + 2, f.wrapping_mul(5), g + n, h ^ n, a + b);
    r.wrapping_add(a).wrapping_mul(b | 1) ^ c ^ d ^ e ^ f ^ g ^ h
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args[1].as_str() {
        "exit" => std::process::exit(args[2].parse().unwrap()),
        "env" => println!("{}", std::env::var(&args[2]).unwrap_or_else(|_| "<unset>".into())),
        "read" => print!("{}", std::fs::read_to_string(&args[2]).unwrap()),
        "args" => println!("{:?}", &args[1..]),
        "trap" => { println!("before the trap"); std::io::stdout().flush().unwrap(); std::process::abort() }
        "deep" => println!("{}", depth(args[2].parse().unwrap(), 1, 2, 3, 4, 5, 6, 7, 8)),
        "spin" => loop { std::hint::spin_loop() },
        "flood" => {
            let line = "z".repeat(99) + "\n";
            let mut out = std::io::stdout().lock();
            for _ in 0..args[2].parse::<u32>().unwrap() { out.write_all(line.as_bytes()).unwrap(); }
        }
        other => { eprintln!("unknown mode {other}"); std::process::exit(2) }
    }
}
"""


NIGHTLY_FIX = "rustup toolchain install nightly --component rust-src --target wasm32-wasip1"


def _rustup_tool(name: str) -> str | None:
    """``name`` from rustup's bin directory, else from PATH."""
    return shutil.which(name, path=f"{REAL_HOME / '.cargo' / 'bin'}:{os.environ.get('PATH', '')}")


def need_rustup() -> None:
    """Skip where there is no rustup at all, as on stock Debian 12: Debian packages no Rust std
    for wasm32-wasip1, so Rust on wasm is out of reach there, and the plugin skips it saying so
    (the set-up says so too: bootstrap.sh's ensure_wasm). Where rustup is, its wasm std must be."""
    if _rustup_tool("rustup") is None:
        pytest.skip(f"no rustup here, and Debian packages no Rust std for {TRIPLE}: install rustup "
                    f"(https://rustup.rs), then {FIX}")  # fmt: skip


def nightly_with_wasm(*, source: bool) -> Path:
    """rustup's nightly toolchain with the wasm32-wasip1 std (and, with ``source``, rust-src), as
    scripts/test.sh installs it (bootstrap.sh's ensure_nightly_wasm); skips saying the fix when
    there is none (no rustup, or a download that failed)."""
    need_rustup()
    home = Path(os.environ.get("RUSTUP_HOME") or REAL_HOME / ".rustup")
    nightly = home / "toolchains" / f"nightly-{platform.machine()}-unknown-linux-gnu"
    if not (nightly / "lib" / "rustlib" / TRIPLE).is_dir():
        pytest.skip(f"no nightly Rust with the {TRIPLE} std (scripts/test.sh installs one): {NIGHTLY_FIX}")
    if source and not (nightly / "lib" / "rustlib" / "src" / "rust" / "library" / "std").is_dir():
        pytest.skip(f"no rust-src in the nightly toolchain (scripts/test.sh installs it): {NIGHTLY_FIX}")
    return nightly


def rustup_rustc() -> str:
    """rustup's rustc (the default toolchain), with a wasm32-wasip1 std; fails saying the fix
    (skips where there is no rustup: need_rustup)."""
    need_rustup()
    rustc = _rustup_tool("rustc")
    if rustc is None:
        pytest.fail(f"these tests need rustup's rustc with {TRIPLE}: {FIX}")
    res = subprocess.run([rustc, "--print", "target-libdir", "--target", TRIPLE],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if res.returncode != 0 or not Path(res.stdout.strip()).is_dir():
        pytest.fail(f"{rustc} has no std for {TRIPLE}: {FIX}")
    return rustc


def build(rustc: str, source: str, out: Path, *, opt: str = "2") -> Path:
    src = out.with_suffix(".rs")
    src.write_text(source)
    argv = [rustc, "--edition=2021", "--target", TRIPLE, f"-Copt-level={opt}", "-o", str(out), str(src)]
    subprocess.run(argv, check=True, timeout=300, capture_output=True)
    return out


def toolchain_without_wasm(rustc: str, where: Path) -> Path:
    """A copy (hard links) of ``rustc``'s rustup toolchain without its wasm32-wasip1 std: a
    toolchain that lacks the target, whatever this machine has. Its directory."""
    res = subprocess.run(
        [rustc, "--print", "sysroot"], capture_output=True, text=True, timeout=60, check=True
    )
    return toolchain_copy(Path(res.stdout.strip()).resolve(), where, ("lib/rustlib/" + TRIPLE,))


def toolchain_copy(sysroot: Path, where: Path, without: tuple[str, ...]) -> Path:
    """A copy (hard links) of the rustup toolchain at ``sysroot`` without the parts named by
    ``without`` (paths inside it) nor its documentation. Its directory."""
    copy = where / sysroot.name
    drop = {sysroot / part for part in without} | {sysroot / "share"}
    shutil.copytree(sysroot, copy, copy_function=_link_or_copy, symlinks=True,
                    ignore=lambda d, names: [n for n in names if Path(d, n) in drop])  # fmt: skip
    return copy


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link, or a copy where ``dst`` is on another file system (a tmpfs /tmp)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
