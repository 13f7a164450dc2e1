#!/usr/bin/env python3
"""What CHAP and an allow list cost once logged in (issue 10: "within 3% of the open
configuration"): one iscsikit-target binary started twice, open and secured (--chap and --allow
naming the client), each with a random-filled file LUN of the same size, then iscsi-perf 4 KiB
random reads at QD32 against both in alternating order. Prints min / median / max IOPS of each and
the ratios secured/open per round (IOPS, and target CPU per I/O); keeps logs under bench/results/.
  python3 bench/auth.py --binary build/release/bin/iscsikit-target [--seconds 10] [--rounds 5]"""
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

CLIENT = "iqn.2026-11.org.iscsikit:bench-client"
USER, SECRET = "bench", "bench-secret-0123"
WORKLOAD = driver.WORKLOADS["4k-rand-read-qd32"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="iscsikit-target to measure")
    ap.add_argument("--size", default="1G", help="LUN size (default 1G)")
    ap.add_argument("--seconds", type=int, default=10, help="seconds per measurement (default 10)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; each alternates the order (default 5)")
    ap.add_argument("--dir", default=os.environ.get("TMPDIR", "/var/tmp"), help="where the LUN files go")
    ap.add_argument("--control", action="store_true",
                    help="A/A control: the second target open too, to see what two alike targets differ by here")
    args = ap.parse_args()
    require_tools("iscsi-perf")
    size = parse_size(args.size)
    out = HERE / "results" / time.strftime("auth-%Y%m%d-%H%M%S")
    binary = str(Path(args.binary).resolve())
    with Case("bench-auth", out=out, tmp_parent=args.dir) as case:
        specs = {"open": {"peer": "iscsikit", "binary": binary, "args": []},
                 "secured": {"peer": "iscsikit", "binary": binary,
                             "args": [] if args.control else ["--chap", f"{USER}:{SECRET}", "--allow", CLIENT]}}
        targets = driver.start_targets(case, specs, size)

        def one(name, w, rnd):
            t = targets[name]
            secured = name == "secured" and not args.control
            url = t.url(0).replace("iscsi://", f"iscsi://{USER}%{SECRET}@") if secured else t.url(0)
            cpu_before, wall_before = driver.cpu_seconds(t.pid), time.monotonic()
            r = driver.iscsi_perf(url, w, args.seconds, case.out / f"perf-{name}-round{rnd}.log", initiator=CLIENT)
            cpu = driver.cpu_seconds(t.pid) - cpu_before
            r["cpu_cores"] = cpu / (time.monotonic() - wall_before)
            # the target's CPU per I/O: steadier than IOPS on a noisy VM, and what CHAP would cost
            r["cpu_us_per_io"] = cpu * 1e6 / (r["iops"] * r["seconds"]) if r["iops"] else None
            log(f"round {rnd} {name}: {r['iops']} IOPS, target {r['cpu_cores']:.2f} cores, "
                f"{r['cpu_us_per_io']:.2f} CPU us per I/O")
            return r

        results = driver.run_rounds(["open", "secured"], [WORKLOAD], args.rounds, one)[WORKLOAD]
        secured_log = targets["secured"].log_text()
        if not args.control and "authentication CHAP" not in secured_log:
            raise SystemExit("the secured target's log shows no CHAP login: the comparison would be void")
        opened = [r["iops"] for r in results["open"]]
        secured = [r["iops"] for r in results["secured"]]
        ratios = [s / o for s, o in zip(secured, opened)]
        info = driver.machine()
        print(f"\nmachine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}, {info['date']}")
        print(f"{WORKLOAD.label}, {args.seconds} s x {args.rounds} rounds, LUN {size // MiB} MiB file\n")
        print("| configuration | IOPS min / median / max | target CPU us per I/O min / median / max |\n|---|---|---|")
        for name, key in (("open", "open"), ("CHAP + allow list", "secured")):
            sp = driver.spread([r["iops"] for r in results[key]])
            cp = driver.spread([r["cpu_us_per_io"] for r in results[key]])
            print(f"| {name} | {sp['min']:,} / {sp['median']:,} / {sp['max']:,} | "
                  f"{cp['min']:.2f} / {cp['median']:.2f} / {cp['max']:.2f} |")
        sp = driver.spread(ratios)
        print(f"\nsecured/open per round: {', '.join(f'{r:.3f}' for r in ratios)} "
              f"(min {sp['min']:.3f}, median {sp['median']:.3f}, max {sp['max']:.3f})")
        cpu_ratios = [s["cpu_us_per_io"] / o["cpu_us_per_io"] for s, o in zip(results["secured"], results["open"])
                      if s["cpu_us_per_io"] and o["cpu_us_per_io"]]
        if cpu_ratios:
            cp = driver.spread(cpu_ratios)
            print(f"target CPU per I/O, secured/open per round: min {cp['min']:.3f}, median {cp['median']:.3f}, "
                  f"max {cp['max']:.3f}")
        (case.out / "results.json").write_text(json.dumps(
            {"machine": info, "workload": WORKLOAD.describe(), "seconds": args.seconds, "open": results["open"],
             "secured": results["secured"], "ratios": ratios, "cpu_ratios": cpu_ratios}, indent=1))


if __name__ == "__main__":
    main()
