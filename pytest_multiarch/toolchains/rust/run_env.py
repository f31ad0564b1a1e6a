"""The environment `cargo test` gives a test binary when it runs it."""

from __future__ import annotations

import re

from pytest_multiarch.toolchains.rust.model import RustToolchain, TestBinary


def cargo_env(binary: TestBinary, toolchain: RustToolchain | None = None) -> dict[str, str]:
    """The variables `cargo test` sets for a test binary at run time (tests read e.g.
    CARGO_MANIFEST_DIR); run it with cwd=binary.package_dir, as cargo does."""
    env = {
        "CARGO_MANIFEST_DIR": str(binary.package_dir),
        "CARGO_MANIFEST_PATH": str(binary.manifest_path),
        "CARGO_PKG_NAME": binary.package_name,
        "CARGO_PKG_VERSION": binary.package_version,
        "CARGO_CRATE_NAME": binary.target_name.replace("-", "_"),
    }
    m = re.match(r"(\d+)\.(\d+)\.(\d+)(?:-([^+]*))?", binary.package_version)
    if m:
        env.update(
            CARGO_PKG_VERSION_MAJOR=m.group(1),
            CARGO_PKG_VERSION_MINOR=m.group(2),
            CARGO_PKG_VERSION_PATCH=m.group(3),
            CARGO_PKG_VERSION_PRE=m.group(4) or "",
        )
    if toolchain is not None:
        env["CARGO"] = str(toolchain.cargo)
    return env
