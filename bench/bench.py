#!/usr/bin/env python3
"""iscsikit-target against tgtd, same machine, same run: a file LUN of the same size on each
(filled with random data, so neither target serves holes, and read once so both start from a warm
page cache), then iscsi-perf workloads against both, in alternating order. Prints a table with
IOPS, MiB/s and the ratio iscsikit/tgt; keeps logs and results under bench/results/.
Started by bench/run.sh, which finds or builds the binary. The machinery is bench/driver.py's,
shared with bench/compare.sh."""
import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "interop"))
sys.path.insert(0, str(HERE))
import driver  # noqa: E402
from harness import MiB, Case, log, parse_size, require_tools  # noqa: E402

WORKLOADS = [driver.WORKLOADS[n] for n in ("4k-rand-read-qd32", "128k-seq-read-qd8")]
PEERS = ("iscsikit", "tgt")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", required=True, help="iscsikit-target to measure")
    ap.add_argument("--size", default="1G", help="LUN size (default 1G)")
    ap.add_argument("--seconds", type=int, default=20, help="seconds per measurement (default 20)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; each alternates the order (default 2)")
    ap.add_argument("--only", choices=PEERS, help="measure one target only")
    ap.add_argument("--reactors", type=int, default=0, help="iscsikit --reactors (default 0: one per CPU)")
    ap.add_argument("--dir", default=os.environ.get("TMPDIR", "/var/tmp"), help="where the LUN files go")
    args = ap.parse_args()
    require_tools("iscsi-perf", "tgtd", "tgtadm")
    size = parse_size(args.size)
    peers = [args.only] if args.only else list(PEERS)
    out = HERE / "results" / time.strftime("%Y%m%d-%H%M%S")

    with Case("bench", out=out, tmp_parent=args.dir) as case:
        specs = {"iscsikit": {"peer": "iscsikit", "binary": str(Path(args.binary).resolve()),
                              "args": ["--reactors", str(args.reactors)] if args.reactors else []},
                 "tgt": {"peer": "tgt"}}
        targets = driver.start_targets(case, {p: specs[p] for p in peers}, size)

        def one(peer, w, rnd):
            r = driver.measure(targets[peer], "iscsi-perf", w, args.seconds,
                               case.out / f"perf-{w.name}-{peer}-round{rnd}.log")
            log(f"round {rnd} {w.name} {peer}: {r['iops']} IOPS, {r['mib_s']:.0f} MiB/s")
            return r

        results = driver.run_rounds(peers, WORKLOADS, args.rounds, one)

        info = driver.machine()
        print(f"\nmachine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}, {info['date']}; "
              f"LUN {size // MiB} MiB file; {args.seconds} s x {args.rounds} rounds (median shown)\n")
        header = "| workload | " + " | ".join(f"{p} IOPS | {p} MiB/s" for p in peers)
        header += " | iscsikit/tgt |" if len(peers) == 2 else " |"
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        summary = {}
        for w in WORKLOADS:
            row, med = f"| {w.name} |", {}
            for p in peers:
                med[p] = driver.spread(r["iops"] for r in results[w][p])["median"]
                row += f" {med[p]:.0f} | {med[p] * w.io_bytes / MiB:.0f} |"
            if len(peers) == 2:
                row += f" {med['iscsikit'] / med['tgt']:.2f} |" if med["tgt"] else " - |"
            summary[w.name] = med
            print(row)
        (case.out / "results.json").write_text(json.dumps(
            {"machine": info, "size": size, "seconds": args.seconds, "rounds": args.rounds,
             "workloads": {w.name: w.describe() for w in WORKLOADS},
             "results": {w.name: results[w] for w in WORKLOADS}, "median_iops": summary}, indent=2))
        print(f"\nlogs and results.json in {case.out}")


if __name__ == "__main__":
    main()
