#!/usr/bin/env bash
# Installs what the demo and the test suite need, on Debian 12 or Ubuntu (x86_64), as root.
# Sourced by scripts/demo.sh and scripts/test.sh. Idempotent and quick when all is there:
#   1. a Python virtual environment in .venv (python3-venv from apt when python3 cannot make one:
#      stock Debian refuses `pip install` into its own Python, PEP 668);
#   2. this package and its development tools in it (again only when pyproject.toml changed);
#   3. `python -m pytest_multiarch setup`: QEMU, Go, cross gcc and libc, Rust with cross std
#      (the product's own set-up, the same a user runs).
# Every step checks with a command that cannot abort the script when its tool is missing.
# With BOOTSTRAP_FUNCTIONS_ONLY=1 it only defines the steps (the tests call them one by one).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MULTIARCH_VENV:-$repo_root/.venv}"
PY="$VENV/bin/python"
# What the demo and the tests run on; Rust std where Debian 12 has one (the rest skip, saying why).
SETUP_ARCHES="${SETUP_ARCHES:-amd64,386,arm,arm64,ppc64le,riscv64,s390x,mips64,mips64le,loong64}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  # Only what must exist before our own Python code can run (python3-venv) or what only the
  # test suite needs; everything else is `setup`'s.
  say "installing $* with apt-get"
  as_root apt-get update -qq || say "apt-get update reported errors (ignored; the install says if it matters)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_python3() {
  command -v python3 >/dev/null 2>&1 && return 0
  apt_install python3
}

ensure_venv() {
  # A venv whose python runs and has pip; a half-made one (interrupted, python3 upgraded) is redone.
  if "$PY" -m pip --version >/dev/null 2>&1; then return 0; fi
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    say "python3 cannot make a virtual environment (Debian splits venv/ensurepip out): installing python3-venv"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  say "made the virtual environment $VENV"
}

ensure_python_package() {
  # Reinstall only when pyproject.toml changed since the last install into this venv.
  local stamp="$VENV/.pytest-multiarch.stamp" want
  want="$(sha256sum "$repo_root/pyproject.toml" | cut -d' ' -f1) $repo_root"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$PY" -c 'import pytest_multiarch' >/dev/null 2>&1; then
    return 0
  fi
  say "installing the Python package and its development tools into $VENV (pip install -e '.[dev]')"
  "$PY" -m pip install -q --disable-pip-version-check -e "$repo_root[dev]"
  echo "$want" >"$stamp"
}

ensure_toolchains() {
  # The product's set-up: quick (no apt, no download) when everything is there already.
  # Rust from Debian's archive, not rustup: the suite then always covers that path too.
  "$PY" -m pytest_multiarch setup --arch="$SETUP_ARCHES" --rust-from=debian --quiet
}

ensure_wasm() {
  # WebAssembly: wasmtime-py (in the dev extra already) and rustup's wasm32-wasip1 std; Debian
  # packages no Rust std for wasm, so this one comes from rustup, when there is a rustup.
  command -v rustup >/dev/null 2>&1 || { say "no rustup: Rust tests on wasm will skip, saying why"; return 0; }
  # Optional, like the packages only the tests need: a download that fails (rustup's servers,
  # PyPI) must not stop the set-up of everything else; the wasm tests then skip, saying why.
  "$PY" -m pytest_multiarch setup --arch=wasm --rust-from=rustup --quiet \
    || say "wasm's set-up did not complete (tests on wasm will skip, saying what is missing)"
}

ensure_nightly_wasm() {
  # Only for the test suite: two tests build wasm tests that unwind, which takes a nightly Rust
  # with the wasm32-wasip1 std and rust-src. An old nightly whose parts the servers no longer
  # serve is updated. Optional: without it (no rustup, a failed download) those tests skip and
  # say why.
  command -v rustup >/dev/null 2>&1 || { say "no rustup: the nightly wasm tests will skip"; return 0; }
  local lib="${RUSTUP_HOME:-$HOME/.rustup}/toolchains/nightly-$(uname -m)-unknown-linux-gnu/lib/rustlib"
  [ -d "$lib/wasm32-wasip1" ] && [ -d "$lib/src/rust/library/std" ] && return 0
  say "installing a nightly Rust with the wasm32-wasip1 std and rust-src (for the nightly wasm tests)"
  rustup toolchain install nightly --profile minimal --component rust-src --target wasm32-wasip1 \
    || say "nightly Rust for wasm not installed (the nightly wasm tests will skip)"
}

ensure_docker_engine_package() {
  # Only for the test suite (scripts/test.sh calls it): the docker executor's tests need an
  # engine and start dockerd when none runs. Optional: without it (or where dockerd cannot run,
  # e.g. in a chroot) those tests skip and say why.
  command -v dockerd >/dev/null 2>&1 && return 0
  apt_install docker.io || say "docker.io not installed (the docker executor's tests will skip)"
}

ensure_sshd_package() {
  # Only for the test suite: the ssh executor's tests start their own sshd on 127.0.0.1 (never
  # the system's). Optional: without it those tests skip and say why.
  command -v sshd >/dev/null 2>&1 && return 0  # openssh-server depends on openssh-client
  apt_install openssh-client openssh-server || say "openssh-server not installed (the ssh executor's tests will skip)"
}

ensure_browser_package() {
  # Only for the test suite: the HTML report is checked in a real headless browser. Optional:
  # without it those tests skip and say why.
  command -v chromium >/dev/null 2>&1 && return 0
  apt_install chromium || say "chromium not installed (the HTML report's browser tests will skip)"
}

if [ "${BOOTSTRAP_FUNCTIONS_ONLY:-}" != 1 ]; then
  ensure_python3
  ensure_venv
  ensure_python_package
  ensure_toolchains
  ensure_wasm
fi
