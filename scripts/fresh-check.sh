#!/usr/bin/env bash
# Runs the README's two set-up commands in a fresh Debian 12 root, where nothing of this
# machine's is installed: a minimal debootstrap (python3 and CA certificates only), this
# repository cloned in as CI clones it (committed files only), /proc, /sys and /dev mounted.
# Prints each command's exit status and wall time; exits non-zero unless both exit 0.
#
#   bash scripts/fresh-check.sh            # as root; ~40 s for the root, then the two commands
#   FRESH_ROOT=/var/tmp/x KEEP_ROOT=1 ...  # where to build it; keep it afterwards to look inside
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${FRESH_ROOT:-/var/tmp/pytest-multiarch-fresh}"
MIRROR="${FRESH_MIRROR:-http://deb.debian.org/debian}"
LOGS="${FRESH_LOGS:-/var/tmp/pytest-multiarch-fresh-logs}"
COMMANDS=("bash scripts/demo.sh" "bash scripts/test.sh")  # the README's two, in its order

say() { printf '[fresh-check] %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { say "must run as root (debootstrap, chroot, mounts)"; exit 2; }

unmount_all() {
  local m
  # Deepest first; lazily, so a busy mount never leaves the root half-mounted.
  for m in $(awk -v r="$ROOT/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}
kill_inside() {
  # Daemons the tests started in the root (dockerd) would outlive it: end every process in it.
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  return 0
}
cleanup() {
  kill_inside
  unmount_all
  if [ "${KEEP_ROOT:-}" != 1 ]; then rm -rf "$ROOT"; fi
}
trap cleanup EXIT

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

unmount_all
rm -rf "$ROOT"
mkdir -p "$LOGS"
start=$(date +%s)
say "debootstrap bookworm into $ROOT"
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$ROOT" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 \
  || { say "debootstrap failed: see $LOGS/debootstrap.log"; tail -5 "$LOGS/debootstrap.log"; exit 1; }
say "root ready in $(($(date +%s) - start)) s"

git clone -q "$repo_root" "$ROOT/root/pytest-multiarch"
say "cloned $(git -C "$repo_root" rev-parse --short HEAD) (committed files only, as CI does)"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# What every machine of this workplace has before anything is installed, and a fresh one would
# too: its network trust (local CA certificates, pip's cert setting, apt's Acquire settings).
# Nothing else of this machine's goes in.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
fi
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
for f in /etc/apt/apt.conf.d/*; do
  grep -qsE '^Acquire::(Check-|.*Proxy|https?::)' "$f" && cp "$f" "$ROOT/etc/apt/apt.conf.d/"
done

overall=0
results=()
for cmd in "${COMMANDS[@]}"; do
  log="$LOGS/$(echo "$cmd" | tr -c 'a-z0-9\n' '_').log"
  say "running: $cmd  (log: $log)"
  t0=$(date +%s)
  rc=0
  chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/pytest-multiarch && $cmd" </dev/null >"$log" 2>&1 || rc=$?
  secs=$(($(date +%s) - t0))
  tail -n 3 "$log" | sed 's/^/    | /'
  results+=("exit $rc in ${secs} s: $cmd")
  [ "$rc" -eq 0 ] || overall=1
done
for r in "${results[@]}"; do say "$r"; done
say "total $(($(date +%s) - start)) s; $([ "$overall" -eq 0 ] && echo PASS || echo FAIL)"
exit "$overall"
