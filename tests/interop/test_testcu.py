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
        t = case.start(luns=[f"file:{lun}"])
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
        print(f"failed tests ({len(failed)}):\n  " + "\n  ".join(failed or ["none"]))
        print(f"skipped tests ({len(skipped)}):\n  " + "\n  ".join(skipped or ["none"]))
        cunit = re.search(r"^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", log_path.read_text(errors="replace"), re.M)
        if cunit:  # CUnit's own count, for cross-checking (it counts skipped tests as passed)
            print(f"CUnit summary: tests={cunit.group(1)} ran={cunit.group(2)} passed={cunit.group(3)} "
                  f"failed={cunit.group(4)}")
        print(f"SCORE {summary}  (threshold: passed >= {threshold}, failed == 0)", flush=True)
        m = re.search(r"tests=(\d+) passed=(\d+) skipped=(\d+) failed=(\d+)", summary)
        check(m, f"scorer printed no summary: {summary!r}")
        passed, nfailed = int(m.group(2)), int(m.group(4))
        check(not target_died and t.alive(), f"the target died during iscsi-test-cu (exit code {t.proc.poll()})")
        check(not hung, f"iscsi-test-cu hung: killed after {HARD_TIMEOUT} s")
        check(nfailed == 0, f"{nfailed} test-cu tests failed (see the list above and {log_path})")
        check(passed >= threshold, f"only {passed} test-cu tests passed; the threshold is {threshold}")


if __name__ == "__main__":
    main()
