#!/usr/bin/env python3
"""A hostile client throws malformed and abusive traffic at the daemon while a normal session
does I/O the whole time. Afterwards the daemon must be alive, its memory bounded, every bad
connection dropped or refused, the normal session never interrupted, and a new login must work.
RFC 7143 §7 (login), §11.12-11.13 (login PDUs), §6.1 (text limits); DESIGN.md "Errors and bad input"."""
import os
import random
import select
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import pdu
from harness import MiB, PEER, Case, check, log, require_tools, run
from pdu import Session, await_verdict, login_request, text

SEED = 20261125
VERDICT_WINDOW = 25.0   # login_timeout (15 s) plus slack: every bad connection must end by then
RSS_LIMIT_KIB = 300 * 1024 * (4 if os.environ.get("ISCSIKIT_SANITIZED") else 1)  # ASan: shadow + quarantine
IDLE_CONNECTIONS = 300
LOGIN_TIMEOUT = 3         # login_timeout of the second target, for the login-hang cases
LOGIN_TIMEOUT_SLACK = 4
REFUSED = {"closed", "login-failed", "reject"}
VENDOR = "IET" if PEER == "tgt" else "ISCSIKIT"


def connect(t):
    s = socket.create_connection((t.host, t.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def security_keys(t, *extra):
    return [("InitiatorName", pdu.INITIATOR_NAME), ("TargetName", t.iqn), ("SessionType", "Normal"),
            ("AuthMethod", "None"), *extra]


def send_continued(sock, payload, chunk=8192, window=VERDICT_WINDOW):
    """Sends one login text over several Login Requests with the C bit (RFC 7143 §11.12.2): the
    target answers each partial PDU with an empty Login Response, or refuses."""
    pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)]
    for piece in pieces[:-1]:
        try:
            sock.sendall(login_request(piece, transit=False, cont=True))
        except OSError:
            return "closed"
        try:
            sock.settimeout(window)
            rsp = pdu.read_pdu(sock)
        except socket.timeout:  # an OSError too: a target that stops answering has not closed
            return "open"
        except (pdu.Closed, OSError):
            return "closed"
        if rsp.opcode == pdu.OP_REJECT:
            return "reject"
        if rsp.opcode != pdu.OP_LOGIN_RSP:
            return f"unexpected 0x{rsp.opcode:02x}"
        if rsp.status_class != 0:
            return "login-failed"
    try:
        sock.sendall(login_request(pieces[-1]))
    except OSError:
        return "closed"
    return await_verdict(sock, window)


# ---- attacks: each returns a verdict (see pdu.await_verdict) or "sent" when none is expected ----

def garbage(t):
    with connect(t) as s:
        s.sendall(random.Random(SEED).randbytes(4096))
        return await_verdict(s, VERDICT_WINDOW)


def truncated_bhs_close(t):
    with connect(t) as s:
        s.sendall(login_request(text(security_keys(t)))[:20])
    return "sent"


def truncated_bhs_hold(t):
    with connect(t) as s:
        s.sendall(login_request(text(security_keys(t)))[:20])
        return await_verdict(s, VERDICT_WINDOW)


def huge_segment_no_data(t):
    with connect(t) as s:
        s.sendall(login_request(b"", data_len=0xFFFFFF))  # claims 16 MiB - 1 of login text
        return await_verdict(s, VERDICT_WINDOW)


def huge_segment_slow_data(t):
    with connect(t) as s:
        s.sendall(login_request(b"", data_len=0xFFFFFF))
        deadline = time.monotonic() + VERDICT_WINDOW
        while time.monotonic() < deadline:
            try:
                s.sendall(b"I")  # one byte every 250 ms
            except OSError:
                return "closed"
            if select.select([s], [], [], 0.25)[0]:
                return await_verdict(s, 2)
        return "open"


def long_key(t):
    # RFC 7143 §6.1: a key name is at most 63 bytes
    with connect(t) as s:
        s.sendall(login_request(text(security_keys(t, ("K" * 100, "1")))))
        return await_verdict(s, VERDICT_WINDOW)


def long_value(t):
    # a 9000-byte value (over 8192) split across two continued Login Requests
    with connect(t) as s:
        return send_continued(s, text(security_keys(t, ("InitiatorAlias", "a" * 9000))))


def mib_of_text(t):
    # 1 MiB of login text in 128 continued PDUs: the target must stop buffering somewhere
    keys = security_keys(t)
    size = len(text(keys))
    n = 0
    while size < MiB:
        pair = (f"X-org.iscsikit.hostile.k{n:06d}", "v" * 64)
        keys.append(pair)
        size += len(text([pair]))
        n += 1
    with connect(t) as s:
        return send_continued(s, text(keys))


