#!/usr/bin/env python3
"""libiscsi's conformance suite against iscsikit-target, in the profiles below (PROFILES), each
on 100 MiB sparse file LUNs of its own. The first three are issue 11's "Done when" profiles, run
with `-d -S` as it says:
  thin-removable: every family (ALL, SCSI, iSCSI, LINUX; 615 tests) on a thin, removable LUN served
    on two portals, the second given as the multipath URL;
  removable: ALL.PreventAllow, ALL.StartStopUnit and ALL.NoMedia on a removable LUN;
  read-only: ALL.ReadOnly on a write-protected LUN;
and plain: the ALL family on a LUN without options, as most users configure one.
A profile runs as parts, one iscsi-test-cu run per family filter, each on its own daemon, several
at a time (iscsi-test-cu sends one command at a time and mostly waits); the parts' logs, joined in
order, make the profile's log. Each profile's log is scored by ../shared/tools/testcu-score.py and
held against tests/interop/testcu_baseline.json, a ratchet per profile: the test fails when a test
recorded as passing now skips or fails, when fewer pass, or when more skip or fail than recorded.
In the Done-when profiles any failure fails the test, and so does any skip but those
KNOWN_SKIPS names with the reason it cannot pass yet. When the target does better it says so
("raise the baseline"); ISCSIKIT_TESTCU_UPDATE_BASELINE=1 then rewrites the file with today's
figures, which it refuses to do while anything regressed. Commit the new baseline with the change
that earned it. The full logs stay in the build tree (see the paths printed)."""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import HERE, MiB, OUT_ROOT, REPO, Case, TgtTarget, check, fail, log, require_tools

LUN_SIZE = 100 * MiB   # test-cu touches a few MiB; 100 MiB keeps whole-LUN tests quick
BASELINE = HERE / "testcu_baseline.json"
UPDATE = os.environ.get("ISCSIKIT_TESTCU_UPDATE_BASELINE") == "1"
# parts that run at once: 2 cores, and a part mostly waits for one command at a time
PARALLEL = int(os.environ.get("ISCSIKIT_TESTCU_JOBS", "4"))

# The Sanitize suite's needs, where it runs (with -S): thin, so that BLOCK ERASE and CRYPTOGRAPHIC
# ERASE exist; sanitize_rate paces the overwrite (100 MiB in about 6 s) so that Sanitize.Reset, 4 s
# after its start, still finds it running after its aborts, resets and a new login. Its wait for
# the end sleeps 60 s at a time without reading its socket, which pings after 30 s and a drop 30 s
# later would take for a dead initiator (it would log in again, meet a new POWER ON unit attention,
# and sleep again): --nop-timeout 120.
SANITIZE_LUN = "thin=true,sanitize_rate=16M"
SANITIZE_TARGET = ["--nop-timeout", "120"]

# Why a suite runs without the multipath URL where the others have one. Sanitize: libiscsi 1.19's
# Sanitize.Reservations takes a RESERVE(6) through the second session and leaves it held; with a
# multipath URL that session stays logged in until the suite ends (without one, its clone logs
# out, which releases the reservation), so the next test, Sanitize.Reset, meets RESERVATION
# CONFLICT on any target that keeps a RESERVE(6) as SPC-2 §7.21 requires.
SINGLE_PATH_SUITES = {"Sanitize"}


class Profile:
    def __init__(self, lun, filters, timeout, testcu=(), target=(), multipath=False, single_path=(),
                 done_when=None):
        self.lun = lun                # LUN options
        self.filters = filters        # iscsi-test-cu -t filters (a family, or suites), one part each
        self.timeout = timeout        # hard timeout of one part in seconds: a hang fails the test
        self.testcu = list(testcu)    # more iscsi-test-cu options
        self.target = list(target)    # more iscsikit-target options
        # a second portal, given to iscsi-test-cu as the multipath URL (a second I_T nexus,
        # libiscsi's second initiator name): the MultipathIO suite runs
        self.multipath = multipath
        # suites that run in parts of their own, without the multipath URL (SINGLE_PATH_SUITES)
        self.single_path = set(single_path)
        # a Done-when profile: the suites (of other Done-when profiles) allowed to skip here
        self.done_when = done_when


