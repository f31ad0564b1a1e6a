#!/usr/bin/env bash
# The whole test suite: lint, types, docs, and the tests (real go, cargo, qemu). Installs first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
echo "[test] ruff"; python3 -m ruff check pytest_multiarch tests conftest.py
echo "[test] mypy --strict"; python3 -m mypy
echo "[test] mkdocs build --strict"; python3 -m mkdocs build --strict -q -d .multiarch-bin/site
echo "[test] pytest"
# pytest exits 5 when it ran no test: that is a failure here, as is any other non-zero status.
python3 -m pytest tests -q "$@"