def scsi_before_login(t):
    with connect(t) as s:
        s.sendall(pdu.scsi_command(bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]), edtl=4096))
        return await_verdict(s, VERDICT_WINDOW)


def nop_before_login(t):
    with connect(t) as s:
        s.sendall(pdu.nop_out())
        return await_verdict(s, VERDICT_WINDOW)


def logout_before_login(t):
    with connect(t) as s:
        s.sendall(pdu.logout_request())
        return await_verdict(s, VERDICT_WINDOW)


def login_then_garbage(t):
    with connect(t) as s:
        s.sendall(login_request(text(security_keys(t))))
        s.settimeout(10)
        rsp = pdu.read_pdu(s)
        if rsp.opcode != pdu.OP_LOGIN_RSP or rsp.status_class != 0:
            return f"first login step refused (class {rsp.status_class})"
        s.sendall(random.Random(SEED + 1).randbytes(4096))
        return await_verdict(s, VERDICT_WINDOW)


def unknown_target(t):
    # RFC 7143 §11.13.5: class 2 (initiator error), detail 3 (not found)
    with connect(t) as s:
        keys = [("InitiatorName", pdu.INITIATOR_NAME), ("TargetName", t.iqn + ".nosuch"),
                ("SessionType", "Normal"), ("AuthMethod", "None")]
        s.sendall(login_request(text(keys)))
        s.settimeout(10)
        try:
            rsp = pdu.read_pdu(s)
        except (pdu.Closed, OSError):
            return "closed"
        return f"class {rsp.status_class} detail {rsp.status_detail}" if rsp.opcode == pdu.OP_LOGIN_RSP else repr(rsp)


def ffp_oversized_segment(t):
    # RFC 7143 §13.12: a PDU longer than the receiver's MaxRecvDataSegmentLength is a protocol error
    s = Session(t.host, t.port, t.iqn, isid=b"\x80\x00\x00\x00\x44\x01")
    s.login()
    limit = int(s.negotiated.get("MaxRecvDataSegmentLength", "8192"))
    data = b"\0" * (limit + 4096)
    cdb = struct.pack(">BBIBHB", 0x2A, 0, 0, 0, len(data) // 512, 0)
    try:
        s.sock.sendall(pdu.scsi_command(cdb, lun=t.lun_id(0), itt=7, edtl=len(data), read=False, write=True,
                                        cmdsn=s.cmdsn, exp_statsn=s.exp_statsn, data_len=len(data)) + data)
    except OSError:
        return "closed"
    verdict = await_verdict(s.sock, VERDICT_WINDOW)
    s.close()
    return verdict


def ffp_login_pdu(t):
    # RFC 7143 §6.3: a Login Request in the full feature phase is a protocol error
    s = Session(t.host, t.port, t.iqn, isid=b"\x80\x00\x00\x00\x45\x01")
    s.login()
    s.sock.sendall(login_request(text(security_keys(t)), isid=s.isid, tsih=s.tsih, cmdsn=s.cmdsn))
    verdict = await_verdict(s.sock, VERDICT_WINDOW)
    s.close()
    return verdict


def silent_login(t, window=None):
    """Connects and says nothing: login_timeout must drop it, no sooner and not much later."""
    window = window or LOGIN_TIMEOUT + LOGIN_TIMEOUT_SLACK
    with connect(t) as s:
        started = time.monotonic()
        verdict = await_verdict(s, window)
        return within_login_timeout(verdict, time.monotonic() - started)


def stalled_login(t, window=None):
    """A valid first login step, then silence: a login stuck halfway must be dropped the same way."""
    window = window or LOGIN_TIMEOUT + LOGIN_TIMEOUT_SLACK
    with connect(t) as s:
        started = time.monotonic()
        s.sendall(login_request(text(security_keys(t)), transit=False))
        s.settimeout(window)
        try:
            rsp = pdu.read_pdu(s)
        except socket.timeout:
            return "open"
        except (pdu.Closed, OSError):
            return "closed before the first login response"
        if rsp.opcode != pdu.OP_LOGIN_RSP or rsp.status_class != 0:
            return f"first login step refused: {rsp!r}"
        verdict = await_verdict(s, window - (time.monotonic() - started))
        return within_login_timeout(verdict, time.monotonic() - started)


def within_login_timeout(verdict, took):
    if verdict != "closed":
        return verdict
    if took < LOGIN_TIMEOUT - 0.5:
        return f"closed after {took:.1f} s, before login_timeout ({LOGIN_TIMEOUT} s)"
    return "dropped at login_timeout"


def half_open(t):
    for i in range(300):
        s = socket.create_connection((t.host, t.port), timeout=5)
        if i % 3 == 0:  # RST instead of FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    return "sent"


def idle_connections(t):
    """Holds 300 TCP connections that never log in; they must all be dropped (login timeout)."""
    socks = [connect(t) for _ in range(IDLE_CONNECTIONS)]
    deadline = time.monotonic() + VERDICT_WINDOW
    open_socks = set(socks)
    while open_socks and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_socks), [], [], 0.5)
        for s in readable:
            try:
                if not s.recv(4096):
                    open_socks.discard(s)
            except OSError:
                open_socks.discard(s)
    for s in socks:
        s.close()
    return "closed" if not open_socks else f"open ({len(open_socks)} of {IDLE_CONNECTIONS} still open)"


