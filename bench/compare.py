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
from harness import MiB, Case, log, parse_size, require_tools  # noqa: E402

READ_1M, WRITE_1M, READ_QD1 = "1m-seq-read-qd8", "1m-seq-write-qd8", "4k-rand-read-qd1"


def iperf3(case, seconds, log_path):
    """Single-stream TCP throughput over loopback, MiB/s as the receiver counted it. No probe of the
    port first: iperf3's server can still be busy with a probe's broken test when the client
    comes. A client that finds no server yet (it reports an error in its JSON) tries again."""
    port = case.port()
    server = case.spawn(["iperf3", "-s", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    try:
        for attempt in range(50):
            time.sleep(0.1)
            if server.poll() is not None:
                raise RuntimeError(f"the iperf3 server exited with code {server.returncode}")
            if attempt == 0:
                log("$ " + " ".join(cmd))
            cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=seconds + 30)
            try:
                j = json.loads(cp.stdout)
            except ValueError:
                j = {"error": cp.stdout[-500:]}
            if cp.returncode == 0 and "error" not in j:
                break
    finally:
        server.terminate()
        server.wait(10)
    log_path.write_text(cp.stdout)
    if cp.returncode != 0 or "error" in j:
        raise RuntimeError(f"iperf3 failed (exit {cp.returncode}): {j.get('error')}, see {log_path}")
    return {"mib_s": j["end"]["sum_received"]["bits_per_second"] / 8 / MiB}


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
    q = div(a, b)
    return "-" if q is None else fmt.format(q)


def div(a, b):
    return a / b if a is not None and b else None


def median(s):
    return s["median"] if s else None


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def parse_args():
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
    ap.add_argument("--check-args", action="store_true", help="check the options and exit (compare.sh, before building)")
    args = ap.parse_args()
    unknown = [n for n in args.workloads.split(",") if n not in driver.WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(driver.WORKLOADS)}")
    if args.rounds < 1 or args.seconds <= 0:
        ap.error("--rounds and --seconds must be positive")
    if args.check_args:
        sys.exit(0)
    return args


def negotiated_params(specs, targets, results, workloads):
    """Per target: the parameters each kind of initiator ran with, from the logs that show them."""
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
    return negotiated


def summarize(results, baselines, workloads, cols):
    """min / median / max of each figure per workload and target, the baselines, and each target's
    distance from them (from the medians)."""
    figures = {"iops": "iops", "mib_s": "mib_s", "ios_per_cpu_s": "ios_per_cpu_s", "target_cpu_cores": "cpu_cores",
               "target_cpu_us": "target_cpu_us_per_io", "client_cpu_us": "client_cpu_us_per_io"}
    summary = {w: {f: {n: driver.spread(r[key] for r in results[w][n]) for n in cols} for f, key in figures.items()}
               for w in workloads}
    base = {"iperf3_mib_s": driver.spread(b["mib_s"] for b in baselines["iperf3"]),
            "pingpong_rtt_us": driver.spread(b["mean_rtt_us"] for b in baselines["pingpong"]),
            "pingpong_client_cpu_us": driver.spread(b["client_cpu_us"] for b in baselines["pingpong"]),
            "pingpong_server_cpu_us": driver.spread(b["server_cpu_us"] for b in baselines["pingpong"])}
    iperf, rtt = median(base["iperf3_mib_s"]), median(base["pingpong_rtt_us"])
    against = {}
    for w in workloads:
        if w.name in (READ_1M, WRITE_1M):
            against[f"{w.name} / iperf3"] = {n: div(median(summary[w]["mib_s"][n]), iperf) for n in cols}
        if w.name == READ_QD1:
            rtts = {n: div(1e6, median(summary[w]["iops"][n])) for n in cols}
            against[f"{w.name} round trip us"] = rtts
            against[f"{w.name} round trip / pingpong"] = {n: div(v, rtt) for n, v in rtts.items()}
            # A QD1 round trip is mostly CPU time on the two ends, one after the other: these say
            # which end spends what, beside pingpong's client and server.
            against[f"{w.name} target cpu us"] = {n: median(summary[w]["target_cpu_us"][n]) for n in cols}
            against[f"{w.name} client cpu us"] = {n: median(summary[w]["client_cpu_us"][n]) for n in cols}
    return summary, base, against


def print_report(info, args, size, seconds, workloads, cols, names, summary, base, against, negotiated):
    print(f"\nmachine: {info['nproc']} CPUs, {info['cpu']}, {info['mem_gib']} GiB, Linux {info['kernel']}, "
          f"{info['date']}, load average at the end {info['loadavg'][0]:.2f}; {size // MiB} MiB random-filled "
          f"file LUN per target in {args.dir}; iscsikit-target --reactors {args.reactors or 'default'}; "
          f"{seconds} s per measurement, {args.rounds} round(s) in rotating order\n")
    tgt = "tgt" in cols

    def ratios(w, figure):
        s = summary[w][figure]
        out = [ratio(median(s["current"]), median(s["rev"]))]
        return out + [ratio(median(s["current"]), median(s["tgt"]))] if tgt else out

    print("IOPS, min / median / max over the rounds; MiB/s and the ratios from the medians\n")
    table(["workload", "client"] + [f"{names[n]} IOPS" for n in cols] + [f"MiB/s ({' / '.join(cols)})", "current/REV"]
          + (["current/tgt"] if tgt else []),
          [[w.label, w.client] + [cell(summary[w]["iops"][n]) for n in cols]
           + [" / ".join(f"{median(summary[w]['mib_s'][n]):,.0f}" for n in cols)] + ratios(w, "iops")
           for w in workloads])

    print("\nIOPS per target core: I/Os per second of the target process's CPU time (utime + stime), "
          "median; in parentheses the target's median CPU use in cores\n")
    table(["workload"] + [names[n] for n in cols] + ["current/REV"] + (["current/tgt"] if tgt else []),
          [[w.label] + [f"{median(summary[w]['ios_per_cpu_s'][n]):,.0f} ({median(summary[w]['target_cpu_cores'][n]):.2f})"
                        if summary[w]["ios_per_cpu_s"][n] else "-" for n in cols] + ratios(w, "ios_per_cpu_s")
           for w in workloads])

    pp_client, pp_server = median(base["pingpong_client_cpu_us"]), median(base["pingpong_server_cpu_us"])
    print("\nBaselines, same rounds (min / median / max): iperf3 single stream over loopback "
          f"{cell(base['iperf3_mib_s'])} MiB/s; pingpong 48 B -> 4144 B round trip, QD1, "
          f"{cell(base['pingpong_rtt_us'], '{:.1f}')} µs mean, CPU per round trip "
          f"{pp_client:.1f} µs in its client and {pp_server:.1f} µs in its server (medians)\n")
    labels = {f"{READ_1M} / iperf3": ("1 MiB sequential read, QD8: MiB/s / iperf3", "{:.0%}", "≥ 90%"),
              f"{WRITE_1M} / iperf3": ("1 MiB sequential write, QD8: MiB/s / iperf3", "{:.0%}", "≥ 90%"),
              f"{READ_QD1} round trip us": ("4 KiB random read QD1: mean round trip µs (1e6 / IOPS)", "{:.1f}", ""),
              f"{READ_QD1} round trip / pingpong": ("... / pingpong round trip", "{:.2f}", "≤ 1.15"),
              f"{READ_QD1} target cpu us": (f"... target's CPU µs per read (pingpong's server: {pp_server:.1f})",
                                            "{:.1f}", ""),
              f"{READ_QD1} client cpu us": ("... client's (iscsi-perf) CPU µs per read (pingpong's client: "
                                            f"{pp_client:.1f})", "{:.1f}", "")}
    rows = [[label] + [fmt.format(against[key][n]) if against[key][n] is not None else "-" for n in cols] + [goal]
            for key, (label, fmt, goal) in labels.items() if key in against]
    if rows:
        table(["figure"] + [names[n] for n in cols] + ["goal"], rows)

    print("\nnegotiated (HeaderDigest, DataDigest, MaxRecvDataSegmentLength initiator/target, MaxBurstLength, "
          "FirstBurstLength, InitialR2T, ImmediateData):")
    declared = ("HeaderDigest", "DataDigest", "MaxRecvDataSegmentLength", "MaxBurstLength", "FirstBurstLength",
                "InitialR2T", "ImmediateData")
    for name, n in negotiated.items():
        for source, p in n.items():
            if "declared" in source:
                print(f"  {names[name]}, {source}: " + ", ".join(f"{k}={p.get(k)}" for k in declared))
            else:
                print(f"  {names[name]}, {source}: {p['HeaderDigest']}, {p['DataDigest']}, "
                      f"{p['MaxRecvDataSegmentLength (initiator declared)']}/"
                      f"{p['MaxRecvDataSegmentLength (target declared)']}, {p['MaxBurstLength']}, "
                      f"{p['FirstBurstLength']}, {p['InitialR2T']}, {p['ImmediateData']}")


def main():
    args = parse_args()
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
    cols = list(specs)
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

        results = driver.run_rounds(cols, workloads, args.rounds, one, measure_baselines)
        negotiated = negotiated_params(specs, targets, results, workloads)
        summary, base, against = summarize(results, baselines, workloads, cols)
        info = driver.machine()
        print_report(info, args, size, seconds, workloads, cols, names, summary, base, against, negotiated)
        (case.out / "results.json").write_text(json.dumps(
            {"commits": commits, "machine": info, "versions": driver.versions(),
             "settings": {"size": size, "seconds": seconds, "rounds": args.rounds, "reactors": args.reactors,
                          "dir": args.dir, "targets": {n: names[n] for n in cols}},
             "negotiated": negotiated,
             "workloads": {w.name: w.describe() for w in workloads},
             "results": {w.name: results[w] for w in workloads},
             "summary": {w.name: summary[w] for w in workloads},
             "baselines": {"rounds": baselines, **base}, "against_baselines": against}, indent=2))
        print(f"\nlogs and results.json in {case.out}")


if __name__ == "__main__":
    main()
