#!/usr/bin/env python3
"""The `iscsikit` client tool (the initiator) against two targets in the same run, iscsikit-target
and tgtd, each with a 192 MiB file LUN (512-byte blocks) and a 16 MiB LUN with 4096-byte blocks:
discover, ls, inquiry and readcap (--json checked against what was configured), cp of 128 MiB of
random data into the LUN and back (sparse and --no-sparse, byte-identical), bench randread and
randwrite, and the error paths of /work/notes/cli-contract.md: exit 1 with ONE stderr line
`iscsikit: ...` naming the failure (connect / not found / authentication) within a bounded time,
usage errors exit 2. CHAP is tested against tgtd with an account bound to its target."""
import os
import re
import socket
import sys
import threading

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import MiB, Case, check, cli, first_difference, free_port, log, require_tools

DATA = 128 * MiB
ZERO_RUN = (64 * MiB, 68 * MiB)  # an all-zero stretch inside the data: cp to a file leaves a hole
LUN0 = 192 * MiB                  # larger than the data: the tail is zeros and comes back as holes
LUN1, LUN1_BS = 16 * MiB, 4096
CHAP = ("alice", "wonderland-12")
BENCH_SECONDS = 3


def make_data(path):
    with open(path, "wb") as f:
        for off in range(0, DATA, 16 * MiB):
            f.write(os.urandom(16 * MiB))
        f.seek(ZERO_RUN[0])
        f.write(bytes(ZERO_RUN[1] - ZERO_RUN[0]))


def zero_from(path, start):
    """True when every byte of the file from `start` on is zero."""
    with open(path, "rb") as f:
        f.seek(start)
        while chunk := f.read(4 * MiB):
            if chunk.count(0) != len(chunk):
                return False
    return True


def allocated(path):
    return os.stat(path).st_blocks * 512


def expect_error(r, keyword, max_seconds, min_seconds=0.0):
    """Contract: exit 1, exactly one stderr line `iscsikit: <message>` containing `keyword`."""
    lines = r.err.strip().splitlines()
    check(r.rc == 1, f"want exit 1\n{r.describe()}")
    check(len(lines) == 1 and lines[0].startswith("iscsikit: "), f"want one stderr line 'iscsikit: ...'\n{r.describe()}")
    check(keyword in lines[0].lower(), f"stderr does not say {keyword!r}\n{r.describe()}")
    check(min_seconds <= r.seconds <= max_seconds,
          f"failed after {r.seconds:.2f} s, want {min_seconds}..{max_seconds} s\n{r.describe()}")
    log(f"  -> exit 1 after {r.seconds:.2f} s: {lines[0]}")


class SilentListener:
    """A port that accepts TCP connections and never says a word."""

    def __enter__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port, self.conns = self.sock.getsockname()[1], []
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        try:
            while True:
                self.conns.append(self.sock.accept()[0])
        except OSError:
            pass

    def __exit__(self, *exc):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        for c in self.conns:
            c.close()


def check_usage_errors():
    for args in (["frobnicate"], ["ls", "--no-such-option", "iscsi://127.0.0.1/iqn.x:y/0"], ["ls"]):
        r = cli(*args, check=False, timeout=10)
        check(r.rc == 2, f"usage error: want exit 2\n{r.describe()}")
    # a bad URL is refused before any network traffic: exit 1 (our message) or 2 (CLI11's)
    for bad in ("not-a-url", "http://127.0.0.1/iqn.x:y/0", "iscsi://127.0.0.1:99999/iqn.x:y/0",
                "iscsi://127.0.0.1/iqn.x:y/notalun"):
        r = cli("inquiry", bad, check=False, timeout=10)
        check(r.rc in (1, 2) and r.seconds < 3, f"bad URL {bad!r}: want exit 1 or 2, at once\n{r.describe()}")
        check("url" in r.err.lower() or bad in r.err, f"bad URL {bad!r}: stderr does not name it\n{r.describe()}")
        if r.rc == 1:
            expect_error(r, "", 3)


def check_refused():
    port = free_port()
    url = f"iscsi://127.0.0.1:{port}/iqn.2026-11.org.iscsikit:nobody/0"
    # refused: reported at once, not after the 10 s default login timeout
    expect_error(cli("ls", url, check=False, timeout=30), "connect", 5)
    expect_error(cli("discover", f"127.0.0.1:{port}", check=False, timeout=30), "connect", 5)