# against a second target with login_timeout = LOGIN_TIMEOUT, run alongside the attacks above
LOGIN_HANGS = {
    "silent login (short login_timeout)": (silent_login, {"dropped at login_timeout"}),
    "stalled login (short login_timeout)": (stalled_login, {"dropped at login_timeout"}),
}

ATTACKS = {
    "garbage": (garbage, REFUSED),
    "truncated BHS, close": (truncated_bhs_close, {"sent"}),
    "truncated BHS, hold": (truncated_bhs_hold, REFUSED),
    "16 MiB segment, no data": (huge_segment_no_data, REFUSED),
    "16 MiB segment, slow data": (huge_segment_slow_data, REFUSED),
    "key over 63 bytes": (long_key, REFUSED),
    "value over 8192 bytes": (long_value, REFUSED),
    "1 MiB of login text": (mib_of_text, REFUSED),
    "SCSI command before login": (scsi_before_login, REFUSED),
    "NOP-Out before login": (nop_before_login, REFUSED),
    "Logout before login": (logout_before_login, REFUSED),
    "login step, then garbage": (login_then_garbage, REFUSED),
    "unknown target name": (unknown_target, {"class 2 detail 3"}),
    "full feature: segment over limit": (ffp_oversized_segment, {"closed", "reject"}),
    "full feature: Login PDU": (ffp_login_pdu, {"closed", "reject", "login-failed"}),
    "300 connect+close/RST": (half_open, {"sent"}),
    f"{IDLE_CONNECTIONS} idle connections": (idle_connections, {"closed"}),
}


def open_fds(t):
    return len(os.listdir(f"/proc/{t.pid}/fd"))


def timed(fn, t):
    started = time.monotonic()
    verdict = fn(t)
    return verdict, time.monotonic() - started


