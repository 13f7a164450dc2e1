#!/usr/bin/env python3
"""CRC32C header and data digests (RFC 7143 §12.1, §13.1) with real peers: the `iscsikit` tool with
--header-digest --data-digest against tgtd and against iscsikit-target writes 8 MiB of random data,
reads it back and compares; the digests must have been negotiated (the tool's debug line, which
reports what the target answered, and our target's "logged in" line); tgtd is told to offer CRC32C.
qemu-img (libiscsi) with header-digest=crc32c converts 16 MiB into our target and back, and `qemu-img compare` agrees."""
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import MiB, Case, check, cli, first_difference, log, require_tools, run

DATA = 8 * MiB
LUN = 32 * MiB
QEMU_DATA = 16 * MiB
BOTH_DIGESTS = "header digest true, data digest true"


def client_negotiated(r):
    """The tool's own account of the login (logged at debug level, -vv): both digests on."""
    lines = [l for l in r.err.splitlines() if "logged in to" in l]
    check(lines, f"the tool never logged its login (-vv)\n{r.describe()}")
    check(all(BOTH_DIGESTS in l for l in lines), "the tool logged in without both digests:\n" + "\n".join(lines))


def round_trip(case, url, name):
    src, back = case.path(f"{name}-src.bin"), case.path(f"{name}-back.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(DATA))
    digests = ("--header-digest", "--data-digest", "-vv")
    client_negotiated(cli("cp", *digests, src, url))
    client_negotiated(cli("cp", *digests, url, back))
    check(os.path.getsize(back) == LUN, f"{name}: read back {os.path.getsize(back)} bytes, want {LUN}")
    diff = first_difference(src, back, DATA)
    check(diff is None, f"{name}: data read back with digests differs at byte {diff}")
    log(f"  {name}: {DATA // MiB} MiB written and read back identical with both digests")


def test_iscsikit_target(case):
    t = case.start(luns=[f"ram:{LUN // MiB}M"], args=["--log-level", "debug"])
    round_trip(case, t.url(0), "iscsikit-target")
    logged = [l for l in t.log_text().splitlines() if "logged in: normal session" in l]
    check(len(logged) == 2, f"want 2 normal logins in the target's log, found {len(logged)}:\n" + "\n".join(logged))
    check(all(BOTH_DIGESTS in l for l in logged), "the target did not turn both digests on:\n" + "\n".join(logged))
    return t


def test_tgtd(case):
    t = case.start_tgt(luns=[f"file:{case.path('tgt.img')},size={LUN // MiB}M"])
    # tgtd offers HeaderDigest=None and DataDigest=None only, unless told otherwise
    for key in ("HeaderDigest", "DataDigest"):
        t.adm("--lld", "iscsi", "--op", "update", "--mode", "target", "--tid", "1", "--name", key, "--value", "CRC32C,None")
    round_trip(case, t.url(0), "tgtd")
    # tgtadm shows no digests per connection: the tool's login line (-vv) is what tgtd answered
    log("  tgtd: accepted HeaderDigest=CRC32C and DataDigest=CRC32C")


def test_qemu_header_digest(case, t):
    src, back = case.path("qemu-src.img"), case.path("qemu-back.img")
    with open(src, "wb") as f:
        f.write(os.urandom(QEMU_DATA))
    # QEMU's iscsi driver (block/iscsi.c): header-digest=crc32c|none|crc32c-none|none-crc32c
    opts = (f"driver=iscsi,transport=tcp,portal={t.portal},target={t.iqn},lun=0,"
            "header-digest=crc32c,initiator-name=iqn.2008-11.org.linux-kvm:digests")
    before = len([l for l in t.log_text().splitlines() if "logged in: normal session" in l])
    run(["qemu-img", "convert", "-n", "-f", "raw", "--target-image-opts", src, opts], timeout=120)
    run(["qemu-img", "convert", "--image-opts", opts, "-O", "raw", back], timeout=120)
    with open(back, "r+b") as f:
        f.truncate(QEMU_DATA)
    run(["qemu-img", "compare", "-f", "raw", "-F", "raw", src, back], timeout=60)
    logged = [l for l in t.log_text().splitlines() if "logged in: normal session" in l][before:]
    qemu = [l for l in logged if "linux-kvm:digests" in l]
    check(qemu, "qemu-img's logins are not in the target's log:\n" + "\n".join(logged))
    check(all("header digest true" in l for l in qemu),
          "qemu-img asked for header-digest=crc32c but the target did not turn it on:\n" + "\n".join(qemu))
    log(f"  qemu-img: {QEMU_DATA // MiB} MiB converted in and out with header digests, compare identical")


def main():
    require_tools("tgtd", "tgtadm", "qemu-img")
    with Case("digests") as case:
        t = test_iscsikit_target(case)
        test_qemu_header_digest(case, t)
        test_tgtd(case)


if __name__ == "__main__":
    main()
