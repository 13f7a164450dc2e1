"""Plumbing for the file-system tests (stdlib only): `iscsikit mount` started and always unmounted
again, loop devices, ext4 on them, a tree of files with its checksums. Built on the interop
harness (tests/interop/harness.py); see tests/e2e/README.md."""
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "interop"))
from harness import MiB, check, cli, cli_binary, log, missing_prerequisite, require_tools, run  # noqa: E402


def require_mount_prerequisites():
    """Root, /dev/fuse, fusermount3, loop devices and e2fsprogs: a skip on a developer's machine
    without them, a failure under CI=true."""
    if os.geteuid() != 0:
        missing_prerequisite("the mount tests need root (loop devices, mount)")
    if not os.path.exists("/dev/fuse"):
        missing_prerequisite("/dev/fuse is missing (modprobe fuse)")
    require_tools("fusermount3", "losetup", "mkfs.ext4", "e2fsck", "mount", "umount")
    if not os.path.exists("/dev/loop-control"):
        missing_prerequisite("/dev/loop-control is missing (modprobe loop)")


def mounted(mountpoint):
    mp = os.path.realpath(mountpoint)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == mp:
            return True
    return False


class Mounts:
    """Everything a test mounted or attached, undone in reverse order at the end whatever
    happened: file systems unmounted, loop devices detached, iscsikit mounts unmounted."""

    def __init__(self, case):
        self.case = case
        self.undo = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for what, arg in reversed(self.undo):
            try:
                if what == "umount" and mounted(arg):
                    subprocess.run(["umount", arg], timeout=60)
                    if mounted(arg):
                        subprocess.run(["umount", "-l", arg], timeout=60)
                elif what == "loop":
                    subprocess.run(["losetup", "-d", arg], timeout=60)
                elif what == "iscsikit" and mounted(arg):
                    subprocess.run([cli_binary(), "umount", arg], timeout=90)
                    if mounted(arg):
                        subprocess.run(["fusermount3", "-u", "-z", arg], timeout=60)
            except Exception as e:  # clean up the rest regardless
                log(f"cleanup of {what} {arg}: {e}")
        return False

    def iscsikit_mount(self, url, name="mnt", args=()):
        """`iscsikit mount URL DIR` (daemonized); returns DIR once the command exited 0."""
        mp = self.case.path(name)
        os.makedirs(mp, exist_ok=True)
        self.undo.append(("iscsikit", mp))
        log_file = self.case.out / f"mount-{name}.log"
        r = cli("mount", url, mp, "--log-file", log_file, "-v", *args, timeout=60)
        check(mounted(mp), f"iscsikit mount exited 0 but {mp} is not mounted: {r.describe()}")
        return mp

    def iscsikit_umount(self, mp):
        r = cli("umount", mp, timeout=90)
        check(not mounted(mp), f"{mp} still mounted after iscsikit umount: {r.describe()}")
        return r

    def loop(self, path):
        dev = run(["losetup", "--find", "--show", path]).stdout.strip()
        self.undo.append(("loop", dev))
        return dev

    def unloop(self, dev):
        run(["losetup", "-d", dev])
        self.undo = [u for u in self.undo if u != ("loop", dev)]

    def mount(self, dev, name="ext4"):
        mp = self.case.path(name)
        os.makedirs(mp, exist_ok=True)
        run(["mount", dev, mp])
        self.undo.append(("umount", mp))
        return mp

    def umount(self, mp):
        run(["umount", mp])
        self.undo = [u for u in self.undo if u != ("umount", mp)]


def mount_ext4(mounts, t, name, mkfs=False):
    """iscsikit mount -> losetup -> (mkfs.ext4) -> mount; returns (iscsikit dir, loop dev, ext4 dir)."""
    mp = mounts.iscsikit_mount(t.url(0), name=f"{name}-lun")
    dev = mounts.loop(os.path.join(mp, "lun0"))
    if mkfs:
        run(["mkfs.ext4", "-q", "-F", dev], timeout=300)
    return mp, dev, mounts.mount(dev, name=f"{name}-ext4")


def unmount_all(mounts, mp, dev, fs):
    """What mount_ext4 did, undone in reverse."""
    mounts.umount(fs)
    mounts.unloop(dev)
    mounts.iscsikit_umount(mp)


def write_tree(root, count=300, big=(), seed=1, fsync_each=False, progress=None):
    """`count` files of varied sizes (0 to 512 KiB) in nested directories, then one file per size
    in `big`; everything fsynced at the end (with `fsync_each`, every file as it is written).
    `progress(i)` is called after file i. Returns {relative path: sha256}."""
    rng = random.Random(seed)
    sums = {}
    for i in range(count):
        rel = f"d{i % 7}/e{i % 3}/f{i:04d}.bin"
        size = rng.choice((0, 1, 511, 4096, 4097, 65536, 131071, 524288)) if i % 5 else rng.randrange(0, 524288)
        data = rng.randbytes(size)
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
            if fsync_each:
                f.flush()
                os.fsync(f.fileno())
        sums[rel] = hashlib.sha256(data).hexdigest()
        if progress:
            progress(i)
    for j, size in enumerate(big):
        rel = f"big{j}.bin"
        h = hashlib.sha256()
        with open(Path(root) / rel, "wb") as f:
            left = size
            while left:
                chunk = rng.randbytes(min(4 * MiB, left))
                f.write(chunk)
                h.update(chunk)
                left -= len(chunk)
            f.flush()
            os.fsync(f.fileno())
        sums[rel] = h.hexdigest()
    os.sync()
    return sums


def tree_sums(root, names):
    out = {}
    for rel in names:
        h = hashlib.sha256()
        with open(Path(root) / rel, "rb") as f:
            while chunk := f.read(4 * MiB):
                h.update(chunk)
        out[rel] = h.hexdigest()
    return out


def compare_sums(want, got, what):
    bad = [rel for rel in want if got.get(rel) != want[rel]]
    check(not bad, f"{what}: {len(bad)} of {len(want)} files differ, e.g. {bad[:5]}")
    log(f"{what}: all {len(want)} files match their checksums")


def e2fsck_clean(image):
    r = run(["e2fsck", "-fn", image], check=False, timeout=300)
    check(r.returncode == 0, f"e2fsck -fn {image} exited {r.returncode}:\n{r.stdout[-3000:]}")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
