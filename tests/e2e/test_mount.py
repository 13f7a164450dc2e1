#!/usr/bin/env python3
"""`iscsikit mount`: each LUN a file, and the file behaves as docs/iscsikit.md says.

A target with a 64 MiB file LUN, a 16 MiB RAM LUN with 4096-byte blocks and a thin 32 MiB file
LUN is mounted (daemonized). Checked: the directory lists lun0..lun2 with the LUNs' sizes; stat
and statfs; writes at odd offsets and lengths (read-modify-write of partial blocks) land in the
backing file byte for byte, neighbours intact; many overlapping writes from threads at once end
as the last one to each byte; O_DIRECT 1 MiB writes and reads; a write at the end fails with
ENOSPC and one across it is cut short there; truncate is refused, O_TRUNC ignored (dd works);
fsync succeeds; punching a hole in the thin LUN makes the backing file sparse there and the range
reads zeros, and in a fully provisioned LUN fails with EOPNOTSUPP; a URL naming a LUN mounts only
that one; --ro refuses opening for writing with EROFS; iscsikit umount unmounts and waits until
the mount has logged out (the target's log says so); a busy mount (a loop device on it) is
refused by iscsikit umount with exit 1 and stays mounted."""
import errno
import mmap
import os
import threading

from mountlib import MiB, Mounts, check, cli, log, mounted, require_mount_prerequisites, run

from harness import Case, sparse_file  # noqa: E402  (mountlib put it on the path)

require_mount_prerequisites()


def expect_errno(code, fn, what):
    try:
        fn()
    except OSError as e:
        check(e.errno == code, f"{what}: {os.strerror(e.errno)} (want {errno.errorcode[code]})")
        return
    raise AssertionError(f"{what}: succeeded (want {errno.errorcode[code]})")


