#!/usr/bin/env bash
# Installs the Debian 12 packages osiiso needs to build and test. Idempotent: when everything is
# already installed it only asks dpkg and returns. Must run as root (or with sudo available).
set -euo pipefail

packages=(build-essential cmake ninja-build g++ pkgconf libboost-all-dev libfmt-dev catch2 libbenchmark-dev libsqlite3-dev
  openmpi-bin libopenmpi-dev libboost-mpi-dev)

installed=" $(dpkg-query -W -f='${db:Status-Status}:${Package} ' "${packages[@]}" 2>/dev/null || true)"
missing=()
for pkg in "${packages[@]}"; do
  [[ "$installed" == *" installed:$pkg "* ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup.sh: missing packages (${missing[*]}); run this script as root to install them" >&2
    exit 1
  fi
fi

echo "setup.sh: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
  >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup.sh: apt-get failed" >&2
  exit 1
fi
