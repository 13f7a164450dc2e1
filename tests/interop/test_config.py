#!/usr/bin/env python3
"""Starting from a TOML file (docs/configuration.md): two targets, four LUNs, three portals; bad
files and bad flags stop the daemon with a non-zero exit and a message naming the line and key;
and the embedded default (no arguments) serves its 1 GiB RAM LUN on 127.0.0.1:3260."""
import re
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import MiB, PEER, Case, check, log, require_tools, run, skip, target_binary, wait_for_port

IQN_A = "iqn.2026-11.org.iscsikit:config-a"
IQN_B = "iqn.2026-11.org.iscsikit:config-b"
DEFAULT_IQN = "iqn.2026-11.org.iscsikit:default"


def good_config(p1, p2, file_lun):
    return f"""# written by tests/interop/test_config.py
log_level = "debug"
reactors = 2
nop_interval = 10
nop_timeout = 10

[[target]]
iqn = "{IQN_A}"
alias = "config test A"
portals = ["127.0.0.1:{p1}"]

  [[target.lun]]
  backing = "ram"
  size = "64M"

  [[target.lun]]
  backing = "file"
  path = "{file_lun}"
  size = "32M"
  block_size = 4096
  thin = true

[[target]]
iqn = "{IQN_B}"
portals = ["127.0.0.1:{p1}", "127.0.0.1:{p2}"]

  [[target.lun]]
  backing = "ram"
  size = 16777216

  [[target.lun]]
  backing = "ram"
  size = "8M"
  block_size = 4096
"""


# Each bad file: (what is wrong, the lines of its second LUN, the last one bad, the key to name)
BAD_CONFIGS = [
    ("unknown key (typo)", ['backing = "ram"', 'size = "16M"', "blocksize = 4096"], "blocksize"),
    ("wrong type", ['backing = "ram"', "size = true"], "size"),
    ("block size not 512 or 4096", ['backing = "ram"', 'size = "16M"', "block_size = 1000"], "block_size"),
    ("unknown backing", ['size = "16M"', 'backing = "tape"'], "backing"),
]
BAD_TEMPLATE = """reactors = 1

[[target]]
iqn = "iqn.2026-11.org.iscsikit:bad"
portals = ["127.0.0.1:{port}"]

  [[target.lun]]
  backing = "ram"
  size = "16M"

  [[target.lun]]
"""


def run_expecting_failure(args, timeout=15):
    cp = subprocess.run([target_binary(), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True, timeout=timeout)
    return cp.returncode, cp.stdout


def bad_file(case, name, lun_lines):
    """Writes a bad config; returns (path, 1-based line of the bad key, its port)."""
    port = case.port()
    text = BAD_TEMPLATE.format(port=port) + "".join(f"  {line}\n" for line in lun_lines)
    path = case.path(f"bad-{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path, len(text.splitlines()), port


def main():
    if PEER != "iscsikit":
        skip("configuration files are iscsikit's own")
    require_tools("iscsi-ls", "iscsi-readcapacity16")
    with Case("config") as case:
        # --- a good file: two targets, four LUNs, target B on two portals
        p1, p2 = case.port(), case.port()
        path = case.path("good.toml")
        with open(path, "w") as f:
            f.write(good_config(p1, p2, case.path("lun-a1.img")))
        t = case.start(args=["--config", path], port=p1, iqn=IQN_A, portal_args=False)
        wait_for_port("127.0.0.1", p2, 10)
        check(f"listening on 127.0.0.1:{p2}" in t.log_text(), f"the log never said 'listening on 127.0.0.1:{p2}'")
        out = run(["iscsi-ls", "-s", f"iscsi://127.0.0.1:{p1}"], timeout=30).stdout
        check(f"Target:{IQN_A} " in out and f"Target:{IQN_B} " in out, f"portal {p1} does not list both targets:\n{out}")
        out = run(["iscsi-ls", "-s", f"iscsi://127.0.0.1:{p2}"], timeout=30).stdout
        check(f"Target:{IQN_B} " in out, f"portal {p2} does not list target B:\n{out}")
        want = {(IQN_A, 0, p1): (64 * MiB, 512), (IQN_A, 1, p1): (32 * MiB, 4096),
                (IQN_B, 0, p2): (16 * MiB, 512), (IQN_B, 1, p1): (8 * MiB, 4096)}
        for (iqn, lun, port), (size, block) in want.items():
            out = run(["iscsi-readcapacity16", f"iscsi://127.0.0.1:{port}/{iqn}/{lun}"], timeout=30).stdout
            got = (int(re.search(r"Total size:(\d+)", out).group(1)),
                   int(re.search(r"LOGICAL BLOCK LENGTH IN BYTES:(\d+)", out).group(1)))
            check(got == (size, block), f"{iqn} LUN {lun}: capacity {got}, want {(size, block)}")

        # --- bad files: non-zero exit, "FILE:LINE" and the key in the message, nothing listening
        for name, lun_lines, key in BAD_CONFIGS:
            bad_path, line, port = bad_file(case, re.sub(r"\W+", "-", name).strip("-"), lun_lines)
            rc, out = run_expecting_failure(["--config", bad_path])
            log(f"bad config ({name}): exit {rc}: {out.strip().splitlines()[-1] if out.strip() else ''}")
            check(rc != 0, f"bad config ({name}) started the daemon (exit {rc}):\n{out}")
            check(f"{bad_path}:{line}" in out, f"bad config ({name}): message lacks '{bad_path}:{line}':\n{out}")
            check(key in out, f"bad config ({name}): message does not name the key {key!r}:\n{out}")
            check(not port_open(port), f"bad config ({name}): something listens on {port}")
        syntax = case.path("syntax.toml")
        with open(syntax, "w") as f:
            f.write('reactors = 1\n\n[[target]]\niqn = iqn.2026-11.org.iscsikit:unquoted\n')
        rc, out = run_expecting_failure(["--config", syntax])
        check(rc != 0 and f"{syntax}:4" in out, f"TOML syntax error: exit {rc}, message lacks '{syntax}:4':\n{out}")
        missing = case.path("does-not-exist.toml")
        rc, out = run_expecting_failure(["--config", missing])
        check(rc != 0 and missing in out, f"missing config file: exit {rc}, message lacks the path:\n{out}")

        # --- bad quick flags
        for args in (["--lun", "ram:12Q"], ["--lun", "tape:/dev/st0"], ["--lun", "ram:64M,block_size=1000"],
                     ["--lun", "ram:64M,colour=blue"], ["--portal", "127.0.0.1:99999"], ["--target", "not-an-iqn"],
                     ["--log-level", "loud"], ["--no-such-flag"]):
            rc, out = run_expecting_failure(["--portal", f"127.0.0.1:{case.port()}", *args])
            log(f"bad flags {args}: exit {rc}: {out.strip().splitlines()[-1] if out.strip() else ''}")
            check(rc != 0, f"bad flags {args} started the daemon (exit {rc}):\n{out}")

        # --- the embedded default: no arguments at all
        if port_open(3260):
            log("port 3260 is busy: the embedded default is not checked here")
            return
        d = case.start(args=[], port=3260, iqn=DEFAULT_IQN, portal_args=False)
        out = run(["iscsi-ls", "-s", "iscsi://127.0.0.1:3260"], timeout=30).stdout
        check(f"Target:{DEFAULT_IQN} " in out, f"the default target is not listed:\n{out}")
        out = run(["iscsi-readcapacity16", d.url(0)], timeout=30).stdout
        check("Total size:1073741824" in out, f"the default LUN is not 1 GiB:\n{out}")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
