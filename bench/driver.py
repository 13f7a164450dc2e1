"""The one workload runner behind bench/run.sh (bench.py), bench/run.sh --initiator (initiator.py)
and bench/compare.sh (compare.py): random-filled file LUNs, targets started beside each other,
the two clients (libiscsi's iscsi-perf for reads, `iscsikit bench` for reads and writes), the
target's CPU time over each measurement, rounds in alternating order, min / median / max, the
negotiated parameters as the peers logged them, and the description of the machine."""
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness import MiB, log

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Workload:
    name: str
    label: str
    rw: str  # iscsikit bench's --rw: read, write, randread, randwrite
    io_bytes: int
    depth: int

    @property
    def random(self):
        return self.rw.startswith("rand")

    @property
    def write(self):
        return self.rw.endswith("write")

    @property
    def client(self):
        """iscsi-perf only reads; writes go through `iscsikit bench`, against every target alike."""
        return "iscsikit" if self.write else "iscsi-perf"

    def describe(self):
        return {"label": self.label, "rw": self.rw, "bytes": self.io_bytes, "queue_depth": self.depth,
                "client": self.client}


WORKLOADS = {w.name: w for w in (
    Workload("4k-rand-read-qd32", "4 KiB random read, QD32", "randread", 4096, 32),
    Workload("128k-seq-read-qd8", "128 KiB sequential read, QD8", "read", 128 * 1024, 8),
    Workload("1m-seq-read-qd8", "1 MiB sequential read, QD8", "read", MiB, 8),
    Workload("4k-rand-write-qd32", "4 KiB random write, QD32", "randwrite", 4096, 32),
    Workload("1m-seq-write-qd8", "1 MiB sequential write, QD8", "write", MiB, 8),
    Workload("4k-rand-read-qd1", "4 KiB random read, QD1", "randread", 4096, 1),
)}


def machine():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:")), 0)
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": round(mem_kib / (1 << 20), 1),
            "kernel": platform.release(), "hostname": platform.node(), "loadavg": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


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


def start_targets(case, specs, size):
    """specs: {name: {"peer": "iscsikit"|"tgt", "binary": path, "args": [...]}}. One random-filled
    file LUN of `size` bytes per target in the case's temp dir, read once so that every target
    starts from a warm page cache. Returns {name: Target}."""
    targets = {}
    for name, spec in specs.items():
        path = os.path.join(case.tmp, f"{name}.img")
        log(f"filling {path} with {size // MiB} MiB of random data")
        fill_random(path, size)
        targets[name] = case.start(luns=[f"file:{path}"], args=spec.get("args", ()), peer=spec["peer"],
                                   binary=spec.get("binary"), iqn=f"iqn.2026-11.org.iscsikit:bench-{name}")
        warm(path)
    return targets


