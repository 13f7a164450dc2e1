#!/usr/bin/env python3
"""A configuration error is refused cleanly: for each bad configuration (TOML file or quick flags)
iscsikit-target exits with code 1 (never a signal, never a sanitizer abort), within 10 s, and
writes exactly one line on stderr, `iscsikit-target: ...`, naming the problem. Under the ASan+UBSan
build (ISCSIKIT_SANITIZED) the same cases run, and no "AddressSanitizer", "LeakSanitizer" or
"runtime error" text may appear. DESIGN.md "Errors and bad input": exceptions only at start-up."""
import os
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import PEER, Case, check, log, skip, target_binary

IQN = "iqn.2026-11.org.iscsikit:errors"
SANITIZER_TEXT = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")


def toml(port, luns='[[target.lun]]\nbacking = "ram"\nsize = "16M"\n', top="", iqn=IQN, portals=None):
    portals = portals if portals is not None else f'["127.0.0.1:{port}"]'
    return f"{top}\n[[target]]\niqn = \"{iqn}\"\nportals = {portals}\n\n{luns}"


def cases(case):
    """(name, argv, the words the one stderr line must contain)"""
    port, busy_port = case.port(), case.port()
    missing_dir = os.path.join(case.tmp, "no-such-dir")
    files = {
        "TOML syntax error": (f'[[target]]\niqn = "{IQN}\nportals = [', ["bad.toml:"]),
        "unknown top-level key": (toml(port, top="reactor = 2"), ["reactor"]),
        "unknown LUN key": (toml(port, luns='[[target.lun]]\nbacking = "ram"\nsize = "16M"\nblocksize = 512\n'),
                            ["blocksize"]),
        "size with a bad suffix": (toml(port, luns='[[target.lun]]\nbacking = "ram"\nsize = "16Q"\n'), ["size"]),
        "size zero": (toml(port, luns='[[target.lun]]\nbacking = "ram"\nsize = 0\n'), ["size"]),
        "size negative": (toml(port, luns='[[target.lun]]\nbacking = "ram"\nsize = -4096\n'), ["size"]),
        "size not a multiple of the block size": (
            toml(port, luns='[[target.lun]]\nbacking = "ram"\nsize = 1000\n'), ["size"]),
        "portal port out of range": (toml(port, portals='["127.0.0.1:70000"]'), ["70000"]),
        "portal listed twice": (toml(port, portals=f'["127.0.0.1:{port}", "127.0.0.1:{port}"]'), ["twice"]),
        "portal host unknown": (toml(port, portals=f'["no-such-host.invalid:{port}"]'), ["no-such-host.invalid"]),
        "portal already in use": (toml(port, portals=f'["127.0.0.1:{busy_port}"]'), [str(busy_port)]),
        "empty portal list": (toml(port, portals="[]"), ["portals"]),
        "file LUN in a missing directory": (
            toml(port, luns=f'[[target.lun]]\nbacking = "file"\npath = "{missing_dir}/lun.img"\nsize = "16M"\n'),
            ["no-such-dir"]),
        "file LUN missing, no size to create it": (
            toml(port, luns=f'[[target.lun]]\nbacking = "file"\npath = "{case.tmp}/absent.img"\n'), ["absent.img"]),
        "blockdev LUN missing": (
            toml(port, luns='[[target.lun]]\nbacking = "blockdev"\npath = "/dev/no-such-disk"\n'), ["no-such-disk"]),
        "same file backing two LUNs": (
            toml(port, luns=f'[[target.lun]]\nbacking = "file"\npath = "{case.tmp}/twice.img"\nsize = "16M"\n'
                            f'[[target.lun]]\nbacking = "file"\npath = "{case.tmp}/twice.img"\nsize = "16M"\n'),
            ["twice.img"]),
        "duplicate target name": (toml(port) + "\n" + toml(port).lstrip(), ["same IQN"]),
        "bad log level": (toml(port, top='log_level = "loud"'), ["log_level"]),
        "no target": ('log_level = "info"\n', ["target"]),
        "bad iqn": (toml(port, iqn="iqn.nope"), ["iqn.nope"]),
    }
    out = []
    for name, (text, words) in files.items():
        path = os.path.join(case.tmp, "bad.toml" if name == "TOML syntax error" else f"bad-{len(out)}.toml")
        with open(path, "w") as f:
            f.write(text)
        out.append((name, ["--config", path], words))
    out.append(("missing config file", ["--config", os.path.join(case.tmp, "nothing.toml")], ["nothing.toml"]))
    portal = ["--portal", f"127.0.0.1:{port}"]
    out += [
        ("--config with --portal", ["--config", out[1][1][1], *portal], ["--config"]),
        ("--config with --lun", ["--config", out[1][1][1], "--lun", "ram:16M"], ["--config"]),
        ("--lun with a bad size", [*portal, "--lun", "ram:lots"], ["lots"]),
        ("--lun with an unknown kind", [*portal, "--lun", "tape:16M"], ["tape"]),
        ("--lun with an unknown option", [*portal, "--lun", "ram:16M,colour=red"], ["colour"]),
        ("--lun file missing, no size", [*portal, "--lun", f"file:{case.tmp}/gone.img"], ["gone.img"]),
        ("--portal given twice", [*portal, *portal, "--lun", "ram:16M"], ["twice"]),
        ("--portal port out of range", ["--portal", "127.0.0.1:99999", "--lun", "ram:16M"], ["99999"]),
        ("--target not an iSCSI name", [*portal, "--target", "disk", "--lun", "ram:16M"], ["disk"]),
        ("--log-level unknown", [*portal, "--log-level", "loud"], ["loud"]),
        ("--max-outstanding-r2t 0", [*portal, "--max-outstanding-r2t", "0"], ["max_outstanding_r2t"]),
    ]
    return out, busy_port


