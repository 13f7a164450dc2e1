#!/usr/bin/env python3
"""Two builds of iscsikit-target (this tree's and another commit's) and tgtd in one run: the same
workloads against each in rotating order, round after round, beside two baselines measured in the
same rounds (iperf3's single-stream loopback throughput, and bench/pingpong's TCP round trip of a
4 KiB read's bytes). Prints Markdown tables (min / median / max per workload per target, the ratios,
IOPS per target core, the baselines) and writes results.json. Started by bench/compare.sh, which
builds both trees; the machinery is bench/driver.py's, shared with bench/run.sh."""
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
from harness import MiB, Case, log, parse_size, require_tools, wait_for_port  # noqa: E402

READ_1M, WRITE_1M, READ_QD1 = "1m-seq-read-qd8", "1m-seq-write-qd8", "4k-rand-read-qd1"


def iperf3(case, seconds, log_path):
    """Single-stream TCP throughput over loopback, MiB/s as the receiver counted it."""
    port = case.port()
    server = case.spawn(["iperf3", "-s", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", port, 10, server)  # iperf3 shrugs off the probe and keeps listening
    cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    log("$ " + " ".join(cmd))
    try:
        cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=seconds + 30)
    finally:
        server.terminate()
        server.wait(10)
    log_path.write_text(cp.stdout)
    if cp.returncode != 0:
        raise RuntimeError(f"iperf3 failed (exit {cp.returncode}), see {log_path}")
    return {"mib_s": json.loads(cp.stdout)["end"]["sum_received"]["bits_per_second"] / 8 / MiB}


def pingpong(binary, seconds, log_path):
    cmd = [binary, "--seconds", str(seconds), "--json"]
    log("$ " + " ".join(cmd))
    cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=seconds + 30)
    log_path.write_text(cp.stdout)
    if cp.returncode != 0:
        raise RuntimeError(f"pingpong failed (exit {cp.returncode}), see {log_path}")
    return json.loads(cp.stdout)


def tgt_offer(target):
    """tgtd's declared session keys (tgtadm shows no per-session values)."""
    cp = target.adm("--lld", "iscsi", "--op", "show", "--mode", "target", "--tid", "1", check=False)
    return dict(line.strip().split("=", 1) for line in cp.stdout.splitlines() if "=" in line)


def commit_info(tree, rev_name=None):
    info = {"commit": driver.git("rev-parse", "HEAD", cwd=tree),
            "subject": driver.git("log", "-1", "--format=%s", cwd=tree),
            "dirty": bool(driver.git("status", "--porcelain", "--untracked-files=no", cwd=tree))}
    if rev_name:
        info["rev"] = rev_name
    return info


def cell(s, fmt="{:,.0f}"):
    return " / ".join(fmt.format(s[k]) for k in ("min", "median", "max")) if s else "-"