class Background:
    """The well-behaved traffic that must carry on through the attack: one raw session doing
    READ CAPACITY and READ in a loop, libiscsi logins (iscsi-readcapacity16) in a loop, and a
    sampler of the daemon's resident memory."""

    def __init__(self, t):
        self.t, self.stop = t, threading.Event()
        self.session_ops, self.session_error = 0, None
        self.tool_runs, self.tool_failures = 0, []
        self.max_rss = 0
        self.session = Session(t.host, t.port, t.iqn)
        self.session.login()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._io, self._tool, self._rss)]

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join(60)
        if self.session_error is None:
            self.session.logout()

    def _io(self):
        rng = random.Random(SEED + 2)
        lun = self.t.lun_id(0)
        try:
            size, block = self.session.read_capacity16(lun)
            while not self.stop.is_set():
                self.session.read10(rng.randrange(size // block - 8), 8, block, lun)
                self.session.read_capacity16(lun)
                self.session_ops += 2
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - any failure of the normal session is the finding
            self.session_error = repr(e)

    def _tool(self):
        while not self.stop.is_set():
            cp = run(["iscsi-readcapacity16", self.t.url(0)], timeout=30, check=False, quiet=True)
            self.tool_runs += 1
            if cp.returncode != 0:
                self.tool_failures.append(cp.stdout.strip()[-300:])
            time.sleep(0.2)

    def _rss(self):
        while not self.stop.is_set():
            self.max_rss = max(self.max_rss, self.t.rss_kib() or 0)
            time.sleep(0.1)


class FakeTarget:
    """A port that accepts and then never answers (a hung target), or closes at once: the verdicts
    above must call both a failure, or the test could pass without checking anything."""

    def __init__(self, close_at_once):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host, self.port, self.iqn = "127.0.0.1", self.server.getsockname()[1], "iqn.2026-11.org.iscsikit:fake"
        self.close_at_once, self.held = close_at_once, []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            while True:
                conn = self.server.accept()[0]
                conn.close() if self.close_at_once else self.held.append(conn)
        except OSError:
            pass

    def close(self):
        self.server.close()
        for c in self.held:
            c.close()


def verdicts_can_fail():
    """A stuck login must be reported as a failure, never as a pass."""
    hung, closing = FakeTarget(close_at_once=False), FakeTarget(close_at_once=True)
    try:
        for name, (fn, accepted) in LOGIN_HANGS.items():
            for fake, what in ((hung, "a target that never answers"), (closing, "a target that closes at once")):
                verdict = fn(fake, window=2)
                check(verdict not in accepted, f"{name}: {what} got the passing verdict {verdict!r}")
        with connect(hung) as s:
            verdict = send_continued(s, b"x" * 20000, window=2)
            check(verdict not in REFUSED, f"a continued login to a hung target counted as refused: {verdict!r}")
    finally:
        hung.close()
        closing.close()
    log("self-check: hung and early-closing fake targets fail the login-hang verdicts")


def short_login_timeout_target(case):
    port = case.port()
    path = case.path("login-timeout.toml")
    with open(path, "w") as f:
        f.write(f'login_timeout = {LOGIN_TIMEOUT}\n\n[[target]]\niqn = "iqn.2026-11.org.iscsikit:login-timeout"\n'
                f'portals = ["127.0.0.1:{port}"]\n\n  [[target.lun]]\n  backing = "ram"\n  size = "16M"\n')
    return case.start(portal_args=False, args=["--config", path], port=port, iqn="iqn.2026-11.org.iscsikit:login-timeout")


def main():
    require_tools("iscsi-readcapacity16", "iscsi-inq")
    verdicts_can_fail()
    with Case("hostile") as case:
        t = case.start(luns=["ram:64M"])
        # tgtd has no login timeout to configure (and never drops a silent login): ours only
        short = short_login_timeout_target(case) if PEER == "iscsikit" else None
        hangs = {n: (fn, short, ok) for n, (fn, ok) in LOGIN_HANGS.items()} if short else {}
        fds_before = open_fds(t)
        log(f"target pid {t.pid}, RSS at start {t.rss_kib()} KiB; attacks run concurrently (seed {SEED})")
        results = {}
        with Background(t) as bg:
            time.sleep(1)
            with ThreadPoolExecutor(max_workers=len(ATTACKS) + len(LOGIN_HANGS)) as pool:
                started = time.monotonic()
                futures = {name: pool.submit(timed, fn, t) for name, (fn, _) in ATTACKS.items()}
                futures |= {name: pool.submit(timed, fn, short) for name, (fn, short, _) in hangs.items()}
                for name, fut in futures.items():
                    try:
                        results[name], took = fut.result(timeout=VERDICT_WINDOW + 60)
                    except Exception as e:  # noqa: BLE001 - report, then fail below
                        results[name], took = f"error: {e!r}", time.monotonic() - started
                    log(f"  {name:32s} -> {results[name]}  (after {took:.1f} s)")
            time.sleep(1)
        log(f"normal session: {bg.session_ops} commands, error: {bg.session_error}; "
            f"libiscsi logins: {bg.tool_runs}, failed: {len(bg.tool_failures)}; max RSS {bg.max_rss} KiB")

        check(t.alive(), "the daemon died")
        # the "sent" attacks (close or RST at once) have no answer to judge: their sockets must be gone
        deadline, fds_after = time.monotonic() + 5, open_fds(t)
        while fds_after > fds_before and time.monotonic() < deadline:
            time.sleep(0.2)
            fds_after = open_fds(t)
        log(f"daemon's open descriptors: {fds_before} before the attack, {fds_after} after")
        check(fds_after <= fds_before, f"the daemon holds {fds_after - fds_before} more descriptors than before the "
              "attack: closed or reset connections were not released")
        wanted = {n: ok for n, (_, ok) in ATTACKS.items()} | {n: ok for n, (_, _, ok) in hangs.items()}
        bad = {n: r for n, r in results.items() if r not in wanted[n]}
        check(not bad, "bad connections not dropped or refused as expected:\n  " +
              "\n  ".join(f"{n}: got {r!r}, want one of {sorted(wanted[n])}" for n, r in bad.items()))
        check(bg.session_error is None, f"the normal session failed during the attack: {bg.session_error}")
        check(bg.session_ops > 0 and bg.tool_runs > 0, "the background traffic did not run")
        check(not bg.tool_failures, f"{len(bg.tool_failures)} libiscsi logins failed: {bg.tool_failures[:3]}")
        check(bg.max_rss < RSS_LIMIT_KIB, f"RSS reached {bg.max_rss} KiB (limit {RSS_LIMIT_KIB} KiB)")

        fresh = Session(t.host, t.port, t.iqn)
        fresh.login()
        check(fresh.inquiry(t.lun_id(0))[8:16].decode().strip() == VENDOR, "INQUIRY after the attack: wrong vendor")
        fresh.logout()
        out = run(["iscsi-inq", t.url(0)], timeout=30).stdout
        check(f"Vendor:{VENDOR}" in out, f"iscsi-inq after the attack:\n{out}")


if __name__ == "__main__":
    main()
