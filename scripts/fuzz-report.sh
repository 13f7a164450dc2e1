#!/usr/bin/env bash
# fuzz-report.sh LOG: what a failed fuzzer run printed that explains it, for a CI log that keeps
# little: the report from its first line (sanitizer error, failed invariant, libFuzzer's own
# error), its stack frames first, then the crashing input. The last 60 lines when no report is there.
log=$1
first=$(grep -n -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz invariant failed' "$log" | cut -d: -f1)
if [[ -z $first ]]; then
  tail -60 "$log"
  exit 0
fi
# frames beyond the 40th are libFuzzer's driver; the shadow-byte legend explains nothing here
sed -n "$((first > 3 ? first - 3 : 1)),\$p" "$log" | grep -v -E '^ +0x[0-9a-f]+: |^  [A-Z][a-z ].*: +[0-9a-f ]+$' | head -110
echo '...'
grep -E '^(MS:|artifact_prefix|Base64:)' "$log"
