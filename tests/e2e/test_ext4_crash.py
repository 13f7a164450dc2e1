#!/usr/bin/env python3
"""The target killed (SIGKILL) under a file system on a remote LUN, and what survives it.

1. Mid-write, with `cache=kernel` and with `cache=writethrough`: a writer fsyncs each of 300
   files while the target dies once a third of them are written and is back a second later;
   every write and fsync of the program succeeds (the mount's session reconnects and re-issues),
   and after a remount every checksum matches and `e2fsck -fn` is clean.
2. `cache=writeback` (a volatile write cache, as WCE=1 says): what was acknowledged before a
   SYNCHRONIZE CACHE, or written with FUA, survives SIGKILL:
   - a tree written on ext4 and `sync`ed (syncfs: the loop device's flush, the mount's fsync,
     SYNCHRONIZE CACHE), then SIGKILL at once: after a restart and a remount every checksum
     matches and e2fsck is clean;
   - blocks written by qemu-io with FUA (and no SYNCHRONIZE CACHE after them), SIGKILL, restart:
     every one reads back."""
import os
import subprocess
import threading
import time

from mountlib import (MiB, Mounts, check, compare_sums, e2fsck_clean, log, mount_ext4, require_mount_prerequisites,
                      run, tree_sums, unmount_all, write_tree)

from harness import Case, require_tools, sparse_file  # noqa: E402

require_mount_prerequisites()

LUN_SIZE = 512 * MiB
OUTAGE = 1.0  # seconds the target stays dead


def killed_mid_write(case, mounts, mode):
    image = sparse_file(case.path(f"{mode}.img"), LUN_SIZE)
    spec = f"file:{image},cache={mode}"
    t = case.start([spec])
    mp, dev, fs = mount_ext4(mounts, t, f"{mode}-first", mkfs=True)
    third = threading.Event()
    outcome = {}

    def writer():
        try:
            outcome["sums"] = write_tree(os.path.join(fs, "killed"), count=300, seed=2, fsync_each=True,
                                         progress=lambda i: i >= 100 and third.set())
        except Exception as e:  # reported by the main thread
            outcome["error"] = e
        third.set()

    w = threading.Thread(target=writer)
    w.start()
    check(third.wait(120), "the writer did not get a third of the way within 120 s")
    check("error" not in outcome, f"the writer failed before the cut: {outcome.get('error')}")
    t.kill()
    check("sums" not in outcome, "the writer finished before the target was killed")
    log(f"cache={mode}: target killed (SIGKILL) with the writer a third of the way; back in {OUTAGE} s")
    time.sleep(OUTAGE)
    t = case.start([spec], port=t.port)
    w.join(240)
    check(not w.is_alive(), "the writer did not finish within 240 s of the restart")
    check("error" not in outcome, f"a write failed across the target's restart: {outcome.get('error')!r}")
    want = outcome["sums"]
    unmount_all(mounts, mp, dev, fs)
    mp, dev, fs = mount_ext4(mounts, t, f"{mode}-second")
    compare_sums(want, tree_sums(os.path.join(fs, "killed"), want), f"cache={mode}: after SIGKILL mid-write")
    unmount_all(mounts, mp, dev, fs)
    check(t.stop() == 0, "the target did not exit 0 on SIGTERM")
    e2fsck_clean(image)


def writeback_sync_survives(case, mounts):
    image = sparse_file(case.path("writeback-sync.img"), LUN_SIZE)
    spec = f"file:{image},cache=writeback"
    t = case.start([spec])
    mp, dev, fs = mount_ext4(mounts, t, "wb-first", mkfs=True)
    want = write_tree(fs, count=200, seed=3, big=(16 * MiB,))  # ends with os.sync()
    run(["sync", "-f", fs])
    t.kill()  # at once: whatever is still dirty in the target's cache was not acknowledged as durable
    log("cache=writeback: tree written and synced, target killed (SIGKILL)")
    t = case.start([spec], port=t.port)
    unmount_all(mounts, mp, dev, fs)
    mp, dev, fs = mount_ext4(mounts, t, "wb-second")
    compare_sums(want, tree_sums(fs, want), "cache=writeback: synced, then SIGKILL")
    unmount_all(mounts, mp, dev, fs)
    check(t.stop() == 0, "the target did not exit 0 on SIGTERM")
    e2fsck_clean(image)


def writeback_fua_survives(case):
    """qemu-io (QEMU's iSCSI client) writes with FUA (`write -f`, WRITE(16) with FUA: the target
    reports DPOFUA) and then sleeps, holding its session open: its flush at close, a SYNCHRONIZE
    CACHE, never comes, because the target is killed first."""
    require_tools("qemu-io")
    image = sparse_file(case.path("writeback-fua.img"), 64 * MiB)
    spec = f"file:{image},cache=writeback"
    t = case.start([spec])
    writes = [((i * 37 % 1024) * 65536 + (i % 8) * 4096, 4096 * (1 + i % 4), 0x11 + i) for i in range(32)]
    commands = []
    for offset, length, byte in writes:
        commands += ["-c", f"write -f -P {byte:#x} {offset} {length}"]
    # line-buffered, so each "wrote" line arrives as its write completes
    proc = subprocess.Popen(["stdbuf", "-oL", "qemu-io", "-f", "raw", *commands, "-c", "sleep 60000", t.url(0)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        done = 0
        deadline = time.monotonic() + 60
        while done < len(writes) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            check("error" not in line.lower() and "failed" not in line.lower(), f"qemu-io: {line.strip()}")
            done += line.startswith("wrote ")
        check(done == len(writes), f"qemu-io acknowledged {done} of {len(writes)} FUA writes")
        t.kill()
        log(f"cache=writeback: {done} FUA writes acknowledged to qemu-io, target killed (SIGKILL)")
    finally:
        proc.kill()
        proc.wait()
    t = case.start([spec], port=t.port)
    commands = []
    for offset, length, byte in writes:
        commands += ["-c", f"read -P {byte:#x} {offset} {length}"]
    r = run(["qemu-io", "-f", "raw", "-r", *commands, t.url(0)], check=False, timeout=120)
    check(r.returncode == 0 and "Pattern verification failed" not in r.stdout,
          f"FUA writes lost by SIGKILL:\n{r.stdout[-3000:]}")
    log(f"cache=writeback: all {len(writes)} FUA writes read back after the restart")
    check(t.stop() == 0, "the target did not exit 0 on SIGTERM")


with Case("ext4_crash") as case, Mounts(case) as mounts:
    for mode in ("kernel", "writethrough"):
        killed_mid_write(case, mounts, mode)
    writeback_sync_survives(case, mounts)
    writeback_fua_survives(case)
