#!/usr/bin/env python3
"""INQUIRY, VPD pages and READ CAPACITY(16) through libiscsi's iscsi-inq / iscsi-readcapacity16:
vendor, supported pages, per-LUN identity, capacity of RAM and file LUNs with 512- and 4096-byte
blocks, and a read-only LUN (WP bit set, writes refused with DATA PROTECT)."""
import os
import re
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import MiB, PEER, Case, check, log, require_tools, run
from pdu import Session, sense_key

VENDOR = "IET" if PEER == "tgt" else "ISCSIKIT"
REQUIRED_VPD = {0x00, 0x80, 0x83, 0xB0}  # SPC-4 7.8: 0x00 and 0x83 mandatory; 0x80, 0xB0 (SBC-3) used by every initiator


def capacity(url):
    out = run(["iscsi-readcapacity16", url], timeout=30).stdout
    size = int(re.search(r"Total size:(\d+)", out).group(1))
    block = int(re.search(r"LOGICAL BLOCK LENGTH IN BYTES:(\d+)", out).group(1))
    return size, block


def inquiry(url, page=None):
    cmd = ["iscsi-inq", url] if page is None else ["iscsi-inq", "-e", "1", "-c", str(page), url]
    return run(cmd, timeout=30).stdout


def read_vpd_raw(t, lun, page):
    """INQUIRY with EVPD=1 for `page` on a raw session: GOOD, the page's own code and a length
    that fits what came back (SPC-4 §7.8.1)."""
    s = Session(t.host, t.port, t.iqn)
    try:
        s.login()
        status, data, _ = s.command(bytes([0x12, 0x01, page, 0x10, 0x00, 0x00]), 4096, lun=t.lun_id(lun))
    finally:
        s.close()
    check(status == 0, f"LUN {lun}: INQUIRY VPD page {page:#04x}: status {status:#04x}")
    check(len(data) >= 4 and data[1] == page, f"LUN {lun}: VPD page {page:#04x} answered as {data[:4].hex()}")
    check(4 + int.from_bytes(data[2:4], "big") == len(data),
          f"LUN {lun}: VPD page {page:#04x}: PAGE LENGTH {int.from_bytes(data[2:4], 'big')}, {len(data)} bytes sent")
    log(f"LUN {lun}: VPD page {page:#04x} read raw ({len(data)} bytes)")


def main():
    require_tools("iscsi-inq", "iscsi-readcapacity16")
    with Case("iscsi-inq") as case:
        with open(case.path("file512.img"), "wb") as f:
            f.truncate(48 * MiB)
        with open(case.path("file4k.img"), "wb") as f:
            f.truncate(40 * MiB)
        pattern = os.urandom(4096) * 4096  # 16 MiB, readable through the read-only LUN
        with open(case.path("ro.img"), "wb") as f:
            f.write(pattern)
        luns = [
            ("ram:64M", 64 * MiB, 512),
            ("ram:64M,block_size=4096", 64 * MiB, 4096),
            (f"file:{case.path('file512.img')}", 48 * MiB, 512),
            (f"file:{case.path('file4k.img')},block_size=4096", 40 * MiB, 4096),
            (f"file:{case.path('created.img')},size=32M", 32 * MiB, 512),
            (f"file:{case.path('ro.img')},readonly=true", 16 * MiB, 512),
        ]
        t = case.start(luns=[spec for spec, _, _ in luns])

        out = inquiry(t.url(0))
        vendor = re.search(r"^Vendor:(.*)$", out, re.M)
        check(vendor and vendor.group(1).strip() == VENDOR, f"vendor is not {VENDOR!r}:\n{out}")
        check("Peripheral Device Type:DIRECT_ACCESS" in out, f"LUN 0 is not a disk:\n{out}")

        for n, (spec, size, block) in enumerate(luns):
            got = capacity(t.url(n))
            check(got == (size, block), f"LUN {n} ({spec}): capacity {got}, want ({size}, {block})")
            log(f"LUN {n} {spec}: {got[0]} bytes in {got[1]}-byte blocks")
        check(os.path.getsize(case.path("created.img")) == 32 * MiB, "size= did not create a 32 MiB file")

        identities = []
        for n in (0, 1):
            listing = inquiry(t.url(n), 0)
            pages = {int(p, 16) for p in re.findall(r"Page:0x([0-9a-fA-F]+)", listing)}
            check(REQUIRED_VPD <= pages, f"LUN {n}: VPD pages {sorted(pages)} lack {sorted(REQUIRED_VPD - pages)}")
            # every advertised page must be readable; iscsi-inq (libiscsi 1.19) decodes only the
            # pages it knows and fails on the others ("Page:0x8f unknown"), which are read raw
            unknown = {int(p, 16) for p in re.findall(r"Page:0x([0-9a-fA-F]+) unknown", listing)}
            for page in sorted(pages - unknown):
                inquiry(t.url(n), page)
            for page in sorted(unknown):
                read_vpd_raw(t, n, page)
            serial = re.search(r"Unit Serial Number:\[(.*)\]", inquiry(t.url(n), 0x80)).group(1).strip()
            check(serial, f"LUN {n}: empty unit serial number")
            ident = inquiry(t.url(n), 0x83)
            check("Association:(0) LOGICAL_UNIT" in ident, f"LUN {n}: no LU designator in page 0x83:\n{ident}")
            identities.append((serial, ident))
        check(identities[0] != identities[1], "LUN 0 and LUN 1 report the same serial and designators")

        bad = run(["iscsi-inq", "-e", "1", "-c", "200", t.url(0)], timeout=30, check=False)
        check(bad.returncode != 0 and "ILLEGAL_REQUEST" in bad.stdout and "INVALID_FIELD_IN_CDB" in bad.stdout,
              f"an unsupported VPD page (0xc8) was not refused with INVALID FIELD IN CDB:\n{bad.stdout}")

        session = Session(t.host, t.port, t.iqn)
        session.login()
        ro, rw = t.lun_id(5), t.lun_id(2)
        check(session.mode_sense6_write_protected(ro), "read-only LUN: MODE SENSE WP bit is clear")
        check(not session.mode_sense6_write_protected(rw), "writable LUN: MODE SENSE WP bit is set")
        status, sense = session.write10(8, b"\xa5" * 4096, 512, ro)
        # SBC-3 4.11: a write to a write-protected LU ends with DATA PROTECT, WRITE PROTECTED (27h/00h)
        check(status == 0x02 and sense_key(sense) == 0x07 and b"\x27" in sense[:14],
              f"write to the read-only LUN: status 0x{status:02x}, sense {sense.hex()}")
        check(session.read10(0, 32, 512, ro) == pattern[:32 * 512], "read-only LUN returned wrong data")
        data = os.urandom(64 * 512)
        status, sense = session.write10(100, data, 512, rw)
        check(status == 0, f"write to a writable LUN failed: status 0x{status:02x}, sense {sense.hex()}")
        check(session.read10(100, 64, 512, rw) == data, "writable LUN did not return what was written")
        session.logout()


if __name__ == "__main__":
    main()
