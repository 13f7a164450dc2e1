#!/usr/bin/env bash
# This tree's iscsikit-target against another commit's, beside tgtd and two baselines (iperf3,
# bench/pingpong), in one run (see docs/benchmarks.md):
#   bench/compare.sh REV [--seconds 10] [--rounds 3] [--size 1G] [--reactors 1] [--workloads a,b]
#                        [--no-tgt] [--dir DIR] [--out DIR] [--remove-worktree]
# REV is anything git understands (HEAD~3, a hash, a branch). It is checked out, detached, in a git
# worktree under build/compare/<commit> and built there with the release preset; the worktree is
# kept so that the next comparison with the same commit builds nothing (--remove-worktree removes
# it at the end). This tree is built with the release preset too (only the targets needed).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
if (($# < 1)) || [[ "$1" == -* ]]; then
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then usage; exit 0; fi
  usage >&2
  exit 2
fi
rev_name=$1
shift
remove=0
args=()
while (($#)); do
  case "$1" in
    --remove-worktree) remove=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
rev=$(git rev-parse --verify --quiet "${rev_name}^{commit}") || { echo "compare.sh: no commit $rev_name" >&2; exit 2; }
driver=(python3 -B bench/compare.py --current build/release/bin/iscsikit-target --current-tree "$repo"
  --rev-binary "$repo/build/compare/$rev/build/release/bin/iscsikit-target" --rev-tree "$repo/build/compare/$rev"
  --rev "$rev_name" --cli build/release/bin/iscsikit --pingpong build/release/bin/pingpong)
"${driver[@]}" --check-args "${args[@]}"  # a typo in an option fails now, not after two builds

# This tree: the daemon, the client tool (the writes' client) and the ping-pong baseline.
cmake --preset release >/dev/null
cmake --build --preset release -j 2 --target iscsikit-target iscsikit pingpong

# REV, in its own worktree. ccache keys on paths relative to the worktree, so that the same commit
# built in another clone's build/compare/ hits the cache.
wt=$repo/build/compare/$rev
if [[ ! -d $wt ]]; then
  # --force: reuse the name when a removed worktree is still registered
  git worktree add --force --detach "$wt" "$rev" >/dev/null
fi
(
  cd "$wt"
  [[ -f CMakePresets.json ]] || { echo "compare.sh: $rev_name has no CMakePresets.json" >&2; exit 2; }
  export CCACHE_BASEDIR=$wt CCACHE_NOHASHDIR=1
  cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target iscsikit-target
)
cleanup() {
  if ((remove)); then git worktree remove --force "$wt" && echo "removed worktree $wt"; fi
}
trap cleanup EXIT

"${driver[@]}" "${args[@]}"