PROFILES = {
    # The families repeat ALL's suites; each is a part. Removable and thin, so that the PREVENT
    # ALLOW / START STOP UNIT and the UNMAP / WRITE SAME UNMAP / GET LBA STATUS suites run too.
    "thin-removable": Profile("removable=true," + SANITIZE_LUN, ["ALL", "SCSI", "iSCSI", "LINUX"], 15 * 60,
                              ["-S"], SANITIZE_TARGET, multipath=True, single_path=SINGLE_PATH_SUITES,
                              done_when={"ReadOnly"}),
    # thin too, since NoMedia.NoMediaSBC probes UNMAP without a medium
    "removable": Profile("removable=true,thin=true", ["ALL.PreventAllow,ALL.StartStopUnit,ALL.NoMedia"], 5 * 60,
                         ["-S"], done_when=set()),
    # every write must fail with DATA PROTECT, which the runs above cannot have
    "read-only": Profile("readonly=true,thin=true", ["ALL.ReadOnly"], 5 * 60, ["-S"], done_when=set()),
    # no options: the ALL family only, since SCSI, iSCSI and LINUX repeat its suites
    "plain": Profile("", ["ALL"], 10 * 60),
}

# Tests that skip in a Done-when profile and cannot pass yet, each with the reason. A skip not
# listed here fails the test; a listed test that no longer skips is reported, to be removed.
KNOWN_SKIPS = {
    **{name: "needs more than one logical block per physical block (LBPPBE >= 1); with it, libiscsi "
             "1.19's GetLBAStatus.UnmapSingle cannot pass on a target that follows SBC-3 (its second loop "
             "wants the first descriptor to start after the LBA asked for: docs/conformance.md)"
       for name in ("CompareAndWrite.InvalidDataOutSize", "WriteSame10.InvalidDataOutSize",
                    "WriteSame16.InvalidDataOutSize", "WriteSame10.UnmapUnaligned", "WriteSame16.UnmapUnaligned")},
}

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


_suites = {}


def suites_of(family):
    """The suites of an iscsi-test-cu family, in its order (iscsi-test-cu -l)."""
    if not _suites:
        listing = subprocess.run(["iscsi-test-cu", "-l"], stdout=subprocess.PIPE, text=True, check=True).stdout
        for line in listing.split():
            if line.count(".") == 1:
                f, suite = line.split(".")
                _suites.setdefault(f, []).append(suite)
    check(family in _suites, f"iscsi-test-cu -l lists no family {family!r}")
    return _suites[family]


def parts_of(name):
    """Profile `name`'s parts, in the order their logs join: (label, -t filter, with the multipath
    URL). A family of a multipath profile splits into its other suites and, each apart, its
    single-path suites."""
    profile = PROFILES[name]
    parts = []
    for f in profile.filters:
        apart = [suite for suite in suites_of(f) if suite in profile.single_path] if "." not in f else []
        if not apart:
            parts.append((f, f, profile.multipath))
            continue
        rest = ",".join(f"{f}.{suite}" for suite in suites_of(f) if suite not in profile.single_path)
        parts.append((f"{f} but {', '.join(apart)}", rest, True))
        parts += [(f"{f}.{suite}, single path", f"{f}.{suite}", False) for suite in apart]
    return parts


def part_dir(name, index):
    return OUT_ROOT / "iscsi-test-cu" / f"{name}-{index}"