def backing(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


with Case("mount") as case, Mounts(case) as mounts:
    lun0 = sparse_file(case.path("lun0.img"), 64 * MiB)
    thin = sparse_file(case.path("thin.img"), 32 * MiB)
    t = case.start([f"file:{lun0}", "ram:16M,block_size=4096", f"file:{thin},thin=true"])
    url = f"iscsi://{t.portal}/{t.iqn}"
    mp = mounts.iscsikit_mount(url)

    names = sorted(os.listdir(mp))
    check(names == ["lun0", "lun1", "lun2"], f"the mount lists {names}")
    sizes = [os.stat(os.path.join(mp, n)).st_size for n in names]
    check(sizes == [64 * MiB, 16 * MiB, 32 * MiB], f"file sizes {sizes}")
    st = os.statvfs(mp)
    check(st.f_blocks * st.f_frsize == 112 * MiB, f"statfs: {st.f_blocks} blocks of {st.f_frsize}")
    df = run(["df", "-P", mp]).stdout
    check(url in df, f"df does not name the URL:\n{df}")

    # Partial blocks, on 512- and 4096-byte LUNs: what lands in the store is exactly what was written.
    for name, block in (("lun0", 512), ("lun1", 4096)):
        path = os.path.join(mp, name)
        fd = os.open(path, os.O_RDWR)
        base = os.urandom(64 * 1024)
        os.pwrite(fd, base, 0)
        pieces = [(1, b"a"), (block - 1, b"bc"), (3 * block + 7, os.urandom(2 * block + 13)), (9000, b"z" * 5000)]
        expect = bytearray(base)
        for off, data in pieces:
            check(os.pwrite(fd, data, off) == len(data), f"{name}: short write at {off}")
            expect[off:off + len(data)] = data
        check(os.pread(fd, len(expect), 0) == bytes(expect), f"{name}: read back differs")
        os.fsync(fd)
        os.close(fd)
        if name == "lun0":
            check(backing(lun0, 0, len(expect)) == bytes(expect), "lun0: the backing file differs")
        log(f"{name}: {len(pieces)} writes at odd offsets read back exactly")

    # Overlapping writes at once: every byte ends as one of the writes left it, whole blocks
    # never mixed with stale data (the read-modify-writes of one block ran one after the other).
    path = os.path.join(mp, "lun0")
    region = 256 * 1024
    threads = []
    results = []

    def hammer(k):
        fd = os.open(path, os.O_RDWR)
        for i in range(200):
            off = 1 * MiB + (i * 7919 + k * 104729) % (region - 3000)
            data = bytes([k + 1]) * (1 + (i * 37) % 2900)
            os.pwrite(fd, data, off)
        os.close(fd)
        results.append(k)

    for k in range(4):
        threads.append(threading.Thread(target=hammer, args=(k,)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(sorted(results) == [0, 1, 2, 3], "a writer thread failed")
    got = backing(lun0, 1 * MiB, region)
    stray = set(got) - {0, 1, 2, 3, 4}
    check(not stray, f"overlapping writes left bytes {sorted(stray)[:5]} no writer wrote")
    log("4 threads x 200 overlapping unaligned writes: no stray bytes")

    # O_DIRECT, 1 MiB at a time.
    fd = os.open(os.path.join(mp, "lun1"), os.O_RDWR | os.O_DIRECT)
    buf, back = mmap.mmap(-1, MiB), mmap.mmap(-1, MiB)
    buf.write(os.urandom(MiB))
    check(os.pwritev(fd, [buf], 4 * MiB) == MiB, "O_DIRECT write of 1 MiB was short")
    check(os.preadv(fd, [back], 4 * MiB) == MiB and back[:] == buf[:], "O_DIRECT read back differs")
    os.close(fd)
    log("O_DIRECT: 1 MiB written and read back")

    # The end of the LUN.
    fd = os.open(path, os.O_RDWR)
    expect_errno(errno.ENOSPC, lambda: os.pwrite(fd, b"x" * 100, 64 * MiB), "a write at the end")
    check(os.pwrite(fd, b"y" * 100, 64 * MiB - 10) == 10, "a write across the end is not cut at the end")
    check(os.pread(fd, 100, 64 * MiB - 10) == b"y" * 10, "the last 10 bytes")
    expect_errno(errno.EINVAL, lambda: os.ftruncate(fd, 1 * MiB), "truncate to 1 MiB")
    os.fsync(fd)
    os.fdatasync(fd)
    os.close(fd)
    run(["dd", f"if={lun0}", f"of={path}", "bs=1M", "count=1", "status=none"])
    check(os.stat(path).st_size == 64 * MiB, "dd (O_TRUNC) changed the file's size")
    log("end of LUN: ENOSPC at the end, a short write across it; truncate refused; dd with O_TRUNC works")

    # Holes: fallocate(1) punches through FUSE's fallocate.
    fd = os.open(os.path.join(mp, "lun2"), os.O_RDWR)
    os.pwrite(fd, os.urandom(8 * MiB), 0)
    os.fsync(fd)
    os.close(fd)
    before = os.stat(thin).st_blocks * 512
    r = run(["fallocate", "--punch-hole", "--keep-size", "--offset", str(MiB + 100), "--length", str(4 * MiB),
             os.path.join(mp, "lun2")], check=False)
    check(r.returncode == 0, f"punching a hole in the thin LUN failed: {r.stdout}")
    after = os.stat(thin).st_blocks * 512
    check(after <= before - 3 * MiB, f"the thin LUN's file did not shrink: {before} -> {after} bytes allocated")
    fd = os.open(os.path.join(mp, "lun2"), os.O_RDONLY)
    check(os.pread(fd, 4 * MiB, MiB + 100) == b"\0" * (4 * MiB), "the punched range does not read zeros")
    os.close(fd)
    r = run(["fallocate", "--punch-hole", "--keep-size", "--offset", "0", "--length", "1M", path], check=False)
    check(r.returncode != 0 and "unsupported" in r.stdout.lower().replace("not supported", "unsupported"),
          f"punching a hole in a fully provisioned LUN: exit {r.returncode}, {r.stdout.strip()}")
    log(f"punch hole: thin LUN file {before // MiB} -> {after // MiB} MiB allocated, zeros read; "
        "EOPNOTSUPP on a fully provisioned LUN")

    # A busy mount is not unmounted.
    dev = mounts.loop(path)
    r = cli("umount", mp, check=False)
    check(r.rc == 1 and mounted(mp) and "busy" in r.err, f"umount of a busy mount: {r.describe()}")
    mounts.unloop(dev)

    mounts.iscsikit_umount(mp)
    check("logged out" in t.log_text(), "the target's log does not show the mount logging out")
    log("iscsikit umount: unmounted, and the session logged out before it returned")

    # One LUN by URL, read-only.
    mp = mounts.iscsikit_mount(f"{url}/1", name="one", args=("--ro",))
    check(os.listdir(mp) == ["lun1"], f"a URL naming LUN 1 mounts {os.listdir(mp)}")
    expect_errno(errno.EROFS, lambda: os.open(os.path.join(mp, "lun1"), os.O_WRONLY), "opening for writing with --ro")
    check(len(open(os.path.join(mp, "lun1"), "rb").read(4096)) == 4096, "reading a --ro mount")
    mounts.iscsikit_umount(mp)
    log("a LUN by URL, --ro: EROFS for writers, reads work")