def check_silent(cmd, timeout, low, high):
    """A port that accepts and never answers: `connect` error after about --login-timeout."""
    with SilentListener() as silent:
        arg = f"127.0.0.1:{silent.port}"
        if cmd != "discover":
            arg = f"iscsi://{arg}/iqn.2026-11.org.iscsikit:nobody/0"
        expect_error(cli(cmd, arg, "--login-timeout", timeout, check=False, timeout=30), "connect", high, low)


def check_discover(t):
    for arg in (t.portal, t.portal_url()):
        out = cli("discover", arg).out
        want = re.compile(rf"{re.escape(t.portal)},\d+ {re.escape(t.iqn)}")
        check(any(want.fullmatch(line.strip()) for line in out.splitlines()),
              f"discover {arg}: no line '{t.portal},TPGT {t.iqn}':\n{out}")
    # a URL that names a target (or a LUN) was meant for another subcommand: refused, not cut
    expect_error(cli("discover", f"iscsi://{t.portal}/{t.iqn}/0", check=False), "names a target", 10)
    j = cli("discover", t.portal, "--json").json()
    found = [x for x in j["targets"] if x["name"] == t.iqn]
    check(len(found) == 1, f"discover --json: {t.iqn} listed {len(found)} times: {j}")
    check(any(p.startswith(t.portal + ",") for p in found[0]["portals"]), f"discover --json: portal missing: {j}")


def check_ls(t, vendor):
    target_url = f"iscsi://{t.portal}/{t.iqn}"
    j = cli("ls", target_url, "--json").json()
    check(j["target"] == t.iqn and j["portal"] == t.portal, f"ls --json names the wrong target/portal: {j}")
    luns = {x["lun"]: x for x in j["luns"]}
    want = {t.lun_id(0): (512, LUN0), t.lun_id(1): (LUN1_BS, LUN1)}
    extra = set(luns) - set(want)
    if t.lun_id(0) == 1:  # tgt: LUN 0 is its controller
        check(extra == {0} and luns[0]["type"] != "disk", f"tgt: want a non-disk LUN 0 besides ours: {luns}")
    else:
        check(not extra, f"unexpected LUNs {sorted(extra)}: {luns}")
    for n, (bs, size) in want.items():
        x = luns.get(n)
        check(x is not None, f"LUN {n} not listed: {j}")
        check(x["type"] == "disk" and x["device_type"] == 0, f"LUN {n} is not a disk: {x}")
        check(x["block_size"] == bs and x["blocks"] * bs == size and x["bytes"] == size,
              f"LUN {n}: want block size {bs} and {size} bytes: {x}")
        check(x["vendor"].strip() == vendor and x["product"].strip(), f"LUN {n}: vendor/product: {x}")
        check(isinstance(x["thin"], bool) and isinstance(x["revision"], str), f"LUN {n}: thin/revision: {x}")
    human = [line for line in cli("ls", target_url).out.splitlines() if line.strip()]
    check(len(human) == 1 + len(luns), f"ls: want a header and {len(luns)} LUN lines:\n" + "\n".join(human))
    # a URL's LUN means that LUN, as in every subcommand
    one = cli("ls", t.url(1), "--json").json()
    check([x["lun"] for x in one["luns"]] == [t.lun_id(1)], f"ls of {t.url(1)} lists other LUNs: {one}")


def check_inquiry_readcap(t, vendor):
    for n, (bs, size) in ((0, (512, LUN0)), (1, (LUN1_BS, LUN1))):
        j = cli("inquiry", t.url(n), "--json").json()
        check(j["lun"] == t.lun_id(n) and j["type"] == "disk" and j["device_type"] == 0, f"inquiry: {j}")
        check(j["vendor"].strip() == vendor and j["product"].strip() and isinstance(j["revision"], str), f"inquiry: {j}")
        check(j["removable"] is False and isinstance(j["version"], int), f"inquiry: removable/version: {j}")
        check(j["serial"] is None or isinstance(j["serial"], str), f"inquiry: serial: {j}")
        check(isinstance(j["identifiers"], list) and j["identifiers"], f"inquiry: no VPD 83h identifiers: {j}")
        r = cli("readcap", t.url(n), "--json").json()
        check(r["lun"] == t.lun_id(n) and r["block_size"] == bs and r["blocks"] * bs == size and r["bytes"] == size,
              f"readcap LUN {n}: want {size} bytes in {bs}-byte blocks: {r}")
        check(isinstance(r["thin"], bool) and isinstance(r["lbprz"], bool) and isinstance(r["lbppbe"], int),
              f"readcap: thin/lbprz/lbppbe: {r}")