def run_part(name, index):
    """One part of profile `name` (a child process of this script): its own target and LUN, one
    iscsi-test-cu run of its filter, logged to part_dir/testcu.log; exits non-zero when the run
    hung or the target died or did not stop cleanly."""
    profile = PROFILES[name]
    _, suite, multipath = parts_of(name)[index]
    with Case(f"iscsi-test-cu-{name}-{index}", out=part_dir(name, index)) as case:
        lun = case.path(f"{name}.img")
        with open(lun, "wb") as f:
            f.truncate(LUN_SIZE)
        target_args = list(profile.target)
        second = case.port() if multipath else None
        if second:
            target_args += ["--portal", f"127.0.0.1:{second}"]
        t = case.start(luns=[f"file:{lun}" + (f",{profile.lun}" if profile.lun else "")], args=target_args)
        if second and isinstance(t, TgtTarget):  # ISCSIKIT_INTEROP_PEER=tgt: tgtd takes no --portal
            t.add_portal(f"127.0.0.1:{second}")
        urls = [t.url(0)] + ([f"iscsi://127.0.0.1:{second}/{t.iqn}/{t.lun_id(0)}"] if second else [])
        log_path = case.out / "testcu.log"
        cmd = ["iscsi-test-cu", "-d", "-v"] + profile.testcu + ["-t", suite] + urls
        log(f"profile {name} part {index}: $ {' '.join(cmd)} > {log_path}  (hard timeout {profile.timeout} s)")
        started = time.monotonic()
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            hung, target_died = False, False
            while proc.poll() is None:
                time.sleep(1)
                if time.monotonic() - started > profile.timeout:
                    hung = True
                elif not t.alive():
                    target_died = True  # test-cu would retry its login until the hard timeout
                    time.sleep(5)
                if (hung or target_died) and proc.poll() is None:
                    proc.kill()
            rc = proc.wait()
        log(f"profile {name} part {index}: iscsi-test-cu exited {rc} after {time.monotonic() - started:.0f} s")
        check(not target_died and t.alive(), f"profile {name} part {index}: the target died during "
                                             f"iscsi-test-cu (exit code {t.proc.poll()})")
        check(not hung, f"profile {name} part {index}: iscsi-test-cu hung: killed after {profile.timeout} s")
        code = t.stop()
        check(code == 0, f"profile {name} part {index}: the target exited {code} after SIGTERM (want 0)")


def run_parts(case):
    """Runs every part of every profile, PARALLEL at a time, longest first, each as a child process;
    prints each child's output when it ends. Returns the parts that failed."""
    labels = {(name, i): part[0] for name in PROFILES for i, part in enumerate(parts_of(name))}
    # Sanitize (Sanitize.Reset sleeps twice 60 s), then the whole families, take longest
    parts = sorted(labels, key=lambda part: ("Sanitize" not in labels[part], " but " not in labels[part]))

    def child(part):
        name, index = part
        out = case.out / f"{name}-{index}.out"
        with open(out, "wb") as f:
            rc = subprocess.run([sys.executable, __file__, "--part", name, str(index)], stdout=f,
                                stderr=subprocess.STDOUT).returncode
        return part, rc, out.read_text(errors="replace")

    failed = []
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        for (name, index), rc, output in pool.map(child, parts):
            print(f"--- profile {name} part {index} ({labels[name, index]}): "
                  f"exit {rc}\n{output}", end="", flush=True)
            if rc != 0:
                failed.append(f"{name} part {index}")
    return failed


def score_profile(case, tool, name):
    """Joins the logs of profile `name`'s parts, in order, into one and scores it; returns today's
    figures {passed, skipped, failed, passing: [names]} with cleanup artifacts counted as passed."""
    log_path = case.out / f"testcu-{name}.log"
    with open(log_path, "wb") as out:
        for index in range(len(parts_of(name))):
            out.write((part_dir(name, index) / "testcu.log").read_bytes())

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
    print(f"profile {name}: failed tests ({len(failed)}):\n  " + "\n  ".join(failed or ["none"]))
    print(f"profile {name}: skipped tests ({len(skipped)}):\n  " + "\n  ".join(skipped or ["none"]))
    for cunit in re.finditer(r"^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", log_text, re.M):
        # CUnit's own count per part, for cross-checking (it counts skipped tests as passed)
        print(f"CUnit summary: tests={cunit.group(1)} ran={cunit.group(2)} passed={cunit.group(3)} "
              f"failed={cunit.group(4)}")
    unexcused = []
    if name in EXCUSED_SKIP_LINES:
        unexcused = sorted(set(re.findall(r"\[SKIPPED\] (.*)", log_text)) - EXCUSED_SKIP_LINES[name])
    figures = {"passed": len(passing), "skipped": len(skipped), "failed": len(failed), "passing": passing,
               "skipping": skipped, "failing": failed, "unexcused": unexcused}
    print(f"SCORE {name}: {summary}; counted: passed={figures['passed']} skipped={figures['skipped']} "
          f"failed={figures['failed']}  (log {log_path})", flush=True)
    return figures


