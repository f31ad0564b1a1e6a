#!/usr/bin/env bash
# The whole test suite: lint, types, docs, and the tests (real go, cargo, qemu). Installs first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

ensure_multiarch_libc_arm64() {
  # The host's own arm64 libc beside the cross sysroot: the "mixed sysroot" case a test keeps.
  # Optional: a mirror mid-sync can skew libc6:arm64 from libc6:amd64; that test then skips.
  dpkg-query -W -f='${Status}' libc6:arm64 2>/dev/null | grep -q "ok installed" && return 0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then as_root dpkg --add-architecture arm64; fi
  apt_install libc6:arm64 || say "libc6:arm64 not installed (the mixed-sysroot test will skip)"
}
ensure_multiarch_libc_arm64
ensure_docker_engine_package
ensure_browser_package
ensure_sshd_package
ensure_nightly_wasm

echo "[test] ruff"; "$PY" -m ruff check pytest_multiarch tests benchmarks conftest.py
echo "[test] mypy --strict"; "$PY" -m mypy
echo "[test] mkdocs build --strict"; "$PY" -m mkdocs build --strict -q -d .multiarch-bin/site
echo "[test] pytest"
# pytest exits 5 when it ran no test: that is a failure here, as is any other non-zero status.
"$PY" -m pytest tests -q "$@"
