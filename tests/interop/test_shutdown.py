#!/usr/bin/env python3
"""SIGTERM and SIGINT with sessions open: the daemon asks each session to log out (RFC 7143
§11.9.1, AsyncEvent 1), waits a bounded time for sessions that do not, and exits 0. One session
answers the request with a Logout, one ignores it, and libiscsi (iscsi-perf) is reading throughout."""
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import pdu
from harness import PEER, Case, check, log, require_tools, skip
from pdu import Session

EXIT_BOUND = 15.0  # seconds from the signal to exit 0


class PoliteSession(threading.Thread):
    """Logs in, then waits for the target's logout request and answers it with a Logout."""

    def __init__(self, t):
        super().__init__(daemon=True)
        self.session = Session(t.host, t.port, t.iqn)
        self.session.login()
        self.outcome = None

    def run(self):
        s = self.session
        s.sock.settimeout(EXIT_BOUND + 5)
        try:
            while True:
                p = pdu.read_pdu(s.sock)
                if p.opcode == pdu.OP_ASYNC and p.header[36] == 1:  # AsyncEvent 1: please log out
                    s.exp_statsn = p.u32(24) + 1
                    s.logout()
                    self.outcome = "logged out on request"
                    return
                if p.opcode == pdu.OP_NOP_IN and p.u32(20) != pdu.RESERVED_TAG:
                    s.sock.sendall(pdu.nop_out(itt=pdu.RESERVED_TAG, ttt=p.u32(20), cmdsn=s.cmdsn,
                                               exp_statsn=p.u32(24) + 1, lun=p.header[8:16]))
        except (pdu.Closed, OSError) as e:
            self.outcome = f"dropped before a logout request ({e!r})"
        except AssertionError as e:
            self.outcome = f"logout failed: {e}"


def shutdown_with_sessions(case, sig):
    t = case.start(luns=["ram:64M"])
    polite = PoliteSession(t)
    polite.start()
    rude = Session(t.host, t.port, t.iqn, isid=b"\x80\x00\x00\x00\x43\x01")
    rude.login()
    rude.read_capacity16(t.lun_id(0))  # then never reads again
    perf = subprocess.Popen(["iscsi-perf", "-m", "8", "-b", "8", "-r", t.url(0)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(2)
    check(perf.poll() is None, f"iscsi-perf stopped early (exit {perf.returncode})")
    started = time.monotonic()
    rc = t.stop(sig, timeout=EXIT_BOUND)
    took = time.monotonic() - started
    polite.join(5)
    perf.kill()  # libiscsi would retry its login to the stopped target for ever
    perf.wait()
    rude.close()
    log(f"{sig.name}: exit {rc} after {took:.1f} s; polite session: {polite.outcome}")
    check(rc == 0, f"exit code {rc} after {sig.name} with sessions open (want 0)")
    check(polite.outcome == "logged out on request", f"polite session: {polite.outcome}")
    check("listening on" in t.log_text(), "log lost")


def main():
    if PEER != "iscsikit":
        skip("tgtd does not stop on signals")
    require_tools("iscsi-perf")
    with Case("shutdown") as case:
        shutdown_with_sessions(case, signal.SIGTERM)
        shutdown_with_sessions(case, signal.SIGINT)


if __name__ == "__main__":
    main()
