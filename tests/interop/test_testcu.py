#!/usr/bin/env python3
"""libiscsi's conformance suite, every family (ALL, SCSI, iSCSI, LINUX), destructive tests on,
against a sparse file LUN. Scored by ../shared/tools/testcu-score.py: the test fails when any
test-cu test failed or fewer passed than tests/interop/testcu_threshold.txt says. The full log
stays in the build tree (see the path printed)."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import HERE, MiB, REPO, Case, check, log, require_tools, skip

LUN_SIZE = 100 * MiB   # test-cu touches a few MiB; 100 MiB keeps whole-LUN tests quick
HARD_TIMEOUT = 15 * 60  # a hang fails the test instead of blocking CI
# The LUN is removable and thin so the PREVENT ALLOW / START STOP UNIT and the UNMAP / WRITE SAME
# UNMAP / GET LBA STATUS suites run instead of skipping.
LUN_OPTIONS = "removable=true,thin=true"

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
        skip(f"no scorer at {path} (set ISCSIKIT_TESTCU_SCORER)")
    return path


def score(tool, log_path, what=None):
    cmd = [sys.executable, str(tool), str(log_path)] + (["--list", what] if what else [])
    return subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout.splitlines()


def main():
    require_tools("iscsi-test-cu")
    tool = scorer()
    threshold = int((HERE / "testcu_threshold.txt").read_text().split()[0])
    with Case("iscsi-test-cu") as case:
        lun = case.path("testcu.img")
        with open(lun, "wb") as f:
            f.truncate(LUN_SIZE)
        t = case.start(luns=[f"file:{lun},{LUN_OPTIONS}"])
        log_path = case.out / "testcu.log"
        cmd = ["iscsi-test-cu", "-d", "-v", t.url(0)]
        log(f"$ {' '.join(cmd)} > {log_path}  (hard timeout {HARD_TIMEOUT} s)")
        started = time.monotonic()
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            hung, target_died = False, False
            while proc.poll() is None:
                time.sleep(1)
                if time.monotonic() - started > HARD_TIMEOUT:
                    hung = True
                elif not t.alive():
                    target_died = True  # test-cu would retry its login until the hard timeout
                    time.sleep(5)
                if (hung or target_died) and proc.poll() is None:
                    proc.kill()
            rc = proc.wait()
        log(f"iscsi-test-cu exited {rc} after {time.monotonic() - started:.0f} s; log: {log_path}")

        summary = score(tool, log_path)[-1]
        failed, skipped = score(tool, log_path, "fail")[:-1], score(tool, log_path, "skip")[:-1]
        log_text = log_path.read_text(errors="replace")
        artifacts = [name for name in failed if cleanup_artifact(name, log_text)]
        for name in artifacts:
            print(f"scored failed but passed in CUnit, failure text from the suite cleanup: {name}: "
                  f"{CLEANUP_ARTIFACTS[name.split('#')[0]][1]}")
        failed = [name for name in failed if name not in artifacts]
        print(f"failed tests ({len(failed)}):\n  " + "\n  ".join(failed or ["none"]))
        print(f"skipped tests ({len(skipped)}):\n  " + "\n  ".join(skipped or ["none"]))
        cunit = re.search(r"^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", log_path.read_text(errors="replace"), re.M)
        if cunit:  # CUnit's own count, for cross-checking (it counts skipped tests as passed)
            print(f"CUnit summary: tests={cunit.group(1)} ran={cunit.group(2)} passed={cunit.group(3)} "
                  f"failed={cunit.group(4)}")
        print(f"SCORE {summary}  (threshold: passed >= {threshold}, failed == 0)", flush=True)
        m = re.search(r"tests=(\d+) passed=(\d+) skipped=(\d+) failed=(\d+)", summary)
        check(m, f"scorer printed no summary: {summary!r}")
        passed, nfailed = int(m.group(2)), int(m.group(4)) - len(artifacts)
        check(not target_died and t.alive(), f"the target died during iscsi-test-cu (exit code {t.proc.poll()})")
        check(not hung, f"iscsi-test-cu hung: killed after {HARD_TIMEOUT} s")
        check(nfailed == 0, f"{nfailed} test-cu tests failed (see the list above and {log_path})")
        check(passed >= threshold, f"only {passed} test-cu tests passed; the threshold is {threshold}")

        # The ReadOnly suite needs a write-protected LUN, which the run above cannot have: run it
        # again on a read-only file LUN, where every write must fail with DATA PROTECT.
        ro_lun = case.path("readonly.img")
        with open(ro_lun, "wb") as f:
            f.truncate(LUN_SIZE)
        ro = case.start(luns=[f"file:{ro_lun},readonly=true,thin=true"])
        ro_log = case.out / "testcu-readonly.log"
        ro_cmd = ["iscsi-test-cu", "-d", "-v", "-t", "ALL.ReadOnly", ro.url(0)]
        log(f"$ {' '.join(ro_cmd)} > {ro_log}")
        with open(ro_log, "wb") as out:
            subprocess.run(ro_cmd, stdout=out, stderr=subprocess.STDOUT, timeout=300)
        ro_summary = score(tool, ro_log)[-1]
        ro_text = ro_log.read_text(errors="replace")
        # The suite probes every write-type command; the ones later issues add (COMPARE AND
        # WRITE, ORWRITE) report themselves as not implemented and nothing else may be skipped.
        ro_skips = set(re.findall(r"\[SKIPPED\] (.*)", ro_text))
        print(f"SCORE read-only LUN, ALL.ReadOnly: {ro_summary}; skipped parts: {sorted(ro_skips)}", flush=True)
        check("Test: ReadOnlySBC ..." in ro_text and re.search(r"failed=0$", ro_summary),
              f"ALL.ReadOnly on a read-only LUN: {ro_summary} (see {ro_log})")
        check(ro_skips <= {"COMPAREANDWRITE is not implemented.", "ORWRITE is not implemented."},
              f"ALL.ReadOnly skipped parts that are not excused: {sorted(ro_skips)} (see {ro_log})")


if __name__ == "__main__":
    main()
