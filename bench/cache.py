#!/usr/bin/env python3
"""The target's block cache against the kernel's page cache and against no cache, on a file LUN
on disk (docs/benchmarks.md). `iscsikit bench` is the client; each mode gets a fresh target; the
modes alternate in order from round to round.

  hot set    4 KiB random reads, QD32, over a hot set that fits the cache (64 MiB; cache_size
             256 MiB): cache=writethrough vs kernel vs none, after a warm-up pass.
  scan       cache=writethrough: the hot set warmed, then one sequential pass over 4x the cache
             (1 MiB reads, QD4, elsewhere on the LUN), then the hot set again: the hit ratio of
             the hot set's reads before and after the scan (the cache's counters, SIGUSR1).
  read-ahead 128 KiB sequential reads at QD1 over 4x the cache, none of it cached:
             cache=writethrough (read-ahead) vs cache=none. Each target first reads the cache's
             size elsewhere on the LUN (1 MiB, QD4), as a target that has been serving a while
             has used every frame of its cache once (docs/benchmarks.md: on this VM the first
             use of a frame costs a sequential reader about a third of its bandwidth).
  fresh      the same on a target just started, every frame unused: that first-use cost.
  mixed      4 KiB random I/O, 70% reads and 30% writes, QD32, over the hot set after a warm-up:
             every mode (writethrough, writeback, kernel, none); what picks the default.

Prints min / median / max per workload and mode, the ratios of the medians, and writes
results.json with the machine and the commit.

  bench/cache.py [--seconds 5] [--rounds 3] [--dir /var/tmp] [--out DIR]
"""
import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "interop"))
sys.path.insert(0, str(HERE))
import driver  # noqa: E402
from harness import MiB, Case, cli_binary, log, run  # noqa: E402

LUN_SIZE = 1536 * MiB
CACHE_SIZE = 256 * MiB
HOT = 64 * MiB
SCAN_OFFSET = 256 * MiB
SCAN = 4 * CACHE_SIZE
IQN = "iqn.2026-11.org.iscsikit:bench-cache"
MODES = ("writethrough", "writeback", "kernel", "none")
STATS = re.compile(r"cache .*: .* hits (\d+) misses (\d+)")


def bench(url, *args, seconds, out_path):
    r = run([cli_binary(), "bench", url, "--json", "--time", str(seconds), *map(str, args)], timeout=seconds + 600,
            log_to=out_path, quiet=True)
    report = json.loads(r.stdout[r.stdout.index("{"):])
    if report.get("errors"):
        raise AssertionError(f"iscsikit bench {args}: {report['errors']} errors")
    return report


