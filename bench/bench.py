#!/usr/bin/env python3
"""iscsikit-target against tgtd, same machine, same run: a file LUN of the same size on each
(filled with random data, so neither target serves holes, and read once so both start from a warm
page cache), then iscsi-perf workloads against both, in alternating order. Prints a table with
IOPS, MiB/s and the ratio iscsikit/tgt; keeps logs and results under bench/results/.
Started by bench/run.sh, which finds or builds the binary."""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "interop"))
from harness import MiB, Case, log, parse_size, require_tools  # noqa: E402

# name: (random?, bytes per read, queue depth)
WORKLOADS = {
    "4k-rand-qd32": (True, 4096, 32),
    "128k-seq-qd8": (False, 128 * 1024, 8),
}
PEERS = ("iscsikit", "tgt")


def machine():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d")}


def fill_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def warm(path):
    with open(path, "rb") as f:
        while f.read(16 * MiB):
            pass


def perf(url, random_io, io_bytes, depth, seconds, block_size, log_path):
    cmd = ["iscsi-perf", "-t", str(seconds), "-m", str(depth), "-b", str(io_bytes // block_size)]
    if random_io:
        cmd.append("-r")
    cmd.append(url)
    log("$ " + " ".join(cmd))
    cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                        timeout=seconds + 60)
    out = cp.stdout.replace("\r", "\n")
    log_path.write_text(out)
    m = re.findall(r"^iops average (\d+)", out, re.M)
    if cp.returncode != 0 or not m:
        raise RuntimeError(f"iscsi-perf failed (exit {cp.returncode}), see {log_path}:\n{out[-2000:]}")
    iops = int(m[-1])
    return {"iops": iops, "mib_s": iops * io_bytes / MiB}


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
    os.environ["ISCSIKIT_TARGET_BIN"] = str(Path(args.binary).resolve())
    size = parse_size(args.size)
    peers = [args.only] if args.only else list(PEERS)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(__file__).resolve().parent / "results" / stamp

    with Case("bench", out=out, tmp_parent=args.dir) as case:
        targets = {}
        for peer in peers:
            path = os.path.join(case.tmp, f"{peer}.img")
            log(f"filling {path} with {size // MiB} MiB of random data")
            fill_random(path, size)
            extra = ["--reactors", str(args.reactors)] if peer == "iscsikit" and args.reactors else []
            targets[peer] = case.start(luns=[f"file:{path}"], args=extra, peer=peer,
                                       iqn=f"iqn.2026-11.org.iscsikit:bench-{peer}")
            warm(path)

        results = {w: {p: [] for p in peers} for w in WORKLOADS}
        for rnd in range(args.rounds):
            for i, (name, (random_io, io_bytes, depth)) in enumerate(WORKLOADS.items()):
                order = peers if (rnd + i) % 2 == 0 else peers[::-1]
                for peer in order:
                    t = targets[peer]
                    r = perf(t.url(0), random_io, io_bytes, depth, args.seconds, 512,
                             case.out / f"perf-{name}-{peer}-round{rnd}.log")
                    log(f"round {rnd} {name} {peer}: {r['iops']} IOPS, {r['mib_s']:.0f} MiB/s")
                    results[name][peer].append(r)
                    if not t.alive():
                        raise RuntimeError(f"{peer} died during {name}")

        info = machine()
        print(f"\nmachine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}, {info['date']}; "
              f"LUN {size // MiB} MiB file; {args.seconds} s x {args.rounds} rounds (median shown)\n")
        header = "| workload | " + " | ".join(f"{p} IOPS | {p} MiB/s" for p in peers)
        header += " | iscsikit/tgt |" if len(peers) == 2 else " |"
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        summary = {}
        for name in WORKLOADS:
            row, med = f"| {name} |", {}
            for p in peers:
                med[p] = statistics.median(r["iops"] for r in results[name][p])
                io_bytes = WORKLOADS[name][1]
                row += f" {med[p]:.0f} | {med[p] * io_bytes / MiB:.0f} |"
            if len(peers) == 2:
                row += f" {med['iscsikit'] / med['tgt']:.2f} |" if med["tgt"] else " - |"
            summary[name] = med
            print(row)
        (case.out / "results.json").write_text(json.dumps(
            {"machine": info, "size": size, "seconds": args.seconds, "rounds": args.rounds,
             "workloads": {n: {"random": w[0], "bytes": w[1], "queue_depth": w[2]} for n, w in WORKLOADS.items()},
             "results": results, "median_iops": summary}, indent=2))
        print(f"\nlogs and results.json in {case.out}")


if __name__ == "__main__":
    main()
