#!/usr/bin/env python3
"""qemu-img's iSCSI driver (qemu-block-extra, libiscsi underneath): 256 MiB of random data
written into a LUN and read back, compared byte for byte."""
import filecmp
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import MiB, Case, check, log, require_tools, run

DATA = 256 * MiB
LUN = 320 * MiB  # larger than the data: the tail must not matter


def main():
    require_tools("qemu-img")
    with Case("qemu-img") as case:
        src, back = case.path("src.img"), case.path("back.img")
        with open(src, "wb") as f:
            for _ in range(DATA // (16 * MiB)):
                f.write(os.urandom(16 * MiB))
        t = case.start(luns=[f"ram:{LUN // MiB}M"])
        url = t.url(0)
        info = run(["qemu-img", "info", url], timeout=60).stdout
        check(f"({LUN} bytes)" in info, f"qemu-img sees the wrong size:\n{info}")
        # -n: the LUN exists, do not create it; raw to raw, no format probing
        run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, url], timeout=300)
        run(["qemu-img", "convert", "-f", "raw", "-O", "raw", url, back], timeout=300)
        check(os.path.getsize(back) == LUN, f"read back {os.path.getsize(back)} bytes, want {LUN}")
        with open(back, "r+b") as f:
            f.truncate(DATA)  # compare the first 256 MiB only
        check(filecmp.cmp(src, back, shallow=False), "data read back differs from data written")
        log("256 MiB written and read back identical")
        run(["qemu-img", "compare", "-f", "raw", "-F", "raw", src, back], timeout=120)


if __name__ == "__main__":
    main()