def check_cp(case, t, data, backing):
    tag = t.__class__.__name__
    r = cli("cp", data, t.url(0), timeout=300)
    log(f"  file -> LUN: {DATA // MiB} MiB in {r.seconds:.1f} s")
    off = first_difference(data, backing, DATA)
    check(off is None, f"the LUN's backing file differs from the data at byte {off}")
    sparse, full = case.path(f"{tag}-sparse.img"), case.path(f"{tag}-full.img")
    r = cli("cp", t.url(0), sparse, timeout=300)
    log(f"  LUN -> file: {LUN0 // MiB} MiB in {r.seconds:.1f} s, {allocated(sparse) // MiB} MiB allocated")
    cli("cp", t.url(0), full, "--no-sparse", timeout=300)
    for out in (sparse, full):
        check(os.path.getsize(out) == LUN0, f"{out}: {os.path.getsize(out)} bytes, want the LUN's {LUN0}")
        off = first_difference(data, out, DATA)
        check(off is None, f"{out} differs from the data written at byte {off}")
        check(zero_from(out, DATA), f"{out}: the LUN's tail beyond the data is not zero")
    nonzero = DATA - (ZERO_RUN[1] - ZERO_RUN[0])
    check(allocated(sparse) <= nonzero + MiB, f"sparse copy: {allocated(sparse)} bytes allocated, want <= {nonzero + MiB}")
    check(allocated(full) >= LUN0, f"--no-sparse copy: only {allocated(full)} bytes allocated of {LUN0}")
    # a file that is not a whole number of blocks: the last block is padded with zeroes
    odd, back = case.path(f"{tag}-odd.bin"), case.path(f"{tag}-odd-back.img")
    payload = os.urandom(LUN1_BS + 1000)
    with open(odd, "wb") as f:
        f.write(payload)
    with open(back, "wb") as f:  # 0xff on the LUN first, so the padding is visible
        f.write(b"\xff" * LUN1)
    cli("cp", back, t.url(1))
    cli("cp", odd, t.url(1))
    cli("cp", t.url(1), back, "--no-sparse")
    with open(back, "rb") as f:
        head = f.read(3 * LUN1_BS)
    pad = 2 * LUN1_BS - len(payload)
    check(head[:len(payload)] == payload and head[len(payload):2 * LUN1_BS] == bytes(pad),
          "odd-sized file: the LUN does not hold the data followed by zero padding")
    check(head[2 * LUN1_BS:] == b"\xff" * LUN1_BS, "odd-sized file: cp wrote beyond its last block")
    too_big = case.path(f"{tag}-too-big.img")
    with open(too_big, "wb") as f:
        f.truncate(LUN1 + LUN1_BS)
    expect_error(cli("cp", too_big, t.url(1), check=False), "larger than lun", 30)


def check_bench(t):
    # --align 512: random reads at any block, as iscsi-perf -r places them (bench/initiator.py)
    for rw, align in (("randread", None), ("randwrite", None), ("randread", 512)):
        r = cli("bench", t.url(0), "--rw", rw, "--bs", "4k", "--qd", "32", "--time", BENCH_SECONDS, "--json",
                *(["--align", align] if align else []), timeout=BENCH_SECONDS + 60)
        j = r.json()
        lat = j["lat_us"]
        log(f"  bench {rw} align {j['align']}: {j['iops']:.0f} IOPS, p50 {lat['p50']} us, p99 {lat['p99']} us, "
            f"p99.9 {lat['p999']} us")
        check(j["rw"] == rw and j["bs"] == 4096 and j["qd"] == 32, f"bench: rw/bs/qd: {j}")
        check(j["align"] == (align or 4096), f"bench: align: want {align or 4096} (default: --bs): {j}")
        check(BENCH_SECONDS * 0.9 <= j["seconds"] <= BENCH_SECONDS + 2 and r.seconds < BENCH_SECONDS + 15,
              f"bench ran {j['seconds']} s (wall {r.seconds:.1f} s), asked for {BENCH_SECONDS}")
        check(j["ios"] > 0 and j["errors"] == 0 and j["iops"] > 0, f"bench: ios/errors/iops: {j}")
        check(abs(j["iops"] - j["ios"] / j["seconds"]) <= 0.05 * j["iops"], f"bench: iops != ios/seconds: {j}")
        check(abs(j["bytes_per_sec"] - j["iops"] * 4096) <= 0.05 * j["bytes_per_sec"], f"bench: bytes_per_sec: {j}")
        check(0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"] and lat["mean"] > 0,
              f"bench: latencies out of order: {lat}")
    expect_error(cli("bench", t.url(0), "--align", "100", "--time", "1", check=False), "not a multiple", 10)


