#!/usr/bin/env bash
# iscsikit-target vs tgtd with iscsi-perf (see docs/benchmarks.md).
#   bench/run.sh [--binary PATH] [--size 1G] [--seconds 20] [--rounds 2] [--only iscsikit|tgt] [--reactors N]
# The initiator: `iscsikit bench` vs libiscsi's iscsi-perf, against tgtd and iscsikit-target:
#   bench/run.sh --initiator [--binary PATH] [--cli PATH] [--size 1G] [--seconds 10] [--rounds 2] [--only ...]
# Without --binary/--cli it uses build/release/bin/iscsikit-target (and bin/iscsikit), building the
# release preset if a binary is missing. Needs root for nothing; tgtd runs in the foreground on a
# private control port.
# To compare this tree with another commit (every workload, baselines, IOPS per core): bench/compare.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
cli=""
initiator=0
args=()
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --cli) cli="$2"; shift 2 ;;
    --initiator) initiator=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
build=()
if [[ -z "$binary" ]]; then
  binary=build/release/bin/iscsikit-target
  [[ -x "$binary" ]] || build+=(iscsikit-target)
fi
if ((initiator)) && [[ -z "$cli" ]]; then
  cli=build/release/bin/iscsikit
  [[ -x "$cli" ]] || build+=(iscsikit)
fi
if ((${#build[@]})); then
  cmake --preset release
  cmake --build --preset release -j 2 --target "${build[@]}"
fi
if ((initiator)); then
  exec python3 -B bench/initiator.py --binary "$binary" --cli "$cli" "${args[@]}"
fi
exec python3 -B bench/bench.py --binary "$binary" "${args[@]}"
