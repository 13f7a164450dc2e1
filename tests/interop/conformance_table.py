#!/usr/bin/env python3
"""The table of docs/conformance.md: iscsi-test-cu's results per profile and per suite, ours beside
tgt's, from the joined profile logs that test_testcu.py leaves (testcu-PROFILE.log).
usage: conformance_table.py OURS_DIR TGT_DIR   (both: a logs/iscsi-test-cu folder; see
scripts/conformance.sh, which runs both and calls this)"""
import sys
from pathlib import Path

sys.dont_write_bytecode = True
from test_testcu import PROFILES, score, scorer


def verdicts(log):
    """{SUITE.TEST[#n]: pass|skip|fail} of one joined log, or {} when there is none."""
    if not log.exists():
        return {}
    tool = scorer()
    return {name: what for what in ("pass", "skip", "fail") for name in score(tool, log, what)[:-1]}


def counts(tests):
    return [sum(1 for v in tests if v == what) for what in ("pass", "skip", "fail")]


def cell(tests):
    return "/".join(map(str, counts(tests))) if tests else "-"


def main():
    ours_dir, tgt_dir = Path(sys.argv[1]), Path(sys.argv[2])
    print("passed/skipped/failed, as ../shared/tools/testcu-score.py counts (a skip is not a pass)\n")
    print("| profile | iscsikit | tgt |\n|---|---|---|")
    per_profile = {}
    for name in PROFILES:
        ours, tgt = verdicts(ours_dir / f"testcu-{name}.log"), verdicts(tgt_dir / f"testcu-{name}.log")
        per_profile[name] = (ours, tgt)
        print(f"| {name} | {cell(ours.values())} | {cell(tgt.values())} |")
    ours, tgt = per_profile["thin-removable"]
    suites = sorted({name.split(".")[0] for name in list(ours) + list(tgt)}, key=str.lower)
    print("\nthin-removable, per suite (its tests in every family that runs them):\n")
    print("| suite | iscsikit | tgt |\n|---|---|---|")
    for suite in suites:
        mine = [v for k, v in ours.items() if k.split(".")[0] == suite]
        theirs = [v for k, v in tgt.items() if k.split(".")[0] == suite]
        print(f"| {suite} | {cell(mine)} | {cell(theirs)} |")


if __name__ == "__main__":
    main()
