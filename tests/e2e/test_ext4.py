#!/usr/bin/env python3
"""A real file system on a remote LUN, from user space: iscsikit-target serves a file LUN,
`iscsikit mount` shows it as a file, `losetup` makes it a block device, and ext4 lives on it.

Round trip across a target restart, once per cache mode of the LUN (`cache=kernel`, `none`,
`writethrough`, `writeback`): mkfs.ext4, mount, a tree of 300 files of varied sizes and one of
64 MiB, checksums recorded; everything unmounted (ext4, loop, iscsikit umount); the target stopped
(SIGTERM: a write-back cache writes everything back first) and started again on the same file;
mounted again the same way: every checksum matches, and `e2fsck -fn` on the LUN's backing file is
clean. The target killed mid-write: test_ext4_crash.py."""
import os
import time

from mountlib import (MiB, Mounts, check, compare_sums, e2fsck_clean, log, mount_ext4, require_mount_prerequisites,
                      run, tree_sums, unmount_all, write_tree)

from harness import Case, sparse_file  # noqa: E402

require_mount_prerequisites()

LUN_SIZE = 512 * MiB
CACHE_MODES = ("kernel", "none", "writethrough", "writeback")


with Case("ext4") as case, Mounts(case) as mounts:
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
