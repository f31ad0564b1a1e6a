"""Where the tests find Debian's Rust with cross standard libraries: where `setup` put it."""

from __future__ import annotations

import os
import pwd
import textwrap
from collections.abc import Mapping
from pathlib import Path

from pytest_multiarch.toolchains.rust import debian as debian_rust


def debian_rust_home() -> Path:
    """$MULTIARCH_RUST_HOME, else the newest prefix `setup` made that has the arm64 and s390x std
    (what the tests cross-build for), else where setup would put Rust 1.85."""
    explicit = os.environ.get("MULTIARCH_RUST_HOME")
    if explicit:
        return Path(explicit)
    for cargo in debian_rust.provisioned_cargos():
        prefix = cargo.parent.parent
        rustlib = prefix / "usr" / "lib" / "rustlib"
        if all((rustlib / t).is_dir() for t in ("aarch64-unknown-linux-gnu", "s390x-unknown-linux-gnu")):
            return prefix
    return debian_rust.DEFAULT_ROOT / "rust-1.85"


RUST_HOME = debian_rust_home()
REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)  # pytester moves $HOME; cargo/rustup must not


def write_crate(root: Path, files: Mapping[str, str], *, name: str, manifest_extra: str = "") -> Path:
    """Write a crate (Cargo.toml plus ``files``, dedented) in ``root``; its directory."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        f"[dependencies]\n{textwrap.dedent(manifest_extra)}"
    )
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def calls(log: Path) -> list[str]:
    """The calls the ``logged_tools`` wrappers recorded in ``log`` (none when it does not exist)."""
    return log.read_text().splitlines() if log.exists() else []
