#!/usr/bin/env bash
# Installs every Debian 12 package iscsikit needs to build, test and benchmark: one list, one place.
# Safe to run again; skips apt-get when everything is already installed.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config ccache
  libasio-dev liburing-dev libisal-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libfuse3-dev libssl-dev
  # tests, fuzzers, sanitizers
  libexpected-dev libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev clang-format clang-tidy python3
  # real peers
  libiscsi-bin tgt qemu-utils qemu-block-extra e2fsprogs fuse3
  # benchmark baselines (bench/compare.sh) and peers (bench/mount.py: fio on qemu-nbd + nbdfuse)
  iperf3 fio libnbd-bin
  # security and operations: sd_notify, the unit's verifier, the metrics checker (promtool)
  libsystemd-dev systemd prometheus
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
