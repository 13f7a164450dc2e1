#!/usr/bin/env python3
"""Prometheus metrics (`--metrics HOST:PORT`, docs/management.md): the daemon serves GET /metrics
while libiscsi's iscsi-perf reads and after the `iscsikit` tool has copied a file in and out;
every scrape passes `promtool check metrics`; the counters match the work done (bytes written ==
the file's size, bytes read == what cp read back, commands >= the I/Os, sessions open while
iscsi-perf runs and 0 after, a login to a target that does not exist counted as not_found); other
paths get 404, other methods 405, garbage 400, and the daemon keeps serving iSCSI and metrics."""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import MiB, Case, check, cli, log, require_tools, skip, PEER

DATA = 8 * MiB
LUN_SIZE = 16 * MiB
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        check(r.status == 200, f"GET /metrics: {r.status}")
        check(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"),
              f"Content-Type {r.headers['Content-Type']}")
        return r.read().decode()


def promtool_check(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and not p.stderr.strip() and not p.stdout.strip(),
          f"promtool check metrics: exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")


def samples(text):
    """{(name, frozenset of (label, value))): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        check(m is not None, f"not a sample line: {line!r}")
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(s, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in s, f"no sample {name}{labels}")
    return s[key]


def raw_http(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(request)
        answer = b""
        while chunk := c.recv(65536):
            answer += chunk
    return answer.decode(errors="replace")


def main():
    require_tools("promtool", "iscsi-perf")
    if PEER != "iscsikit":
        skip("metrics are iscsikit-target's own")
    with Case("metrics") as case:
        metrics_port = case.port()
        lun_file = case.path("lun0.img")
        t = case.start(luns=[f"file:{lun_file},size={LUN_SIZE}"], args=["--metrics", f"127.0.0.1:{metrics_port}"])
        deadline = time.monotonic() + 5  # the metrics server starts after the portals
        while f"metrics on http://127.0.0.1:{metrics_port}/metrics" not in t.log_text():
            check(time.monotonic() < deadline, "the log never named the metrics URL")
            time.sleep(0.05)
        labels = {"target": t.iqn, "lun": "0"}

        first = scrape(metrics_port)
        promtool_check(first)
        s = samples(first)
        check(value(s, "iscsikit_scsi_commands_total", op="read", **labels) == 0, "no reads yet")
        check(value(s, "iscsikit_sessions", target=t.iqn) == 0, "no session yet")

        # libiscsi reads for a few seconds; scrapes in between see a session and growing counters.
        perf = case.spawn(["iscsi-perf", "-m", "8", "-b", "8", "-r", t.url(0)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        during = scrape(metrics_port)
        promtool_check(during)
        s1 = samples(during)
        reads1 = value(s1, "iscsikit_scsi_commands_total", op="read", **labels)
        check(value(s1, "iscsikit_sessions", target=t.iqn) == 1, "iscsi-perf's session is open")
        check(reads1 > 0, "reads counted while iscsi-perf runs")
        time.sleep(1.5)
        s2 = samples(scrape(metrics_port))
        reads2 = value(s2, "iscsikit_scsi_commands_total", op="read", **labels)
        check(reads2 > reads1, f"read counter grows: {reads1} -> {reads2}")
        read_bytes2 = value(s2, "iscsikit_scsi_read_bytes_total", **labels)
        # iscsi-perf reads 8 blocks of 512 bytes per command, fewer at the LUN's end
        check(0.99 * reads2 * 8 * 512 <= read_bytes2 <= reads2 * 8 * 512,
              f"{read_bytes2:.0f} bytes for {reads2:.0f} reads of at most 4 KiB")
        hist = value(s2, "iscsikit_scsi_command_duration_seconds_count", op="read", **labels)
        check(hist == reads2, f"histogram count {hist} == read commands {reads2}")
        check(value(s2, "iscsikit_scsi_command_duration_seconds_bucket", le="+Inf", op="read", **labels) == hist,
              "+Inf bucket holds every command")
        perf.terminate()
        perf.wait(10)
        log(f"iscsi-perf: {reads2:.0f} reads counted")

        # The tool copies a file in and back out: exact byte counts.
        src, back = case.path("data"), case.path("back")
        with open(src, "wb") as f:
            f.write(os.urandom(DATA))
        before = samples(scrape(metrics_port))
        read_before = value(before, "iscsikit_scsi_read_bytes_total", **labels)
        writes_before = value(before, "iscsikit_scsi_commands_total", op="write", **labels)
        cli("cp", "--bs", "256k", "--no-progress", src, t.url(0))
        cli("cp", "--bs", "256k", "--no-progress", "--no-sparse", t.url(0), back)
        check(os.path.getsize(back) == LUN_SIZE, "the LUN came back whole")

        # A login to a target that does not exist fails as not_found.
        bad = f"iscsi://{t.portal}/iqn.2026-11.org.iscsikit:nobody/0"
        r = cli("readcap", bad, check=False)
        check(r.rc != 0, "readcap of an unknown target fails")

        after = scrape(metrics_port)
        promtool_check(after)
        s3 = samples(after)
        written = value(s3, "iscsikit_scsi_written_bytes_total", **labels)
        check(written == DATA, f"bytes written {written:.0f} == {DATA} copied in")
        read = value(s3, "iscsikit_scsi_read_bytes_total", **labels) - read_before
        check(read == LUN_SIZE, f"bytes read {read:.0f} == {LUN_SIZE} copied out")
        writes = value(s3, "iscsikit_scsi_commands_total", op="write", **labels) - writes_before
        check(writes >= DATA // (256 * 1024), f"{writes:.0f} write commands for {DATA // (256 * 1024)} chunks")
        check(value(s3, "iscsikit_scsi_errors_total", op="write", **labels) == 0, "no write failed")
        check(value(s3, "iscsikit_login_failures_total", reason="not_found") >= 1, "the failed login is counted")
        check(value(s3, "iscsikit_logins_total", target=t.iqn) >= 3, "iscsi-perf's and cp's logins")
        check(value(s3, "iscsikit_backstore_errors_total", error="ENOSPC", **labels) == 0, "no ENOSPC")
        check(value(s3, "iscsikit_connections_total", ) >= 4, "every connection counted")
        deadline = time.monotonic() + 5
        while value(samples(scrape(metrics_port)), "iscsikit_sessions", target=t.iqn) != 0:
            check(time.monotonic() < deadline, "sessions gauge back at 0 after every initiator left")
            time.sleep(0.1)
        log(f"cp: {written:.0f} bytes written, {read:.0f} read, {writes:.0f} write commands")

        # Not /metrics, not GET, not HTTP: answered and closed; the daemon carries on.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/", timeout=10)
            check(False, "GET / succeeded")
        except urllib.error.HTTPError as e:
            check(e.code == 404, f"GET /: {e.code}")
        check(raw_http(metrics_port, b"POST /metrics HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 405"), "POST is 405")
        check(raw_http(metrics_port, os.urandom(64) + b"\r\n\r\n").startswith("HTTP/1.1 400"), "garbage is 400")
        check(raw_http(metrics_port, b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n")
              .startswith("HTTP/1.1 431"), "an oversized head is 431")
        promtool_check(scrape(metrics_port))
        check(t.alive(), "the daemon survived")


if __name__ == "__main__":
    main()
