#!/usr/bin/env bash
# docs/conformance.md's table: libiscsi's iscsi-test-cu in test_testcu.py's profiles against
# iscsikit-target and then against tgtd (package tgt) set up from the same LUN options, one after
# the other in this run, and the results side by side per profile and per suite.
# usage: scripts/conformance.sh [BUILD_DIR]   (default build/release; needs tgt and libiscsi-bin)
# The tgt pass fails its own baseline check, as expected; only its logs are used.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
out=$build/conformance
rm -rf "$out"
for peer in iscsikit tgt; do
  echo "=== iscsi-test-cu against $peer (logs in $out/$peer)"
  ISCSIKIT_INTEROP_PEER=$peer ISCSIKIT_INTEROP_OUT=$out/$peer \
  ISCSIKIT_TARGET_BIN=$build/bin/iscsikit-target ISCSIKIT_CLI_BIN=$build/bin/iscsikit \
    python3 tests/interop/test_testcu.py > "$out-$peer.log" 2>&1
  echo "exit $? ($out-$peer.log)"
done
python3 tests/interop/conformance_table.py "$out/iscsikit/iscsi-test-cu" "$out/tgt/iscsi-test-cu"
