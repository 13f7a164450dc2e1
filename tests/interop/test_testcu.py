#!/usr/bin/env python3
"""libiscsi's conformance suite against iscsikit-target, in four profiles (PROFILES below): every
family (ALL, SCSI, iSCSI, LINUX) with destructive tests on a thin, removable file LUN served on two
portals (the second is the multipath URL, for MultipathIO); ALL.ReadOnly
on a read-only LUN; the ALL family on a plain file LUN; ALL.Sanitize on a thin LUN. Each run is scored by
../shared/tools/testcu-score.py and held against tests/interop/testcu_baseline.json, a ratchet per
profile: the test fails when a test recorded as passing now skips or fails, when fewer pass, or
when more skip or fail than recorded. When the target does better it says so ("raise the
baseline"); ISCSIKIT_TESTCU_UPDATE_BASELINE=1 then rewrites the file with today's figures, which
it refuses to do while anything regressed. Commit the new baseline with the change that earned it.
The full logs stay in the build tree (see the paths printed)."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import HERE, MiB, REPO, Case, check, fail, log, require_tools

LUN_SIZE = 100 * MiB   # test-cu touches a few MiB; 100 MiB keeps whole-LUN tests quick
BASELINE = HERE / "testcu_baseline.json"
UPDATE = os.environ.get("ISCSIKIT_TESTCU_UPDATE_BASELINE") == "1"

# name: (LUN options, iscsi-test-cu -t filter or None for every family, hard timeout in seconds,
# more iscsi-test-cu options, more iscsikit-target options). A hang fails the test instead of
# blocking CI; the daemon's death ends the run 5 s later.
PROFILES = {
    # removable and thin, so the PREVENT ALLOW / START STOP UNIT and the UNMAP / WRITE SAME UNMAP /
    # GET LBA STATUS suites run instead of skipping
    "thin-removable": ("removable=true,thin=true", None, 13 * 60, [], []),
    # the ReadOnly suite needs a write-protected LUN, which the run above cannot have: every write
    # must fail with DATA PROTECT
    "read-only": ("readonly=true,thin=true", "ALL.ReadOnly", 5 * 60, [], []),
    # no options, as most users configure a LUN: the ALL family only, since SCSI, iSCSI and LINUX
    # repeat its suites (and the repeats already ran in the first profile)
    "plain": ("", "ALL", 8 * 60, [], []),
    # the Sanitize suite runs only with --allow-sanitize (-S), which the runs above leave out (there
    # it skips). Thin, so that BLOCK ERASE and CRYPTOGRAPHIC ERASE exist; sanitize_rate paces the
    # overwrite (100 MiB in about 6 s) so that Sanitize.Reset, 4 s after its start, still finds it
    # running after its aborts, resets and a new login. Its wait for the end sleeps 60 s at a time
    # without reading its socket, which pings after 30 s and a drop 30 s later would take for a
    # dead initiator (it would log in again, meet a new POWER ON unit attention, and sleep again)
    "sanitize": ("thin=true,sanitize_rate=16M", "ALL.Sanitize", 6 * 60, ["-S"], ["--nop-timeout", "120"]),
}

# Profiles whose target listens on a second portal too, given to iscsi-test-cu as the multipath
# URL (a second I_T nexus, libiscsi's second initiator name): the MultipathIO suite runs there.
MULTIPATH_PROFILES = {"thin-removable"}

# The only [SKIPPED] lines a profile may print, where the scorer's whole-test verdict is too coarse
# (ALL.ReadOnly is one test that probes every write-type command, and a skipped probe makes the
# whole test "skipped"). None any more in read-only, whose COMPARE AND WRITE and ORWRITE probes
# skipped before those commands existed: any [SKIPPED] line there fails it.
EXCUSED_SKIP_LINES = {"read-only": set()}

# Tests the scorer counts as failed although CUnit passed them, because output that follows the
# test's "passed" on the same line belongs to the suite's cleanup, not to the test. Each entry
# names the test and the exact cleanup line that is expected there, and why it is correct.
CLEANUP_ARTIFACTS = {
    "Reserve6.LUNReset": (
        r"^passed\s+\[FAILED\] PRIN command: failed with sense\. SENSE KEY:UNIT_ATTENTION\(6\) "
        r"ASCQ:BUS_DEVICE_RESET_FUNCTION_OCCURED\(0x2903\)\s*$",
        "the test's own LUN RESET leaves 29h/03h pending for its nexus, as SAM-5 6.3.3 requires "
        "(MultipathIO.Reset checks that the resetting path gets it); the suite cleanup's PERSISTENT "
        "RESERVE IN is the first command to see it"),
}


def cleanup_artifact(name, log_text):
    """True when every run of test `name` (SUITE.TEST) passed in CUnit's own words and the only
    failure text after its "passed" is the expected suite-cleanup line."""
    base = name.split("#")[0]
    if base not in CLEANUP_ARTIFACTS:
        return False
    pattern, _ = CLEANUP_ARTIFACTS[base]
    suite, test = base.split(".", 1)
    runs = []
    for section in re.split(r"^Suite: ", log_text, flags=re.M)[1:]:
        if section.split(None, 1)[0] != suite:
            continue
        runs += re.findall(r"^  Test: " + re.escape(test) + r" \.\.\.(.*?)(?=^  Test: |\Z)", section, re.M | re.S)
    if not runs:
        return False
    for body in runs:
        lines = [l for l in body.splitlines() if l.strip()]
        if any(l.startswith("FAILED") or re.match(r"^\s+\d+\. ", l) for l in lines):
            return False  # CUnit itself failed it (an assert list follows FAILED)
        verdicts = [l for l in lines if l.startswith("passed")]
        if len(verdicts) != 1 or not re.match(pattern, verdicts[0]):
            return False
    return True


def scorer():
    path = Path(os.environ.get("ISCSIKIT_TESTCU_SCORER", REPO.parent / "shared" / "tools" / "testcu-score.py"))
    if not path.exists():
        # without its scorer the conformance suite proves nothing: a failure in or out of CI
        fail(f"no scorer at {path}: it is ../shared/tools/testcu-score.py next to the repository "
             f"(or set ISCSIKIT_TESTCU_SCORER)")
    return path


def score(tool, log_path, what=None):
    cmd = [sys.executable, str(tool), str(log_path)] + (["--list", what] if what else [])
    return subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout.splitlines()


def run_profile(case, tool, name):
    """Runs iscsi-test-cu for one profile on its own target and LUN; returns today's figures
    {passed, skipped, failed, passing: [names]} with cleanup artifacts counted as passed."""
    options, suite, hard_timeout, extra, target_args = PROFILES[name]
    lun = case.path(f"{name}.img")
    with open(lun, "wb") as f:
        f.truncate(LUN_SIZE)
    second = case.port() if name in MULTIPATH_PROFILES else None
    if second:
        target_args = [*target_args, "--portal", f"127.0.0.1:{second}"]
    t = case.start(luns=[f"file:{lun}" + (f",{options}" if options else "")], args=target_args)
    urls = [t.url(0)] + ([f"iscsi://127.0.0.1:{second}/{t.iqn}/{t.lun_id(0)}"] if second else [])
    log_path = case.out / f"testcu-{name}.log"
    cmd = ["iscsi-test-cu", "-d", "-v"] + extra + (["-t", suite] if suite else []) + urls
    log(f"profile {name}: $ {' '.join(cmd)} > {log_path}  (hard timeout {hard_timeout} s)")
    started = time.monotonic()
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        hung, target_died = False, False
        while proc.poll() is None:
            time.sleep(1)
            if time.monotonic() - started > hard_timeout:
                hung = True
            elif not t.alive():
                target_died = True  # test-cu would retry its login until the hard timeout
                time.sleep(5)
            if (hung or target_died) and proc.poll() is None:
                proc.kill()
        rc = proc.wait()
    log(f"profile {name}: iscsi-test-cu exited {rc} after {time.monotonic() - started:.0f} s")
    check(not target_died and t.alive(), f"profile {name}: the target died during iscsi-test-cu "
                                         f"(exit code {t.proc.poll()})")
    check(not hung, f"profile {name}: iscsi-test-cu hung: killed after {hard_timeout} s")
    code = t.stop()
    check(code == 0, f"profile {name}: the target exited {code} after SIGTERM (want 0)")

    summary = score(tool, log_path)[-1]
    check(re.search(r"tests=\d+ passed=\d+ skipped=\d+ failed=\d+", summary),
          f"scorer printed no summary: {summary!r}")
    failed, skipped = score(tool, log_path, "fail")[:-1], score(tool, log_path, "skip")[:-1]
    passing = score(tool, log_path, "pass")[:-1]
    log_text = log_path.read_text(errors="replace")
    artifacts = [test for test in failed if cleanup_artifact(test, log_text)]
    for test in artifacts:
        print(f"scored failed but passed in CUnit, failure text from the suite cleanup: {test}: "
              f"{CLEANUP_ARTIFACTS[test.split('#')[0]][1]}")
    failed = [test for test in failed if test not in artifacts]
    passing = sorted(passing + artifacts)
    print(f"failed tests ({len(failed)}):\n  " + "\n  ".join(failed or ["none"]))
    print(f"skipped tests ({len(skipped)}):\n  " + "\n  ".join(skipped or ["none"]))
    cunit = re.search(r"^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", log_text, re.M)
    if cunit:  # CUnit's own count, for cross-checking (it counts skipped tests as passed)
        print(f"CUnit summary: tests={cunit.group(1)} ran={cunit.group(2)} passed={cunit.group(3)} "
              f"failed={cunit.group(4)}")
    if name in EXCUSED_SKIP_LINES:
        skip_lines = set(re.findall(r"\[SKIPPED\] (.*)", log_text))
        check(skip_lines <= EXCUSED_SKIP_LINES[name],
              f"profile {name}: skipped parts that are not excused: {sorted(skip_lines - EXCUSED_SKIP_LINES[name])}")
    figures = {"passed": len(passing), "skipped": len(skipped), "failed": len(failed), "passing": passing}
    print(f"SCORE {name}: {summary}; counted: passed={figures['passed']} skipped={figures['skipped']} "
          f"failed={figures['failed']}  (log {log_path})", flush=True)
    return figures


def compare(name, now, record):
    """(regressions, improvements) of one profile's figures against its record: lists of lines."""
    if record is None:  # a new profile: recorded by the first ISCSIKIT_TESTCU_UPDATE_BASELINE=1 run
        note = f"{name}: no record in {BASELINE.name}"
        return ([], [note]) if UPDATE else ([note], [])
    worse, better = [], []
    lost = sorted(set(record["passing"]) - set(now["passing"]))
    gained = sorted(set(now["passing"]) - set(record["passing"]))
    if lost:
        worse.append(f"{name}: {len(lost)} recorded passes now skip or fail: {', '.join(lost)}")
    if gained:
        better.append(f"{name}: {len(gained)} tests pass that the record does not list: {', '.join(gained)}")
    for key, sign in (("passed", 1), ("skipped", -1), ("failed", -1)):
        delta = (now[key] - record[key]) * sign
        line = f"{name}: {key} {now[key]}, recorded {record[key]}"
        if delta < 0:
            worse.append(line)
        elif delta > 0:
            better.append(line)
    return worse, better


