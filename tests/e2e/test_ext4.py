#!/usr/bin/env python3
"""A real file system on a remote LUN, from user space: iscsikit-target serves a file LUN,
`iscsikit mount` shows it as a file, `losetup` makes it a block device, and ext4 lives on it.

1. Round trip across a target restart, once per cache mode of the LUN (`cache=kernel`,
   `cache=none`): mkfs.ext4, mount, a tree of 300 files of varied sizes and one of 64 MiB,
   checksums recorded; everything unmounted (ext4, loop, iscsikit umount); the target stopped and
   started again on the same file; mounted again the same way: every checksum matches, and
   `e2fsck -fn` on the LUN's backing file is clean.
2. The target killed (SIGKILL) mid-write and back a second later (`cache=kernel`): a writer
   fsyncs each of 300 files while the target dies once a third of them are written; every write
   and fsync of the program succeeds (the mount's session reconnects and re-issues), and after a
   remount every checksum matches and e2fsck is clean."""
import os
import threading
import time

from mountlib import (MiB, Mounts, check, compare_sums, e2fsck_clean, log, require_mount_prerequisites, run,
                      tree_sums, write_tree)

from harness import Case, sparse_file  # noqa: E402

require_mount_prerequisites()

LUN_SIZE = 512 * MiB
CACHE_MODES = ("kernel", "none")
OUTAGE = 1.0  # seconds the target stays dead


def mount_ext4(mounts, t, name, mkfs=False):
    """iscsikit mount -> losetup -> (mkfs.ext4) -> mount; returns (iscsikit dir, loop dev, ext4 dir)."""
    mp = mounts.iscsikit_mount(t.url(0), name=f"{name}-lun")
    dev = mounts.loop(os.path.join(mp, "lun0"))
    if mkfs:
        run(["mkfs.ext4", "-q", "-F", dev], timeout=300)
    return mp, dev, mounts.mount(dev, name=f"{name}-ext4")


def unmount_all(mounts, mp, dev, fs):
    mounts.umount(fs)
    mounts.unloop(dev)
    mounts.iscsikit_umount(mp)


with Case("ext4") as case, Mounts(case) as mounts:
    # 1. Round trip across a restart, per cache mode.
    for mode in CACHE_MODES:
        image = sparse_file(case.path(f"{mode}.img"), LUN_SIZE)
        spec = f"file:{image},cache={mode}"
        t = case.start([spec])
        mp, dev, fs = mount_ext4(mounts, t, f"{mode}-first", mkfs=True)
        started = time.monotonic()
        want = write_tree(fs, count=300, big=(64 * MiB,))
        log(f"cache={mode}: wrote {len(want)} files in {time.monotonic() - started:.1f} s")
        compare_sums(want, tree_sums(fs, want), f"cache={mode}, before unmounting")
        unmount_all(mounts, mp, dev, fs)
        check(t.stop() == 0, "the target did not exit 0 on SIGTERM")
        t = case.start([spec], port=t.port)
        mp, dev, fs = mount_ext4(mounts, t, f"{mode}-second")
        compare_sums(want, tree_sums(fs, want), f"cache={mode}, after the target's restart")
        unmount_all(mounts, mp, dev, fs)
        check(t.stop() == 0, "the target did not exit 0 on SIGTERM")
        e2fsck_clean(image)

    image = sparse_file(case.path("lun0.img"), LUN_SIZE)
    t = case.start([f"file:{image}"])

    # 2. SIGKILL mid-write.
    mp, dev, fs = mount_ext4(mounts, t, "third", mkfs=True)
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
    log(f"target killed (SIGKILL) with the writer a third of the way; back in {OUTAGE} s")
    time.sleep(OUTAGE)
    t = case.start([f"file:{image}"], port=t.port)
    w.join(240)
    check(not w.is_alive(), "the writer did not finish within 240 s of the restart")
    check("error" not in outcome, f"a write failed across the target's restart: {outcome.get('error')!r}")
    want = outcome["sums"]
    unmount_all(mounts, mp, dev, fs)
    mp, dev, fs = mount_ext4(mounts, t, "fourth")
    compare_sums(want, tree_sums(os.path.join(fs, "killed"), want), "after SIGKILL mid-write and a remount")
    unmount_all(mounts, mp, dev, fs)
    e2fsck_clean(image)
