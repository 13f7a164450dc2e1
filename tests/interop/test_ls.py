#!/usr/bin/env python3
"""iscsi-ls: discovery (SendTargets) lists the target and REPORT LUNS lists its LUNs, over IPv4
and IPv6 portals."""
import re
import socket
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import Case, check, log, require_tools, run


def luns_listed(output):
    # iscsi-ls -s prints "Lun:0    Type:DIRECT_ACCESS (Size:63M)"
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"Lun:(\d+)\s+Type:(\S+)", output)}


def main():
    require_tools("iscsi-ls")
    with Case("iscsi-ls") as case:
        one = case.start(luns=["ram:64M"])
        out = run(["iscsi-ls", "-s", one.portal_url()], timeout=30).stdout
        check(f"Target:{one.iqn} Portal:" in out, f"target not listed:\n{out}")
        luns = luns_listed(out)
        check(luns.get(one.lun_id(0)) == "DIRECT_ACCESS", f"LUN 0 missing or not a disk: {luns}")
        check(one.lun_id(1) not in luns, f"a second LUN appeared: {luns}")
        out = run(["iscsi-ls", "--url", one.portal_url()], timeout=30).stdout
        check(one.url(0).rsplit("/", 1)[0] in out, f"iscsi-ls --url did not list {one.url(0)}:\n{out}")

        two = case.start(luns=["ram:64M", f"file:{case.path('second.img')},size=32M"],
                         iqn="iqn.2026-11.org.iscsikit:two-luns")
        out = run(["iscsi-ls", "-s", two.portal_url()], timeout=30).stdout
        luns = luns_listed(out)
        check(f"Target:{two.iqn} Portal:" in out, f"target not listed:\n{out}")
        for n in (0, 1):
            check(luns.get(two.lun_id(n)) == "DIRECT_ACCESS", f"LUN {n} missing or not a disk: {luns}")

        if has_ipv6_loopback():
            six = case.start(luns=["ram:16M"], host="::1", iqn="iqn.2026-11.org.iscsikit:ipv6")
            out = run(["iscsi-ls", "-s", six.portal_url()], timeout=30).stdout
            check(f"Target:{six.iqn} Portal:" in out, f"target not listed over IPv6:\n{out}")
            check(luns_listed(out).get(six.lun_id(0)) == "DIRECT_ACCESS", f"LUN 0 missing over IPv6:\n{out}")
        else:
            log("no IPv6 loopback here: IPv6 portal not checked")


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
