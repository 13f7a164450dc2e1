#!/usr/bin/env python3
"""The iscsikit initiator against libiscsi's: `iscsikit bench` and `iscsi-perf`, same workload
(4 KiB random reads, 32 outstanding, same duration), against two targets (tgtd and
iscsikit-target), each serving a random-filled file LUN on tmpfs. Each round runs every
(target, client) pair once, alternating the order of the clients from one target and round to the
next. Prints a table with the median IOPS and the ratio iscsikit/iscsi-perf per target; keeps logs
and results.json under bench/results/. Started by `bench/run.sh --initiator`."""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "interop"))
sys.path.insert(0, str(HERE))
import driver  # noqa: E402
from harness import MiB, Case, log, parse_size, require_tools  # noqa: E402

WORKLOAD = driver.WORKLOADS["4k-rand-read-qd32"]
IO_BYTES, DEPTH = WORKLOAD.io_bytes, WORKLOAD.depth
# iscsi-perf -r starts a read at any 512-byte block (rand() % blocks in libiscsi's
# utils/iscsi-perf.c); `iscsikit bench --align 512` does the same, so both clients read alike.
ALIGN = 512
TARGETS = ("tgt", "iscsikit")
CLIENTS = ("iscsi-perf", "iscsikit")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", required=True, help="iscsikit-target")
    ap.add_argument("--cli", required=True, help="iscsikit (the client tool)")
    ap.add_argument("--size", default="1G", help="LUN size (default 1G)")
    ap.add_argument("--seconds", type=int, default=10, help="seconds per measurement (default 10)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    ap.add_argument("--only", choices=TARGETS, help="one target only")
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else "/var/tmp",
                    help="where the LUN files go (default /dev/shm, a tmpfs)")
    args = ap.parse_args()
    require_tools("iscsi-perf", "tgtd", "tgtadm")
    cli = str(Path(args.cli).resolve())
    size = parse_size(args.size)
    targets_wanted = [args.only] if args.only else list(TARGETS)
    out = HERE / "results" / ("initiator-" + time.strftime("%Y%m%d-%H%M%S"))

    with Case("bench-initiator", out=out, tmp_parent=args.dir) as case:
        specs = {"tgt": {"peer": "tgt"}, "iscsikit": {"peer": "iscsikit", "binary": str(Path(args.binary).resolve())}}
        targets = driver.start_targets(case, {t: specs[t] for t in targets_wanted}, size)

        def one(client, tname, rnd):
            r = driver.measure(targets[tname], client, WORKLOAD, args.seconds,
                               case.out / f"{client}-{tname}-round{rnd}.log", cli=cli, align=ALIGN)
            log(f"round {rnd} target {tname} client {client}: {r['iops']:.0f} IOPS")
            return r

        results = driver.run_rounds(CLIENTS, list(targets), args.rounds, one)

        info = driver.machine()
        print(f"\nmachine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}, {info['date']}; "
              f"{size // MiB} MiB random-filled file LUN in {args.dir}; 4 KiB random read at any {ALIGN}-byte block, "
              f"QD{DEPTH}; "
              f"{args.seconds} s x {args.rounds} rounds (median shown)\n")
        print("| target | iscsi-perf IOPS | iscsikit bench IOPS | iscsikit/iscsi-perf | iscsikit p50 µs | iscsikit p99 µs |")
        print("|---|---|---|---|---|---|")
        summary = {}
        for tname in targets:
            med = {c: statistics.median(r["iops"] for r in results[tname][c]) for c in CLIENTS}
            kit = results[tname]["iscsikit"]
            p50 = statistics.median(r["p50_us"] for r in kit)
            p99 = statistics.median(r["p99_us"] for r in kit)
            ratio = med["iscsikit"] / med["iscsi-perf"] if med["iscsi-perf"] else float("nan")
            summary[tname] = {**med, "ratio": ratio}
            print(f"| {tname} | {med['iscsi-perf']:.0f} | {med['iscsikit']:.0f} | {ratio:.2f} | {p50:.0f} | {p99:.0f} |")
        (case.out / "results.json").write_text(json.dumps(
            {"machine": info, "size": size, "seconds": args.seconds, "rounds": args.rounds,
             "workload": {**WORKLOAD.describe(), "client": list(CLIENTS), "align": ALIGN},
             "results": results, "median_iops": summary}, indent=2))
        print(f"\nlogs and results.json in {case.out}")


if __name__ == "__main__":
    main()
