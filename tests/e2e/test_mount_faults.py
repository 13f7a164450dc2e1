#!/usr/bin/env python3
"""`iscsikit mount` when things go wrong: never a hang, never a stale mount point.

1. A mount that cannot log in (nothing listens on the port; an unknown target; a LUN the target
   does not have) exits 1 within the login timeout and a few seconds, with exactly one stderr line
   `iscsikit: …` naming the reason, and leaves nothing mounted. A mount point that is missing or
   not a directory is refused the same way before anything starts.
2. The target gone for longer than --reconnect-timeout: a read that was waiting fails with EIO
   within the timeout and a few seconds, a later read fails with EIO at once, and iscsikit umount
   still unmounts (exit 0) and the mount process ends."""
import errno
import mmap
import os
import time

from mountlib import MiB, Mounts, check, cli, log, mounted, require_mount_prerequisites

from harness import Case  # noqa: E402

require_mount_prerequisites()

RECONNECT = 3.0


def refused(case, url, what, extra=(), mp=None):
    if mp is None:
        mp = case.path("never")
        os.makedirs(mp, exist_ok=True)
    r = cli("mount", url, mp, "--login-timeout", "2", *extra, check=False, timeout=30)
    lines = [line for line in r.err.splitlines() if line.strip()]
    check(r.rc == 1, f"{what}: exit {r.rc} (want 1): {r.describe()}")
    check(len(lines) == 1 and lines[0].startswith("iscsikit: "), f"{what}: stderr is not one line: {r.err!r}")
    check(r.seconds < 10, f"{what}: took {r.seconds:.1f} s")
    check(not (os.path.isdir(mp) and mounted(mp)), f"{what}: {mp} is mounted")
    log(f"{what}: exit 1 in {r.seconds:.1f} s: {lines[0]}")


with Case("mount_faults") as case, Mounts(case) as mounts:
    t = case.start(["ram:16M"])
    refused(case, f"iscsi://127.0.0.1:{case.port()}/{t.iqn}", "nothing listening")
    refused(case, f"iscsi://{t.portal}/iqn.2026-11.org.iscsikit:nobody", "unknown target")
    refused(case, f"iscsi://{t.portal}/{t.iqn}/7", "a LUN the target does not have")
    refused(case, t.url(0), "a missing mount point", mp=case.path("missing/dir"))
    open(case.path("file"), "w").close()
    refused(case, t.url(0), "a mount point that is a file", mp=case.path("file"))

    mp = mounts.iscsikit_mount(t.url(0), args=("--reconnect-timeout", str(RECONNECT), "--timeout", "5"))
    path = os.path.join(mp, "lun0")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, MiB)
    check(os.preadv(fd, [buf], 0) == MiB, "a read before the outage")
    t.kill()
    log(f"target killed; reads must fail with EIO within {RECONNECT} s and a few")

    def timed_read():
        start = time.monotonic()
        try:
            os.preadv(fd, [buf], MiB)
        except OSError as e:
            return e.errno, time.monotonic() - start
        return 0, time.monotonic() - start

    code, seconds = timed_read()
    check(code == errno.EIO, f"the read during the outage: {os.strerror(code) if code else 'succeeded'}")
    check(seconds < RECONNECT + 10, f"the read took {seconds:.1f} s to fail")
    log(f"the read failed with EIO after {seconds:.1f} s")
    code, seconds = timed_read()
    check(code == errno.EIO and seconds < 2, f"a later read: {os.strerror(code) if code else 'ok'} in {seconds:.1f} s")
    log(f"a later read failed with EIO in {seconds:.2f} s")
    os.close(fd)
    mounts.iscsikit_umount(mp)
    log("the mount whose target is gone unmounted cleanly")
