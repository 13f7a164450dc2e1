#!/usr/bin/env bash
# Runs the clang-tidy checks of .clang-tidy (every finding an error) over library and tool sources,
# compiled as the fuzz preset compiles them (clang 14: the compiler clang-tidy understands).
#   scripts/check-tidy.sh            src/core, src/scsi, src/backstore, src/cache: the layers without Asio
#                                    (what CI runs; about 1.5 minutes on 2 cores)
#   scripts/check-tidy.sh --all      every source under src/: about 20 minutes on 2 cores, since
#                                    each file that includes Asio takes clang-tidy some 30 s; run it
#                                    before committing a change to the other layers
#   scripts/check-tidy.sh FILE...    those files
set -euo pipefail
cd "$(dirname "$0")/.."
command -v run-clang-tidy >/dev/null || { echo "clang-tidy is missing: run scripts/deps.sh" >&2; exit 1; }
cmake --preset fuzz >/dev/null  # configure only: writes build/fuzz/compile_commands.json
mapfile -t known < <(python3 -c '
import json
for e in json.load(open("build/fuzz/compile_commands.json")):
    if "/src/" in e["file"]: print(e["file"])' | sort -u)
if [ "${1:-}" = "--all" ]; then
  files=("${known[@]}")
elif (($#)); then
  files=("$@")
else
  files=()
  for k in "${known[@]}"; do
    case "$k" in "$PWD"/src/core/* | "$PWD"/src/scsi/* | "$PWD"/src/backstore/* | "$PWD"/src/cache/*) files+=("$k") ;; esac
  done
fi
((${#files[@]})) || { echo "no sources to check"; exit 0; }
echo "clang-tidy over ${#files[@]} sources"
run-clang-tidy -p build/fuzz -j "${ISCSIKIT_JOBS:-2}" -quiet "${files[@]}" >build/fuzz/clang-tidy.log 2>&1 || true
if grep -E "(warning|error):" build/fuzz/clang-tidy.log; then
  echo "clang-tidy findings above (full log: build/fuzz/clang-tidy.log)" >&2
  exit 1
fi
echo "clang-tidy: no findings"
