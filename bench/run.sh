#!/usr/bin/env bash
# iscsikit-target vs tgtd with iscsi-perf (see docs/benchmarks.md).
#   bench/run.sh [--binary PATH] [--size 1G] [--seconds 20] [--rounds 2] [--only iscsikit|tgt] [--reactors N]
# Without --binary it uses build/release/bin/iscsikit-target, building the release preset if that
# binary is missing. Needs root for nothing; tgtd runs in the foreground on a private control port.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
args=()
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -z "$binary" ]]; then
  binary=build/release/bin/iscsikit-target
  if [[ ! -x "$binary" ]]; then
    cmake --preset release
    cmake --build --preset release -j 2 --target iscsikit-target
  fi
fi
exec python3 -B bench/bench.py --binary "$binary" "${args[@]}"