def refused_cleanly(name, argv, words):
    """None when the daemon refused the configuration as the contract says, else what went wrong."""
    try:
        cp = subprocess.run([target_binary(), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", timeout=10)
    except subprocess.TimeoutExpired:
        return "still running after 10 s: the bad configuration was accepted"
    err = cp.stderr
    lines = err.strip().splitlines()
    described = f"exit {cp.returncode}\n--- stderr ---\n{err[-2000:]}\n--- stdout ---\n{cp.stdout[-1000:]}"
    if cp.returncode < 0:
        return f"killed by signal {-cp.returncode}\n{described}"
    if any(s in err + cp.stdout for s in SANITIZER_TEXT):
        return f"sanitizer report\n{described}"
    if cp.returncode != 1:
        return f"want exit 1\n{described}"
    if len(lines) != 1 or not lines[0].startswith("iscsikit-target: "):
        return f"want exactly one stderr line 'iscsikit-target: ...'\n{described}"
    missing = [w for w in words if w.lower() not in lines[0].lower()]
    if missing:
        return f"the line does not name {missing}\n{described}"
    log(f"  {name:42s} -> exit 1: {lines[0]}")
    return None


def main():
    if PEER != "iscsikit":
        skip("configuration errors are iscsikit-target's own")
    with Case("config_errors") as case:
        all_cases, busy_port = cases(case)
        with socket.create_server(("127.0.0.1", busy_port)):
            failures = {name: why for name, argv, words in all_cases
                        if (why := refused_cleanly(name, argv, words)) is not None}
        check(not failures, f"{len(failures)} of {len(all_cases)} bad configurations not refused cleanly:\n"
              + "\n".join(f"== {n}: {w}" for n, w in failures.items()))
        log(f"{len(all_cases)} bad configurations refused with exit 1 and one line"
            + (" (sanitized build)" if os.environ.get("ISCSIKIT_SANITIZED") else ""))


if __name__ == "__main__":
    main()