def counters(t):
    """(hits, misses) of the LUN's cache, from the line SIGUSR1 makes the daemon log."""
    before = len(STATS.findall(t.log_text()))
    os.kill(t.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = STATS.findall(t.log_text())
        if len(found) > before:
            return int(found[-1][0]), int(found[-1][1])
        time.sleep(0.02)
    raise AssertionError("the daemon logged no cache counters after SIGUSR1")


def hit_ratio(a, b):
    hits, misses = b[0] - a[0], b[1] - a[1]
    return hits / (hits + misses) if hits + misses else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp", help="where the LUN's file lives (a disk file system: O_DIRECT)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or HERE / "results" / time.strftime("cache-%Y%m%d-%H%M%S"))
    with Case("bench-cache", out=out, tmp_parent=args.dir) as case:
        image = os.path.join(case.tmp, "lun.img")
        log(f"filling {image} with {LUN_SIZE // MiB} MiB of random data")
        driver.fill_random(image, LUN_SIZE)
        seconds = args.seconds

        def start(mode):
            spec = f"file:{image},cache={mode}"
            if mode in ("writethrough", "writeback"):
                spec += f",cache_size={CACHE_SIZE // MiB}M"
            return case.start([spec], iqn=IQN)

        def warmed(name, mode, rnd, *workload):
            """A fresh target in `mode`, the workload for 2 s to warm it, then measured; IOPS."""
            t = start(mode)
            try:
                bench(t.url(0), *workload, seconds=2, out_path=out / f"{name}-warm-{mode}-{rnd}.json")
                r = bench(t.url(0), *workload, seconds=seconds, out_path=out / f"{name}-{mode}-{rnd}.json")
            finally:
                t.stop()
            log(f"round {rnd + 1} {name} {mode}: {r['iops']:,.0f} IOPS")
            return r["iops"]

        def hot_set(mode, job, rnd):
            return warmed("hot", mode, rnd, "--rw", "randread", "--bs", "4k", "--qd", 32, "--size", HOT)

        def mixed(mode, job, rnd):
            return warmed("mixed", mode, rnd, "--rw", "randrw", "--read-share", 70, "--bs", "4k", "--qd", 32,
                          "--size", HOT)

        def sequential(mode, rnd, warm):
            t = start(mode)
            name = "ra" if warm else "ra-fresh"
            try:
                if warm:  # every frame used once, on blocks the measured pass does not read
                    bench(t.url(0), "--rw", "read", "--bs", "1m", "--qd", 4, "--offset", 0, "--size", CACHE_SIZE,
                          "--once", seconds=600, out_path=out / f"{name}-warm-{mode}-{rnd}.json")
                r = bench(t.url(0), "--rw", "read", "--bs", "128k", "--qd", 1, "--offset", SCAN_OFFSET, "--size",
                          SCAN, "--once", seconds=seconds, out_path=out / f"{name}-{mode}-{rnd}.json")
            finally:
                t.stop()
            log(f"round {rnd + 1} 128 KiB sequential QD1 {mode}{'' if warm else ', fresh target'}: "
                f"{r['bytes_per_sec'] / MiB:,.1f} MiB/s")
            return r["bytes_per_sec"] / MiB

        def read_ahead(mode, job, rnd):
            return sequential(mode, rnd, True) if job == "read-ahead" else sequential(mode, rnd, False)

        def scan(mode, job, rnd):
            t = start("writethrough")
            try:
                hot = ("--rw", "randread", "--bs", "4k", "--qd", 32, "--size", HOT)
                bench(t.url(0), *hot, seconds=3, out_path=out / f"scan-warm-{rnd}.json")
                a = counters(t)
                bench(t.url(0), *hot, seconds=0.5, out_path=out / f"scan-before-{rnd}.json")
                b = counters(t)
                bench(t.url(0), "--rw", "read", "--bs", "1m", "--qd", 4, "--offset", SCAN_OFFSET, "--size", SCAN,
                      "--once", seconds=600, out_path=out / f"scan-{rnd}.json")
                c = counters(t)
                bench(t.url(0), *hot, seconds=0.5, out_path=out / f"scan-after-{rnd}.json")
                d = counters(t)
            finally:
                t.stop()
            before, after = hit_ratio(a, b), hit_ratio(c, d)
            log(f"round {rnd + 1} hot set hit ratio: {before:.1%} before the scan, {after:.1%} after it")
            return {"before": before, "after": after}

        results = {}
        results.update(driver.run_rounds(("writethrough", "kernel", "none"), ("hot",), args.rounds, hot_set))
        results.update(driver.run_rounds(("writethrough", "none"), ("read-ahead", "fresh"), args.rounds, read_ahead))
        results.update(driver.run_rounds(("writethrough",), ("scan",), args.rounds, scan))
        results.update(driver.run_rounds(MODES, ("mixed",), args.rounds, mixed))

    summary = {"machine": driver.machine(), "versions": driver.versions(), "seconds": args.seconds,
               "rounds": args.rounds, "results": results}
    hot = {m: driver.spread(results["hot"][m]) for m in ("writethrough", "kernel", "none")}
    ra = {m: driver.spread(results["read-ahead"][m]) for m in ("writethrough", "none")}
    fresh = {m: driver.spread(results["fresh"][m]) for m in ("writethrough", "none")}
    before = driver.spread([r["before"] for r in results["scan"]["writethrough"]])
    after = driver.spread([r["after"] for r in results["scan"]["writethrough"]])

    def cell(s, fmt):
        return f"{fmt.format(s['min'])} / {fmt.format(s['median'])} / {fmt.format(s['max'])}"

    print("\n| workload | writethrough | kernel | none | ratio of medians | goal |")
    print("|---|---|---|---|---|---|")
    print(f"| 4 KiB random read QD32, hot set (IOPS) | {cell(hot['writethrough'], '{:,.0f}')} | "
          f"{cell(hot['kernel'], '{:,.0f}')} | {cell(hot['none'], '{:,.0f}')} | "
          f"{hot['writethrough']['median'] / hot['kernel']['median']:.2f} vs kernel, "
          f"{hot['writethrough']['median'] / hot['none']['median']:.2f} vs none | ≥ 1.3 vs kernel |")
    print(f"| 128 KiB sequential read QD1, cold (MiB/s) | {cell(ra['writethrough'], '{:,.1f}')} | | "
          f"{cell(ra['none'], '{:,.1f}')} | {ra['writethrough']['median'] / ra['none']['median']:.2f} vs none | "
          "≥ 1.5 vs none |")
    print(f"| the same, target just started (MiB/s) | {cell(fresh['writethrough'], '{:,.1f}')} | | "
          f"{cell(fresh['none'], '{:,.1f}')} | {fresh['writethrough']['median'] / fresh['none']['median']:.2f} vs none "
          "| |")
    print(f"| hot set hit ratio, before / after a scan of 4x the cache | {cell(before, '{:.1%}')} → "
          f"{cell(after, '{:.1%}')} | | | | after ≥ 90% |")
    mixed_spread = {m: driver.spread(results["mixed"][m]) for m in MODES}
    print("\n| 4 KiB random 70% read / 30% write QD32, hot set (IOPS) | "
          + " | ".join(f"{m}: {cell(mixed_spread[m], '{:,.0f}')}" for m in MODES) + " |")
    best = max(MODES, key=lambda m: mixed_spread[m]["median"])
    print(f"best median for the mixed workload: {best}")
    summary["mixed_best"] = best
    summary["ratios"] = {"hot_vs_kernel": hot["writethrough"]["median"] / hot["kernel"]["median"],
                         "hot_vs_none": hot["writethrough"]["median"] / hot["none"]["median"],
                         "read_ahead_vs_none": ra["writethrough"]["median"] / ra["none"]["median"],
                         "read_ahead_fresh_vs_none": fresh["writethrough"]["median"] / fresh["none"]["median"],
                         "hit_ratio_after_scan": after["median"]}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"\nlogs and results.json in {out}")


if __name__ == "__main__":
    main()
