#!/usr/bin/env python3
"""`iscsikit mount` against the user-space chain a user would assemble today for the same thing:
qemu-nbd (QEMU's libiscsi driver) exporting the LUN over NBD on a Unix socket, and nbdfuse
(libnbd-bin) showing that export as a FUSE file. Same target, same LUN, same run; fio with
ioengine=libaio, direct=1 on each file, in alternating order per round (docs/benchmarks.md):

  4 KiB random read QD32, 4 KiB random write QD32, 1 MiB sequential read QD8, 1 MiB sequential
  write QD8.

Prints min / median / max per workload and chain, the ratios of the medians, and writes
results.json with the machine and the commit. Needs fio, qemu-nbd (with qemu-block-extra's iSCSI
driver), nbdfuse and /dev/fuse.

  bench/mount.py [--size 1G] [--seconds 10] [--rounds 3] [--dir /dev/shm] [--out DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "interop"))
sys.path.insert(0, str(HERE))
import driver  # noqa: E402
from harness import MiB, Case, cli_binary, log, parse_size, require_tools, run  # noqa: E402

WORKLOADS = (
    ("4k-rand-read-qd32", "4 KiB random read, QD32", "randread", "4k", 32),
    ("4k-rand-write-qd32", "4 KiB random write, QD32", "randwrite", "4k", 32),
    ("1m-seq-read-qd8", "1 MiB sequential read, QD8", "read", "1m", 8),
    ("1m-seq-write-qd8", "1 MiB sequential write, QD8", "write", "1m", 8),
)
CHAINS = ("iscsikit-mount", "qemu-nbd+nbdfuse")


def mounted(path):
    return any(line.split()[4] == os.path.realpath(path)
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.05)


def fio(path, rw, bs, depth, seconds, size, log_path):
    cmd = ["fio", "--name=bench", f"--filename={path}", "--ioengine=libaio", "--direct=1", f"--rw={rw}",
           f"--bs={bs}", f"--iodepth={depth}", "--numjobs=1", "--time_based", f"--runtime={seconds}",
           f"--size={size}", "--randrepeat=0", "--norandommap", "--group_reporting", "--output-format=json"]
    out = run(cmd, timeout=seconds + 120, log_to=log_path, quiet=True).stdout
    report = json.loads(out[out.index("{"):])
    job = report["jobs"][0]
    side = job["write"] if rw.endswith("write") else job["read"]
    if job.get("error"):
        raise AssertionError(f"fio {rw} on {path}: error {job['error']}")
    return {"iops": side["iops"], "mib_s": side["bw_bytes"] / MiB}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="/dev/shm", help="where the LUN's file lives")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    require_tools("fio", "qemu-nbd", "nbdfuse", "fusermount3")
    size = parse_size(args.size)
    out = Path(args.out or HERE / "results" / time.strftime("mount-%Y%m%d-%H%M%S"))
    with Case("bench-mount", out=out, tmp_parent=args.dir) as case:
        image = os.path.join(case.tmp, "lun.img")
        log(f"filling {image} with {size // MiB} MiB of random data")
        driver.fill_random(image, size)
        t = case.start([f"file:{image}"], iqn="iqn.2026-11.org.iscsikit:bench-mount")
        url = t.url(0)

        ours = case.path("iscsikit")
        os.makedirs(ours)
        run([cli_binary(), "mount", url, ours, "--log-file", str(out / "mount.log")])
        sock = case.path("nbd.sock")
        qemu = case.spawn(["qemu-nbd", "--format=raw", "--shared=8", "--persistent", "-k", sock, url], stdout=open(out / "qemu-nbd.log", "wb"),
                          stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(sock), 20, "qemu-nbd's socket")
        theirs = case.path("nbdfuse")
        os.makedirs(theirs)
        nbd = case.spawn(["nbdfuse", theirs, f"nbd+unix:///?socket={sock}"], stdout=open(out / "nbdfuse.log", "wb"),
                         stderr=subprocess.STDOUT)
        wait_for(lambda: mounted(theirs), 20, "nbdfuse's mount")
        files = {"iscsikit-mount": os.path.join(ours, "lun0"), "qemu-nbd+nbdfuse": os.path.join(theirs, "nbd")}
        try:
            def one(chain, w, rnd):
                name, label, rw, bs, depth = w
                r = fio(files[chain], rw, bs, depth, args.seconds, size, out / f"fio-{chain}-{name}-{rnd}.json")
                log(f"round {rnd + 1} {name} {chain}: {r['iops']:,.0f} IOPS, {r['mib_s']:,.1f} MiB/s")
                return r

            results = driver.run_rounds(CHAINS, WORKLOADS, args.rounds, one)
        finally:
            run(["fusermount3", "-u", theirs], check=False)
            nbd.wait(30)
            qemu.terminate()
            qemu.wait(30)
            run([cli_binary(), "umount", ours], check=False)

    summary = {"machine": driver.machine(), "versions": driver.versions(), "size": size,
               "seconds": args.seconds, "rounds": args.rounds, "workloads": {}}
    print("\n| workload | iscsikit mount | qemu-nbd + nbdfuse | ratio of medians |")
    print("|---|---|---|---|")
    for w in WORKLOADS:
        name, label, rw = w[0], w[1], w[2]
        unit = "iops" if w[3] == "4k" else "mib_s"
        cells, medians = [], {}
        for chain in CHAINS:
            s = driver.spread([r[unit] for r in results[w][chain]])
            medians[chain] = s["median"]
            cells.append(f"{s['min']:,.0f} / {s['median']:,.0f} / {s['max']:,.0f} {'IOPS' if unit == 'iops' else 'MiB/s'}")
        ratio = medians["iscsikit-mount"] / medians["qemu-nbd+nbdfuse"]
        print(f"| {label} | {cells[0]} | {cells[1]} | {ratio:.2f} |")
        summary["workloads"][name] = {"label": label, "unit": unit, "ratio": ratio,
                                      **{c: results[w][c] for c in CHAINS}}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"\nlogs and results.json in {out}")


if __name__ == "__main__":
    main()