def done_when(name, now):
    """Issue 11's rule for a Done-when profile: lines saying what breaks it (any failure; any skip
    outside the suites it leaves to other profiles and KNOWN_SKIPS), and lines saying which known
    skips are still there."""
    allowed = PROFILES[name].done_when
    broken = [f"{name}: {test} failed" for test in now["failing"]]
    broken += [f"{name}: a skipped part that is not excused: {line}" for line in now["unexcused"]]
    known = []
    for test in now["skipping"]:
        base = test.split("#")[0]
        if base.split(".")[0] in allowed:
            continue
        if base in KNOWN_SKIPS:
            known.append(test)
        else:
            broken.append(f"{name}: {test} skipped")
    return broken, known


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
    if sys.argv[1:2] == ["--part"]:
        run_part(sys.argv[2], int(sys.argv[3]))
        return
    require_tools("iscsi-test-cu")
    tool = scorer()
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() or not UPDATE else {"profiles": {}}
    with Case("iscsi-test-cu") as case:
        failed_parts = run_parts(case)
        check(not failed_parts, f"parts failed (see their output above): {', '.join(failed_parts)}")
        today = {name: score_profile(case, tool, name) for name in PROFILES}
        regressions, improvements, broken, known = [], [], [], []
        for name, now in today.items():
            worse, better = compare(name, now, baseline["profiles"].get(name))
            regressions += worse
            improvements += better
            if PROFILES[name].done_when is not None:
                b, k = done_when(name, now)
                broken += b
                known += k
        if known:
            reasons = {}
            for test in known:
                reasons.setdefault(KNOWN_SKIPS[test.split("#")[0]], []).append(test)
            print(f"NOT DONE: {len(known)} tests of the Done-when profiles still skip, for the reasons KNOWN_SKIPS "
                  f"gives:" + "".join(f"\n  {', '.join(tests)}:\n    {why}" for why, tests in reasons.items()))
        stale = sorted(set(KNOWN_SKIPS) - {test.split("#")[0] for test in known})
        if stale:
            print("KNOWN_SKIPS lists tests that no longer skip: remove them:\n  " + "\n  ".join(stale))
        if regressions:
            print("REGRESSED against the baseline:\n  " + "\n  ".join(regressions), flush=True)
        if broken:
            print("BREAKS the Done-when profiles:\n  " + "\n  ".join(broken), flush=True)
        check(not broken, "a Done-when profile has a failed test, or a skipped one that KNOWN_SKIPS does not list")
        check(not regressions, f"test-cu regressed against {BASELINE} (see above); the baseline is not rewritten "
                               f"while anything regressed")
        if improvements and not UPDATE:
            print(f"BETTER than the baseline: raise the baseline ({BASELINE}) in this commit:\n  "
                  + "\n  ".join(improvements) + "\n  (ISCSIKIT_TESTCU_UPDATE_BASELINE=1 ctest --test-dir "
                  "build/release -R interop.iscsi_test_cu rewrites it)", flush=True)
        if UPDATE:
            keys = ("passed", "skipped", "failed", "passing")
            baseline["profiles"] = {name: {key: today[name][key] for key in keys} for name in PROFILES}
            BASELINE.write_text(json.dumps(baseline, indent=1) + "\n")
            log(f"baseline rewritten: {BASELINE}")
        for name, now in today.items():
            record = baseline["profiles"].get(name, {"passed": "-", "skipped": "-", "failed": "-"})
            log(f"profile {name}: passed={now['passed']} skipped={now['skipped']} failed={now['failed']} "
                f"(recorded: passed={record['passed']} skipped={record['skipped']} failed={record['failed']})")


if __name__ == "__main__":
    main()
