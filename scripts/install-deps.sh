#!/usr/bin/env bash
# install-deps.sh: installs the Debian packages Berth needs to build, test and
# run its demo. Idempotent and quiet when everything is already there; it only
# calls apt-get for what is missing. Run as root (CI and the demo machine are).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libuv1-dev libjansson-dev libraft-dev libyaml-dev libsqlite3-dev liblz4-dev
  node-llhttp
  curl jq iproute2 busybox-static wrk python3 gnuplot-nox
  clang libclang-rt-14-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/berth-apt.log 2>&1; then
  $SUDO apt-get update -q >>/tmp/berth-apt.log 2>&1 || true
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/berth-apt.log 2>&1 || {
    echo "install-deps: apt-get failed, see /tmp/berth-apt.log" >&2; tail -20 /tmp/berth-apt.log >&2; exit 1; }
fi