def cpu_seconds(pid):
    """utime + stime of a whole process (every thread), from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def client_cpu_seconds():
    """utime + stime of every child process this one has waited for (the clients, run to the end)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def iscsi_perf(url, w, seconds, log_path, block_size=512, initiator=None):
    cmd = ["iscsi-perf", "-t", str(seconds), "-m", str(w.depth), "-b", str(w.io_bytes // block_size)]
    if initiator:
        cmd += ["-i", initiator]
    if w.random:
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
    return {"iops": iops, "mib_s": iops * w.io_bytes / MiB, "seconds": seconds}


def kit_bench(cli, url, w, seconds, log_path, align=None):
    """`iscsikit bench` at debug level: stderr then carries the login's negotiated parameters."""
    cmd = [cli, "bench", url, "--rw", w.rw, "--bs", str(w.io_bytes), "--qd", str(w.depth), "--time", str(seconds),
           "--json", "-vv"]
    if align:
        cmd += ["--align", str(align)]
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
    params = logged_in_params(cp.stderr)
    return {"iops": j["iops"], "mib_s": j["bytes_per_sec"] / MiB, "seconds": j["seconds"],
            "p50_us": j["lat_us"]["p50"], "p99_us": j["lat_us"]["p99"],
            **({"negotiated": params[0]} if params else {})}


def measure(target, client, w, seconds, log_path, cli=None, align=None):
    """One measurement of `w` against `target` with `client`, and the target's CPU time over it:
    cpu_cores is the target's CPU seconds per second of the client's run (login to logout), and
    ios_per_cpu_s the I/Os it completed per CPU second, i.e. the IOPS one fully busy core would give.
    client_cpu_s is the client process's CPU time (it is a child, waited for; login and logout
    included), and *_cpu_us_per_io each side's CPU time per I/O."""
    children_before = client_cpu_seconds()
    cpu_before, wall_before = cpu_seconds(target.pid), time.monotonic()
    if client == "iscsi-perf":
        r = iscsi_perf(target.url(0), w, seconds, log_path)
    else:
        r = kit_bench(cli, target.url(0), w, seconds, log_path, align=align)
    cpu = cpu_seconds(target.pid) - cpu_before
    wall = time.monotonic() - wall_before
    client_cpu = client_cpu_seconds() - children_before
    ios = r["iops"] * r["seconds"]
    r.update({"target_cpu_s": cpu, "wall_s": wall, "cpu_cores": cpu / wall,
              "ios_per_cpu_s": ios / cpu if cpu > 0 else None, "client_cpu_s": client_cpu,
              "target_cpu_us_per_io": cpu * 1e6 / ios if ios else None,
              "client_cpu_us_per_io": client_cpu * 1e6 / ios if ios else None})
    if not target.alive():
        raise RuntimeError(f"the target (pid {target.pid}) died during {w.name}, see {target.log_path}")
    return r


def rotated(names, k):
    """The order of the k-th measurement: with two names, alternately forward and reversed; with
    more, each name goes first in turn."""
    names = list(names)
    if len(names) == 2:
        return names if k % 2 == 0 else names[::-1]
    k %= len(names) or 1
    return names[k:] + names[:k]


def run_rounds(names, jobs, rounds, one, after_round=None):
    """Runs one(name, job, round) for every job and name, `rounds` times, rotating which name goes
    first from one job and round to the next; after_round(round), when given, ends each round.
    Returns {job: {name: [result per round]}}."""
    results = {job: {n: [] for n in names} for job in jobs}
    for rnd in range(rounds):
        for i, job in enumerate(jobs):
            for name in rotated(names, rnd + i):
                results[job][name].append(one(name, job, rnd))
        if after_round:
            after_round(rnd)
    return results


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


LOGGED_IN = re.compile(
    r"(?:ini=(?P<initiator>\S+) .*?)?logged in\b.*?header digest (?P<header_digest>\w+), data digest "
    r"(?P<data_digest>\w+), MaxRecvDataSegmentLength (?P<initiator_mrdsl>\d+)/(?P<target_mrdsl>\d+), "
    r"MaxBurstLength (?P<max_burst>\d+), FirstBurstLength (?P<first_burst>\d+), InitialR2T (?P<initial_r2t>\w+), "
    r"ImmediateData (?P<immediate_data>\w+)")


def logged_in_params(text):
    """The parameters of every login in a log: iscsikit-target's "logged in:" line (info level, with
    the initiator's name) or the iscsikit tool's "logged in to" line (debug level)."""
    found = []
    for m in LOGGED_IN.finditer(text):
        if "discovery" in m.group(0):
            continue
        flag = lambda k: m.group(k) == "true"  # noqa: E731
        found.append({"initiator": m.group("initiator"),
                      "HeaderDigest": "CRC32C" if flag("header_digest") else "None",
                      "DataDigest": "CRC32C" if flag("data_digest") else "None",
                      "MaxRecvDataSegmentLength (initiator declared)": int(m.group("initiator_mrdsl")),
                      "MaxRecvDataSegmentLength (target declared)": int(m.group("target_mrdsl")),
                      "MaxBurstLength": int(m.group("max_burst")), "FirstBurstLength": int(m.group("first_burst")),
                      "InitialR2T": "Yes" if flag("initial_r2t") else "No",
                      "ImmediateData": "Yes" if flag("immediate_data") else "No"})
    return found


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=True).stdout.strip()


def versions():
    """Package versions of the peers, for the record."""
    out = {}
    for pkg in ("tgt", "libiscsi-bin", "iperf3"):
        cp = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
        out[pkg] = cp.stdout.strip() if cp.returncode == 0 else None
    return out
