#!/usr/bin/env bash
# Installs what the demo and the test suite need on a Debian 12 (bookworm) x86_64 machine.
# Idempotent: each step checks first and does nothing when its result is already there.
# Sourced by scripts/demo.sh and scripts/test.sh; exports MULTIARCH_RUST_HOME for them.
set -euo pipefail

RUST_VERSION="1.85.0+dfsg3-1~deb12u3"           # Debian's rustc-web with a std for every arch below
RUST_DEBARCHES=(arm64 armhf i386 ppc64el s390x)  # Debian names of the cross std libraries we fetch
CROSS_TRIPLES=(aarch64-linux-gnu arm-linux-gnueabihf i686-linux-gnu powerpc64le-linux-gnu s390x-linux-gnu)
export MULTIARCH_RUST_HOME="${MULTIARCH_RUST_HOME:-/opt/pytest-multiarch/rust-1.85}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
apt_update() {
  # Foreign-architecture indexes of the security suite are sometimes mid-sync; unrelated to us.
  [ -n "$apt_updated" ] || as_root apt-get update -qq || say "apt-get update reported errors (ignored)"
  apt_updated=1
}
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_update
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_backports() {
  local src=/etc/apt/sources.list.d/backports.sources
  grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  say "adding bookworm-backports ($src)"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' | as_root tee "$src" >/dev/null
  apt_updated=""
}

ensure_qemu() {
  # QEMU 7.2 (bookworm) breaks Go's os/exec under emulation (golang/go#68976): want 10.x.
  local major
  major="$(qemu-aarch64-static --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -1)"
  [ -n "$major" ] && [ "$major" -ge 8 ] && return 0
  ensure_backports; apt_update
  say "installing qemu-user-static from bookworm-backports"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports qemu-user-static >/dev/null
}

ensure_go() {
  command -v go >/dev/null && return 0
  [ -x /usr/local/go/bin/go ] && { export PATH="/usr/local/go/bin:$PATH"; return 0; }
  ensure_backports; apt_update
  say "installing golang-1.23-go from bookworm-backports"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports golang-1.23-go >/dev/null
  export PATH="/usr/lib/go-1.23/bin:$PATH"
}

ensure_cross_linkers() {
  local pkgs=(gcc)
  for i in "${!CROSS_TRIPLES[@]}"; do
    pkgs+=("gcc-${CROSS_TRIPLES[$i]}" "libc6-dev-${RUST_DEBARCHES[$i]}-cross")
  done
  apt_install "${pkgs[@]}"
}

ensure_multiarch_libc_arm64() {
  # The host's own arm64 libc next to the cross sysroot: the "mixed sysroot" case our tests keep.
  dpkg --print-foreign-architectures | grep -qx arm64 || { as_root dpkg --add-architecture arm64; apt_updated=""; }
  # Optional: a mirror mid-sync can skew libc6:arm64 from libc6:amd64; the test that needs it
  # skips (saying how to install it) rather than the whole set-up failing.
  apt_install libc6:arm64 || say "libc6:arm64 not installed (the mixed-sysroot test will skip)"
}

ensure_rust() {
  # Debian's Rust and its per-architecture std, unpacked into a private prefix (rustup cannot
  # download targets here). The prefix's rustc finds its sysroot relative to itself.
  local stamp="$MULTIARCH_RUST_HOME/.installed-$RUST_VERSION"
  apt_install libllvm19 libpcre3 libcurl4 libhttp-parser2.9 libssh2-1 libsqlite3-0 binutils
  [ -f "$stamp" ] && return 0
  local missing_arch=""
  for a in "${RUST_DEBARCHES[@]}"; do
    dpkg --print-foreign-architectures | grep -qx "$a" || { as_root dpkg --add-architecture "$a"; missing_arch=1; }
  done
  [ -n "$missing_arch" ] && apt_updated=""
  apt_update
  local tmp; tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  local debs=("rustc-web=$RUST_VERSION" "cargo-web=$RUST_VERSION" "libstd-rust-web-1.85=$RUST_VERSION" "libstd-rust-web-dev=$RUST_VERSION")
  for a in "${RUST_DEBARCHES[@]}"; do debs+=("libstd-rust-web-dev:$a=$RUST_VERSION"); done
  say "downloading Debian's Rust $RUST_VERSION with std for ${RUST_DEBARCHES[*]}"
  local try
  for try in 1 2 3; do  # foreign-architecture indexes are sometimes mid-sync: refresh, retry
    (cd "$tmp" && apt-get download -qq "${debs[@]}" 2>/dev/null) && break
    [ "$try" -eq 3 ] && { say "could not download ${debs[*]}"; return 1; }
    say "download failed; refreshing the package lists and trying again"
    sleep 5; apt_updated=""; apt_update
  done
  as_root mkdir -p "$MULTIARCH_RUST_HOME/bin"
  for deb in "$tmp"/*.deb; do as_root dpkg -x "$deb" "$MULTIARCH_RUST_HOME"; done
  rm -rf "$tmp"
  for tool in cargo rustc rustdoc; do
    as_root tee "$MULTIARCH_RUST_HOME/bin/$tool" >/dev/null <<WRAP
#!/bin/sh
# Debian's $tool from a private prefix: its shared libraries live beside it.
LD_LIBRARY_PATH="$MULTIARCH_RUST_HOME/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" RUSTC="\${RUSTC:-$MULTIARCH_RUST_HOME/bin/rustc}" RUSTDOC="\${RUSTDOC:-$MULTIARCH_RUST_HOME/bin/rustdoc}" exec "$MULTIARCH_RUST_HOME/usr/bin/$tool" "\$@"
WRAP
    as_root chmod 755 "$MULTIARCH_RUST_HOME/bin/$tool"
  done
  "$MULTIARCH_RUST_HOME/bin/rustc" --version >/dev/null
  as_root touch "$stamp"
}

ensure_python_package() {
  # Reinstall only when pyproject.toml changed since the last editable install.
  local stamp="$repo_root/.bootstrap-python.stamp" want
  want="$(sha256sum "$repo_root/pyproject.toml" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.prefix)')"
  # Installed from this checkout (not another clone), with this pyproject.toml: nothing to do.
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && (cd / && python3 -c '
import pathlib, sys, pytest_multiarch
sys.exit(pathlib.Path(pytest_multiarch.__file__).resolve().parent.parent != pathlib.Path(sys.argv[1]).resolve())
' "$repo_root") 2>/dev/null; then
    return 0
  fi
  say "installing the Python package and its development tools (pip install -e '.[dev]')"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check -e "$repo_root[dev]"
  echo "$want" >"$stamp"
}

ensure_qemu
ensure_go
ensure_cross_linkers
ensure_multiarch_libc_arm64
ensure_rust
ensure_python_package
export CARGO="$MULTIARCH_RUST_HOME/bin/cargo" RUSTC="$MULTIARCH_RUST_HOME/bin/rustc"
