#!/usr/bin/env python3
"""The daemon under systemd's Type=notify (dist/iscsikit-target.service), with the test in
systemd's place: a Unix datagram socket named by NOTIFY_SOCKET. READY=1 comes once the portal
accepts, with a STATUS that names the targets and portals, and STOPPING=1 comes on SIGTERM before
the daemon exits 0; the socket may be a path or an abstract name. A NOTIFY_SOCKET nobody listens
on is logged and does not stop the daemon. The daemon starts from the sample configuration,
dist/target.toml, its paths and port moved into the test's temp dir. With JOURNAL_STREAM naming
its output, log lines carry a syslog priority and no time stamp."""
import os
import re
import signal
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import PEER, REPO, Case, check, log, skip, target_binary, wait_for_port

NOTIFY_TIMEOUT = 20.0
SAMPLE = REPO / "dist" / "target.toml"
SAMPLE_IQN = "iqn.2026-11.org.iscsikit:service"


def sample_config(case, port):
    """dist/target.toml with its state directory and portal moved into the test's reach."""
    text = SAMPLE.read_text()
    check("/var/lib/iscsikit/" in text and '"127.0.0.1:3260"' in text,
          f"{SAMPLE} no longer has a LUN under /var/lib/iscsikit on 127.0.0.1:3260; update this test")
    text = text.replace("/var/lib/iscsikit/", case.path("state") + "/").replace('"127.0.0.1:3260"',
                                                                                f'"127.0.0.1:{port}"')
    os.makedirs(case.path("state"), exist_ok=True)
    path = case.path(f"target-{port}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


class NotifySocket:
    """What systemd binds for a Type=notify service: datagrams of KEY=VALUE lines, with the
    sender's credentials (SO_PASSCRED) so that the test knows who sent them."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)

    def receive(self, timeout=NOTIFY_TIMEOUT):
        """One message: (dict of its assignments, the sender's pid)."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            raise AssertionError(f"no notification on {self.address} within {timeout:.0f} s")
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
        log(f"notification from pid {pid}: {fields}")
        return fields, pid

    def close(self):
        self.sock.close()
        if not self.address.startswith("@"):
            os.unlink(self.address)


def ready_then_stopping(case, address):
    notify = NotifySocket(address)
    port = case.port()
    t = case.start(args=["--config", sample_config(case, port), "--reactors", "2"], port=port, iqn=SAMPLE_IQN,
                   portal_args=False, wait=False, env={"NOTIFY_SOCKET": address})
    ready, pid = notify.receive()
    # READY=1 promises that the portal accepts now: one attempt, no retry
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as e:
        raise AssertionError(f"READY=1 arrived but 127.0.0.1:{port} refused a connection: {e}")
    check(pid == t.pid, f"READY=1 came from pid {pid}, not the daemon's {t.pid}")
    check(ready.get("READY") == "1", f"first notification is not READY=1: {ready}")
    want_status = f"serving 1 target on 127.0.0.1:{port}"
    check(ready.get("STATUS") == want_status, f"STATUS {ready.get('STATUS')!r}, want {want_status!r}")
    t.wait_ready()  # and the log says "listening on" as always
    check(os.path.getsize(case.path("state/lun0.img")) == 1 << 30, "the sample's 1G file LUN was not created")

    t.proc.send_signal(signal.SIGTERM)
    stopping, pid = notify.receive()
    check(stopping.get("STOPPING") == "1" and pid == t.pid, f"after SIGTERM: {stopping} from pid {pid}")
    check(stopping.get("STATUS") == "stopping on SIGTERM", f"STOPPING's STATUS: {stopping.get('STATUS')!r}")
    rc = t.stop()
    check(rc == 0, f"exit {rc} after SIGTERM (want 0)")
    notify.close()


def nobody_listening(case):
    """systemd gone, or a wrong NOTIFY_SOCKET: the daemon says so and goes on serving."""
    missing = case.path("nobody-here")
    t = case.start(luns=["ram:16M"], env={"NOTIFY_SOCKET": missing})
    time.sleep(0.5)
    check(t.alive(), "the daemon died when sd_notify could not reach NOTIFY_SOCKET")
    wait_for_port(t.host, t.port, 5, t.proc)
    text = t.log_text()
    check(re.search(r"error .*sd_notify 'READY=1' failed: No such file or directory", text),
          f"the failed READY=1 is not logged as an error:\n{text}")
    rc = t.stop()
    check(rc == 0, f"exit {rc} after SIGTERM (want 0)")


def journal_lines(case):
    """With JOURNAL_STREAM naming the daemon's stdout, as systemd sets it: "<6>info  [TID] ..."."""
    out_path = case.path("journal.log")
    port = case.port()
    with open(out_path, "wb") as out:
        st = os.fstat(out.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        argv = [target_binary(), "--portal", f"127.0.0.1:{port}", "--lun", "ram:16M", "--reactors", "1"]
        log("$ " + " ".join(argv) + f"  (JOURNAL_STREAM={env['JOURNAL_STREAM']})")
        proc = case.spawn(argv, stdout=out, stderr=out, env=env)
        wait_for_port("127.0.0.1", port, 20, proc)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    lines = open(out_path).read().splitlines()
    log("journal lines:\n  " + "\n  ".join(lines))
    check(rc == 0, f"exit {rc} after SIGTERM (want 0)")
    check(any(re.fullmatch(rf"<6>info  \[\d+\] listening on 127\.0\.0\.1:{port}", line) for line in lines),
          "no '<6>info  [TID] listening on ...' line")
    for line in lines:
        check(re.match(r"<[2-7]>(trace|debug|info|warning|error|critical) ", line), f"not a journal line: {line!r}")
        check(not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", line), f"a time stamp that journald adds anyway: {line!r}")


def main():
    if PEER != "iscsikit":
        skip("sd_notify is iscsikit-target's own")
    with Case("sd_notify") as case:
        ready_then_stopping(case, case.path("notify.sock"))
        ready_then_stopping(case, f"@iscsikit-interop-notify-{os.getpid()}")
        nobody_listening(case)
        journal_lines(case)


if __name__ == "__main__":
    main()
