#!/usr/bin/env python3
"""`iscsikit cp` survives its target being killed mid-copy (cli-contract: "a connection lost
mid-copy is recovered by the library (reconnect + re-issue); cp must still finish with identical
data, exit 0"). 128 MiB of random data is copied with small requests (--bs 64k --qd 8) into a file
LUN, and, in a second run, out of one; when a quarter of it has landed (watched through the
allocated size of the file being written: the LUN's sparse backing file, or cp's output), the
target gets SIGKILL and, after 1 s with the port closed, is started again on the same port with the
same backing file. cp must exit 0 and the data must be byte-identical. Done against iscsikit-target,
then against tgtd."""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import MiB, Case, check, cli, cli_binary, first_difference, log, require_tools

DATA = 128 * MiB
CUT_AT = 0.25          # fraction of DATA allocated in the file being written when the target is killed
BS_TRIES = ("64k", "16k", "4k")  # smaller requests when a copy is too quick to be cut part-way
OUTAGE = 1.0          # seconds the port stays closed: cp's reconnects are refused meanwhile
FINISH_TIMEOUT = 180   # after the restart: the 60 s default reconnect timeout plus the copy itself


def allocated(path):
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def fill_random(path):
    with open(path, "wb") as f:
        for _ in range(DATA // (16 * MiB)):
            f.write(os.urandom(16 * MiB))


def sparse(path):
    with open(path, "wb") as f:
        f.truncate(DATA)


def cut_copy(case, peer, t, src, dst, watched, tag):
    """Runs `iscsikit cp SRC DST`, kills the target once CUT_AT of `watched` is allocated, restarts
    it on the same port with the same LUN, and requires cp to finish with exit 0. Returns the
    restarted target, or None when cp finished before the cut could happen (too quick)."""
    for attempt, bs in enumerate(BS_TRIES):
        if attempt:
            log(f"{tag}: cp finished before {CUT_AT:.0%} could be cut; again with --bs {bs}")
            if watched == dst:
                os.unlink(dst)
            else:
                sparse(watched)
        out_log = case.out / f"cp-{tag}-{bs}.log"
        with open(out_log, "wb") as f:
            start = time.monotonic()
            p = case.spawn([cli_binary(), "cp", src, dst, "--bs", bs, "--qd", "8", "--no-progress", "-v"],
                           stdout=f, stderr=subprocess.STDOUT)
            while p.poll() is None and allocated(watched) < CUT_AT * DATA:
                time.sleep(0.002)
            if p.poll() is not None:
                check(p.returncode == 0, f"{tag}: cp exited {p.returncode} before the cut:\n{out_log.read_text()[-3000:]}")
                continue
            t.kill()
            done, cut = allocated(watched), time.monotonic() - start
            log(f"{tag}: killed {peer} (pid {t.pid}) {cut:.2f} s into the copy with --bs {bs}, "
                f"{done / MiB:.1f} of {DATA // MiB} MiB allocated in {watched}")
            check(done < DATA, f"{tag}: the cut came too late ({done} bytes already there)")
            time.sleep(OUTAGE)
            check(p.poll() is None, f"{tag}: cp gave up (exit {p.returncode}) while the target was down "
                  f"{OUTAGE} s:\n{out_log.read_text(errors='replace')[-3000:]}")
            restart = time.monotonic()
            t2 = case.start(t.luns_spec, port=t.port, peer=peer, iqn=t.iqn, late_portal=peer == "tgt")
            t2.luns_spec = t.luns_spec
            log(f"{tag}: {peer} restarted on port {t.port} in {time.monotonic() - restart:.2f} s")
            try:
                rc = p.wait(FINISH_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
            total = time.monotonic() - start
            tail = out_log.read_text(errors="replace")[-3000:]
            log(f"{tag}: cp exit {rc} after {total:.2f} s ({total - cut:.2f} s after the cut); its output:\n{tail}")
            check(rc == 0, f"{tag}: cp exited {rc} after the target restart (want 0)")
            check(t2.alive(), f"{tag}: the restarted {peer} died")
            return t2
    raise AssertionError(f"{tag}: every copy finished before {CUT_AT:.0%} of it could be cut (bs {BS_TRIES})")


def start(case, peer, backing, port=None):
    t = case.start([f"file:{backing}"], peer=peer, port=port, iqn=f"iqn.2026-11.org.iscsikit:reconnect-{peer}")
    t.luns_spec = [f"file:{backing}"]
    return t


def run_peer(case, peer, data):
    # file -> LUN: the LUN's backing file starts sparse; its allocation shows the progress
    backing = case.path(f"{peer}-write.img")
    sparse(backing)
    t = start(case, peer, backing)
    t = cut_copy(case, peer, t, data, t.url(0), backing, f"{peer}-write")
    off = first_difference(data, backing, DATA)
    check(off is None, f"{peer}-write: the LUN's backing file differs from the data at byte {off}")
    back = case.path(f"{peer}-write-back.img")
    cli("cp", t.url(0), back, timeout=300)
    off = first_difference(data, back, DATA)
    check(off is None and os.path.getsize(back) == DATA, f"{peer}-write: read back differs at byte {off}")
    log(f"{peer}-write: 128 MiB identical on the LUN and read back")
    check(t.stop() == 0, f"{peer} did not exit 0 on SIGTERM")

    # LUN -> file: the LUN holds the data; the output file's allocation shows the progress
    backing = case.path(f"{peer}-read.img")
    with open(data, "rb") as fi, open(backing, "wb") as fo:
        while chunk := fi.read(16 * MiB):
            fo.write(chunk)
    out = case.path(f"{peer}-read-out.img")
    t = start(case, peer, backing)
    t = cut_copy(case, peer, t, t.url(0), out, out, f"{peer}-read")
    off = first_difference(data, out, DATA)
    check(off is None and os.path.getsize(out) == DATA,
          f"{peer}-read: output ({os.path.getsize(out)} bytes) differs from the LUN at byte {off}")
    log(f"{peer}-read: 128 MiB read identical across the cut")
    check(t.stop() == 0, f"{peer} did not exit 0 on SIGTERM")


def main():
    require_tools("tgtd", "tgtadm")
    with Case("initiator-reconnect") as case:
        data = case.path("data.bin")
        fill_random(data)
        failures = []
        for peer in ("iscsikit", "tgt"):
            try:
                run_peer(case, peer, data)
            except AssertionError as e:
                log(f"FAILED {peer}: {e}")
                failures.append(f"{peer}: {e}")
        if failures:
            raise AssertionError("\n\n".join(failures))


if __name__ == "__main__":
    main()