def check_not_found(case, t):
    expect_error(cli("ls", f"iscsi://{t.portal}/iqn.2026-11.org.iscsikit:nope", check=False), "not found", 10)
    expect_error(cli("inquiry", f"iscsi://{t.portal}/iqn.2026-11.org.iscsikit:nope/0", check=False), "not found", 10)
    for cmd in ("ls", "inquiry", "readcap"):
        expect_error(cli(cmd, f"iscsi://{t.portal}/{t.iqn}/7", check=False), "not found", 10)
    out = case.path("lun7.img")
    expect_error(cli("cp", f"iscsi://{t.portal}/{t.iqn}/7", out, check=False), "not found", 10)


def check_chap(case):
    t = case.start_tgt(["ram:16M"], chap=CHAP, iqn="iqn.2026-11.org.iscsikit:chap")
    user, password = CHAP
    for cred in ("", f"{user}%wrong-password@", f"mallory%{password}@"):
        for cmd in ("ls", "inquiry"):
            url = f"iscsi://{cred}{t.portal}/{t.iqn}" + ("/1" if cmd == "inquiry" else "")
            expect_error(cli(cmd, url, check=False), "authentication", 10)
    good = f"iscsi://{user}%{password}@{t.portal}/{t.iqn}"
    j = cli("ls", good, "--json").json()
    check(any(x["lun"] == 1 and x["bytes"] == 16 * MiB for x in j["luns"]), f"ls with CHAP: {j}")
    check(cli("readcap", good + "/1", "--json").json()["bytes"] == 16 * MiB, "readcap with CHAP")
    r = cli("ls", good)
    check(password not in r.out + r.err, f"ls prints the CHAP password\n{r.describe()}")


def main():
    require_tools("tgtd", "tgtadm")
    failures = []

    def section(name, fn, *args):
        log(f"--- {name}")
        try:
            fn(*args)
        except AssertionError as e:
            log(f"FAILED {name}: {e}")
            failures.append(f"{name}: {e}")

    with Case("initiator") as case:
        data = case.path("data.bin")
        make_data(data)
        section("usage errors and bad URLs", check_usage_errors)
        section("unreachable: refused", check_refused)
        section("unreachable: silent, ls", check_silent, "ls", "2", 1.8, 4.5)
        section("unreachable: silent, discover", check_silent, "discover", "2", 1.8, 4.5)
        section("unreachable: silent, inquiry", check_silent, "inquiry", "0.5", 0.4, 3)
        for peer, vendor in (("iscsikit", "ISCSIKIT"), ("tgt", "IET")):
            backing = case.path(f"{peer}-lun0.img")
            luns = [f"file:{backing},size={LUN0 // MiB}M",
                    f"file:{case.path(f'{peer}-lun1.img')},size={LUN1 // MiB}M,block_size={LUN1_BS}"]
            t = case.start(luns, peer=peer, iqn=f"iqn.2026-11.org.iscsikit:initiator-{peer}")
            section(f"{peer}: discover", check_discover, t)
            section(f"{peer}: ls", check_ls, t, vendor)
            section(f"{peer}: inquiry/readcap", check_inquiry_readcap, t, vendor)
            section(f"{peer}: cp", check_cp, case, t, data, backing)
            section(f"{peer}: bench", check_bench, t)
            section(f"{peer}: target/LUN not found", check_not_found, case, t)
            check(t.alive(), f"{peer} target died")
        section("tgt: CHAP", check_chap, case)
        if failures:
            raise AssertionError(f"{len(failures)} section(s) failed:\n\n" + "\n\n".join(failures))


if __name__ == "__main__":
    main()
