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
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "interop"))
sys.path.insert(0, str(HERE))
from bench import fill_random, machine, perf, warm  # noqa: E402
from harness import MiB, Case, log, parse_size, require_tools  # noqa: E402

IO_BYTES, DEPTH = 4096, 32
TARGETS = ("tgt", "iscsikit")
CLIENTS = ("iscsi-perf", "iscsikit")


def kit_bench(cli, url, seconds, log_path):
    cmd = [cli, "bench", url, "--rw", "randread", "--bs", str(IO_BYTES), "--qd", str(DEPTH),
           "--time", str(seconds), "--json"]
    log("$ " + " ".join(cmd))
    cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                        timeout=seconds + 60)
    log_path.write_text(f"$ {' '.join(cmd)}\nexit {cp.returncode}\n--- stdout\n{cp.stdout}\n--- stderr\n{cp.stderr}")
    try:
        j = json.loads(cp.stdout)
    except ValueError:
        j = None
    if cp.returncode != 0 or j is None:
        raise RuntimeError(f"iscsikit bench failed (exit {cp.returncode}), see {log_path}:\n{cp.stderr[-2000:]}")
    if j.get("errors"):
        raise RuntimeError(f"iscsikit bench reported {j['errors']} errors, see {log_path}")
    return {"iops": j["iops"], "mib_s": j["bytes_per_sec"] / MiB, "p50_us": j["lat_us"]["p50"],
            "p99_us": j["lat_us"]["p99"]}


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
    os.environ["ISCSIKIT_TARGET_BIN"] = str(Path(args.binary).resolve())
    cli = str(Path(args.cli).resolve())
    size = parse_size(args.size)
    targets_wanted = [args.only] if args.only else list(TARGETS)
    out = HERE / "results" / ("initiator-" + time.strftime("%Y%m%d-%H%M%S"))

    with Case("bench-initiator", out=out, tmp_parent=args.dir) as case:
        targets = {}
        for name in targets_wanted:
            path = os.path.join(case.tmp, f"{name}.img")
            log(f"filling {path} with {size // MiB} MiB of random data")
            fill_random(path, size)
            targets[name] = case.start(luns=[f"file:{path}"], peer=name,
                                       iqn=f"iqn.2026-11.org.iscsikit:bench-initiator-{name}")
            warm(path)

        results = {t: {c: [] for c in CLIENTS} for t in targets}
        for rnd in range(args.rounds):
            for i, (tname, t) in enumerate(targets.items()):
                order = CLIENTS if (rnd + i) % 2 == 0 else CLIENTS[::-1]
                for client in order:
                    log_path = case.out / f"{client}-{tname}-round{rnd}.log"
                    if client == "iscsi-perf":
                        r = perf(t.url(0), True, IO_BYTES, DEPTH, args.seconds, 512, log_path)
                    else:
                        r = kit_bench(cli, t.url(0), args.seconds, log_path)
                    log(f"round {rnd} target {tname} client {client}: {r['iops']:.0f} IOPS")
                    results[tname][client].append(r)
                    if not t.alive():
                        raise RuntimeError(f"{tname} died while {client} ran")

        info = machine()
        print(f"\nmachine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}, {info['date']}; "
              f"{size // MiB} MiB random-filled file LUN in {args.dir}; 4 KiB random read, QD{DEPTH}; "
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
             "workload": {"random": True, "bytes": IO_BYTES, "queue_depth": DEPTH},
             "results": results, "median_iops": summary}, indent=2))
        print(f"\nlogs and results.json in {case.out}")


if __name__ == "__main__":
    main()