def main():
    require_tools("iscsi-test-cu")
    tool = scorer()
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() or not UPDATE else {"profiles": {}}
    today = {}
    with Case("iscsi-test-cu") as case:
        for name in PROFILES:
            today[name] = run_profile(case, tool, name)
        regressions, improvements = [], []
        for name, now in today.items():
            worse, better = compare(name, now, baseline["profiles"].get(name))
            regressions += worse
            improvements += better
        if regressions:
            print("REGRESSED against the baseline:\n  " + "\n  ".join(regressions), flush=True)
            check(False, f"test-cu regressed against {BASELINE} (see above); the baseline is not rewritten "
                         f"while anything regressed")
        if improvements and not UPDATE:
            print(f"BETTER than the baseline: raise the baseline ({BASELINE}) in this commit:\n  "
                  + "\n  ".join(improvements) + "\n  (ISCSIKIT_TESTCU_UPDATE_BASELINE=1 ctest --test-dir "
                  "build/release -R interop.iscsi_test_cu rewrites it)", flush=True)
        if UPDATE:
            baseline["profiles"] = {name: today[name] for name in PROFILES}
            BASELINE.write_text(json.dumps(baseline, indent=1) + "\n")
            log(f"baseline rewritten: {BASELINE}")
        for name, now in today.items():
            record = baseline["profiles"].get(name, {"passed": "-", "skipped": "-", "failed": "-"})
            log(f"profile {name}: passed={now['passed']} skipped={now['skipped']} failed={now['failed']} "
                f"(recorded: passed={record['passed']} skipped={record['skipped']} failed={record['failed']})")


if __name__ == "__main__":
    main()