def ratio(a, b, fmt="{:.2f}"):
    return fmt.format(a / b) if a is not None and b else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--current", required=True, help="this tree's iscsikit-target")
    ap.add_argument("--current-tree", default=str(HERE.parent), help="its source tree (for git rev-parse)")
    ap.add_argument("--rev-binary", required=True, help="REV's iscsikit-target")
    ap.add_argument("--rev-tree", required=True, help="REV's source tree (a worktree)")
    ap.add_argument("--rev", required=True, help="REV as given on the command line")
    ap.add_argument("--cli", required=True, help="the iscsikit tool (this tree's): the client of the writes")
    ap.add_argument("--pingpong", required=True, help="bench/pingpong (this tree's)")
    ap.add_argument("--size", default="1G", help="LUN size per target (default 1G)")
    ap.add_argument("--seconds", type=float, default=10, help="seconds per measurement (default 10)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--reactors", type=int, default=1,
                    help="iscsikit-target --reactors for both builds (default 1, so IOPS per core compares alike)")
    ap.add_argument("--workloads", default=",".join(driver.WORKLOADS),
                    help=f"comma-separated subset of {','.join(driver.WORKLOADS)}")
    ap.add_argument("--no-tgt", action="store_true", help="leave tgtd out")
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else "/var/tmp",
                    help="where the LUN files go (default /dev/shm, a tmpfs: writes measure the target, not a disk)")
    ap.add_argument("--out", help="results folder (default bench/results/compare-DATE-TIME)")
    args = ap.parse_args()
    require_tools("iscsi-perf", "iperf3", *(() if args.no_tgt else ("tgtd", "tgtadm")))
    workloads = [driver.WORKLOADS[n] for n in args.workloads.split(",")]
    size = parse_size(args.size)
    seconds = args.seconds if args.seconds != int(args.seconds) else int(args.seconds)
    commits = {"current": commit_info(args.current_tree), "rev": commit_info(args.rev_tree, args.rev)}
    short = {k: c["commit"][:8] + ("+dirty" if c["dirty"] else "") for k, c in commits.items()}
    names = {"current": f"current ({short['current']})", "rev": f"REV {args.rev} ({short['rev']})", "tgt": "tgt"}
    reactors = ["--reactors", str(args.reactors)] if args.reactors else []
    specs = {"current": {"peer": "iscsikit", "binary": str(Path(args.current).resolve()), "args": reactors},
             "rev": {"peer": "iscsikit", "binary": str(Path(args.rev_binary).resolve()), "args": reactors}}
    if not args.no_tgt:
        specs["tgt"] = {"peer": "tgt"}
    out = Path(args.out) if args.out else HERE / "results" / ("compare-" + time.strftime("%Y%m%d-%H%M%S"))

    with Case("compare", out=out, tmp_parent=args.dir) as case:
        targets = driver.start_targets(case, specs, size)
        baselines = {"iperf3": [], "pingpong": []}

        def one(name, w, rnd):
            r = driver.measure(targets[name], w.client, w, seconds, case.out / f"{w.name}-{name}-round{rnd}.log",
                               cli=args.cli)
            log(f"round {rnd} {w.name} {name}: {r['iops']:,.0f} IOPS, {r['mib_s']:,.0f} MiB/s, "
                f"target {r['cpu_cores']:.2f} cores")
            return r

        def measure_baselines(rnd):
            baselines["iperf3"].append(iperf3(case, seconds, case.out / f"iperf3-round{rnd}.json"))
            baselines["pingpong"].append(pingpong(args.pingpong, seconds, case.out / f"pingpong-round{rnd}.json"))
            log(f"round {rnd} baselines: iperf3 {baselines['iperf3'][-1]['mib_s']:,.0f} MiB/s, "
                f"pingpong {baselines['pingpong'][-1]['mean_rtt_us']:.1f} µs")

        results = driver.run_rounds(list(specs), workloads, args.rounds, one, measure_baselines)

        negotiated = {}
        for name, t in targets.items():
            n = {}
            if specs[name]["peer"] == "iscsikit":
                for p in driver.logged_in_params(t.log_text()):
                    n.setdefault(f"{p.pop('initiator')} (target's log)", p)
            else:
                n["tgtd's declared values (tgtadm --op show --mode target)"] = tgt_offer(t)
            from_tool = next((r["negotiated"] for w in workloads for r in results[w][name] if "negotiated" in r), None)
            if from_tool:
                n["iscsikit tool (its -vv log)"] = {k: v for k, v in from_tool.items() if k != "initiator"}
            negotiated[name] = n

        info = driver.machine()
        med = {w: {n: driver.spread(r["iops"] for r in results[w][n]) for n in specs} for w in workloads}
        per_core = {w: {n: driver.spread(r["ios_per_cpu_s"] for r in results[w][n]) for n in specs} for w in workloads}
        cores = {w: {n: driver.spread(r["cpu_cores"] for r in results[w][n]) for n in specs} for w in workloads}
        mib = {w: {n: driver.spread(r["mib_s"] for r in results[w][n]) for n in specs} for w in workloads}
        base = {"iperf3_mib_s": driver.spread(b["mib_s"] for b in baselines["iperf3"]),
                "pingpong_rtt_us": driver.spread(b["mean_rtt_us"] for b in baselines["pingpong"])}

        def median(table, w, n):
            s = table[w].get(n)
            return s["median"] if s else None

        print(f"\nmachine: {info['nproc']} CPUs, {info['cpu']}, {info['mem_gib']} GiB, Linux {info['kernel']}, "
              f"{info['date']}, load average at the end {info['loadavg'][0]:.2f}; {size // MiB} MiB random-filled "
              f"file LUN per target in {args.dir}; iscsikit-target --reactors {args.reactors or 'default'}; "
              f"{seconds} s per measurement, {args.rounds} round(s) in rotating order\n")
        print("IOPS, min / median / max over the rounds; MiB/s and the ratios from the medians\n")
        cols = list(specs)
        head = "| workload | client | " + " | ".join(f"{names[n]} IOPS" for n in cols) + " | MiB/s (" + \
               " / ".join(n for n in cols) + ") | current/REV |" + ("" if args.no_tgt else " current/tgt |")
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for w in workloads:
            row = f"| {w.label} | {w.client} | " + " | ".join(cell(med[w][n]) for n in cols)
            row += " | " + " / ".join(f"{median(mib, w, n):,.0f}" for n in cols)
            row += f" | {ratio(median(med, w, 'current'), median(med, w, 'rev'))} |"
            if not args.no_tgt:
                row += f" {ratio(median(med, w, 'current'), median(med, w, 'tgt'))} |"
            print(row)

        print("\nIOPS per target core: I/Os per second of the target process's CPU time (utime + stime), "
              "median; in parentheses the target's median CPU use in cores\n")
        head = "| workload | " + " | ".join(names[n] for n in cols) + " | current/REV |" + \
               ("" if args.no_tgt else " current/tgt |")
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for w in workloads:
            row = f"| {w.label} | " + " | ".join(
                f"{median(per_core, w, n):,.0f} ({median(cores, w, n):.2f})" if per_core[w][n] else "-" for n in cols)
            row += f" | {ratio(median(per_core, w, 'current'), median(per_core, w, 'rev'))} |"
            if not args.no_tgt:
                row += f" {ratio(median(per_core, w, 'current'), median(per_core, w, 'tgt'))} |"
            print(row)

        print("\nBaselines, same rounds (min / median / max): iperf3 single stream over loopback "
              f"{cell(base['iperf3_mib_s'])} MiB/s; pingpong 48 B -> 4144 B round trip, QD1, "
              f"{cell(base['pingpong_rtt_us'], '{:.1f}')} µs mean\n")
        against = {}
        iperf = base["iperf3_mib_s"]["median"] if base["iperf3_mib_s"] else None
        rtt = base["pingpong_rtt_us"]["median"] if base["pingpong_rtt_us"] else None
        rows = []
        names_w = {w.name: w for w in workloads}
        for key, goal in ((READ_1M, "≥ 90%"), (WRITE_1M, "≥ 90%")):
            if key in names_w:
                vals = {n: median(mib, names_w[key], n) for n in cols}
                against[f"{key} / iperf3"] = {n: v / iperf if v and iperf else None for n, v in vals.items()}
                rows.append((f"{names_w[key].label}: MiB/s / iperf3", goal,
                             [ratio(vals[n], iperf, "{:.0%}") if iperf else "-" for n in cols]))
        if READ_QD1 in names_w:
            w = names_w[READ_QD1]
            rtts = {n: 1e6 / median(med, w, n) if median(med, w, n) else None for n in cols}
            against["4k-rand-read-qd1 round trip us"] = rtts
            against["4k-rand-read-qd1 round trip / pingpong"] = {n: v / rtt if v and rtt else None
                                                                 for n, v in rtts.items()}
            rows.append(("4 KiB random read QD1: mean round trip µs (1e6 / IOPS)", "",
                         [f"{rtts[n]:.1f}" if rtts[n] else "-" for n in cols]))
            rows.append(("... / pingpong round trip", "≤ 1.15", [ratio(rtts[n], rtt) for n in cols]))
        if rows:
            head = "| figure | " + " | ".join(names[n] for n in cols) + " | goal |"
            print(head)
            print("|" + "---|" * (head.count("|") - 1))
            for label, goal, vals in rows:
                print(f"| {label} | " + " | ".join(vals) + f" | {goal} |")

        print("\nnegotiated (HeaderDigest, DataDigest, MaxRecvDataSegmentLength initiator/target, MaxBurstLength, "
              "FirstBurstLength, InitialR2T, ImmediateData):")
        for name, n in negotiated.items():
            for source, p in n.items():
                if "declared" in source:
                    keys = ("HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength", "MaxBurstLength",
                            "FirstBurstLength", "InitialR2T", "ImmediateData")
                    print(f"  {names[name]}, {source}: " + ", ".join(f"{k}={p.get(k)}" for k in keys))
                else:
                    print(f"  {names[name]}, {source}: {p['HeaderDigest']}, {p['DataDigest']}, "
                          f"{p['MaxRecvDataSegmentLength (initiator declared)']}/"
                          f"{p['MaxRecvDataSegmentLength (target declared)']}, {p['MaxBurstLength']}, "
                          f"{p['FirstBurstLength']}, {p['InitialR2T']}, {p['ImmediateData']}")

        (case.out / "results.json").write_text(json.dumps(
            {"commits": commits, "machine": info, "versions": driver.versions(),
             "settings": {"size": size, "seconds": seconds, "rounds": args.rounds, "reactors": args.reactors,
                          "dir": args.dir, "targets": {n: names[n] for n in cols}},
             "negotiated": negotiated,
             "workloads": {w.name: w.describe() for w in workloads},
             "results": {w.name: results[w] for w in workloads},
             "summary": {w.name: {"iops": med[w], "mib_s": mib[w], "ios_per_cpu_s": per_core[w],
                                  "target_cpu_cores": cores[w]} for w in workloads},
             "baselines": {"rounds": baselines, **base}, "against_baselines": against}, indent=2))
        print(f"\nlogs and results.json in {case.out}")


if __name__ == "__main__":
    main()
