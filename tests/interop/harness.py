"""Shared plumbing for the interop tests (stdlib only): a free loopback port, the daemon started
with given arguments and stopped with SIGTERM (exit code 0 required), its log kept in the build
tree and shown on failure, a private temp dir per test, and helpers to run the peer tools.

Environment (CMake sets the first three):
  ISCSIKIT_TARGET_BIN    path of iscsikit-target
  ISCSIKIT_INTEROP_OUT   where logs are kept (one folder per test)
  ISCSIKIT_REPO          repository root
  ISCSIKIT_CLI_BIN       path of the iscsikit client tool (the initiator)
  ISCSIKIT_INTEROP_PEER  "iscsikit" (default) or "tgt": run the same test against tgtd, to check
                         the test itself against a known target (LUN n maps to tgt LUN n+1).
  CI                     "true": a missing tool or file fails the test instead of skipping it.
A test may also start tgtd next to iscsikit-target with case.start_tgt(...) (optionally with a CHAP
account bound to its target), and run the client tool with cli(...) or case.spawn(...)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = Path(os.environ.get("ISCSIKIT_REPO", HERE.parent.parent))
OUT_ROOT = Path(os.environ.get("ISCSIKIT_INTEROP_OUT", REPO / "build" / "interop-logs"))
PEER = os.environ.get("ISCSIKIT_INTEROP_PEER", "iscsikit")
DEFAULT_IQN = "iqn.2026-11.org.iscsikit:interop"
SKIP = 77  # CTest SKIP_RETURN_CODE
IN_CI = os.environ.get("CI") == "true"  # missing prerequisites fail instead of skipping
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
MiB = 1 << 20


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def skip(reason):
    """This peer cannot do what the test checks (e.g. tgtd has no configuration file): exit 77,
    which CTest reports as skipped. Only a run with ISCSIKIT_INTEROP_PEER=tgt may get here; under
    CI=true a skip against our own daemon fails, since CI is green only when everything ran."""
    if IN_CI and PEER == "iscsikit":
        fail(f"a skip against iscsikit-target under CI=true: {reason}")
    log(f"SKIP: {reason}")
    sys.exit(SKIP)


def fail(reason):
    log(f"FAIL: {reason}")
    sys.exit(1)


def missing_prerequisite(reason):
    """Something the test needs is not installed: a skip (exit 77) on a developer's machine, a
    failure under CI=true. `reason` says what is missing and what installs it."""
    if IN_CI:
        fail(f"missing prerequisite, and CI=true turns a skip into a failure: {reason}")
    skip(reason)


def require_tools(*names):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        missing_prerequisite(f"missing tools: {', '.join(missing)} (scripts/deps.sh installs them)")


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host, port, timeout, proc=None):
    """Polls until host:port accepts a TCP connection; fails early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"target exited with code {proc.returncode} before accepting on port {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing accepted on {host}:{port} within {timeout:.0f} s")


def run(cmd, *, timeout=60, check=True, log_to=None, quiet=False):
    """Runs a peer tool; returns CompletedProcess with text stdout (stderr merged)."""
    if not quiet:
        log("$ " + " ".join(str(c) for c in cmd))
    try:
        cp = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=timeout, text=True, errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        if log_to:
            Path(log_to).write_text(out)
        raise AssertionError(f"{cmd[0]} did not finish within {timeout} s; output:\n{out[-4000:]}")
    if log_to:
        Path(log_to).write_text(cp.stdout)
    if check and cp.returncode != 0:
        raise AssertionError(f"{cmd[0]} exited {cp.returncode}; output:\n{cp.stdout[-4000:]}")
    return cp


def iscsi_ls_luns(iscsi_ls_output, iqn):
    """The LUNs `iscsi-ls -s` lists under target `iqn` ("Target:IQN Portal:..." then "Lun:N ...")."""
    luns, inside = [], False
    for line in iscsi_ls_output.splitlines():
        if line.startswith("Target:"):
            inside = line.split()[0] == f"Target:{iqn}"
        elif inside and (m := re.match(r"Lun:(\d+)", line)):
            luns.append(int(m.group(1)))
    return luns


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMGT]?)", text.strip().upper())
    if not m:
        raise ValueError(f"bad size {text!r}")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2)]


def sparse_file(path, size):
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def target_binary():
    binary = os.environ.get("ISCSIKIT_TARGET_BIN") or str(REPO / "build" / "release" / "bin" / "iscsikit-target")
    if not os.access(binary, os.X_OK):
        raise AssertionError(f"no iscsikit-target at {binary} (set ISCSIKIT_TARGET_BIN)")
    return binary


def cli_binary():
    binary = os.environ.get("ISCSIKIT_CLI_BIN") or str(REPO / "build" / "release" / "bin" / "iscsikit")
    if not os.access(binary, os.X_OK):
        raise AssertionError(f"no iscsikit client tool at {binary} (set ISCSIKIT_CLI_BIN)")
    return binary


class CliResult:
    def __init__(self, argv, rc, out, err, seconds):
        self.argv, self.rc, self.out, self.err, self.seconds = argv, rc, out, err, seconds

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError(f"{' '.join(self.argv[1:3])}: stdout is not one JSON document ({e}):\n{self.out[:2000]}")

    def describe(self):
        return (f"$ {' '.join(self.argv)}\nexit {self.rc} after {self.seconds:.2f} s\n"
                f"--- stdout ---\n{self.out[-3000:]}\n--- stderr ---\n{self.err[-3000:]}")


def cli(*args, timeout=120, check=True, quiet=False, env=None):
    """Runs `iscsikit ARGS...` to completion; stdout and stderr apart, wall-clock time measured.
    check=True: exit 0 required. A run over `timeout` is killed and fails the test. `env`: more
    environment variables for this run."""
    argv = [cli_binary(), *[str(a) for a in args]]
    if not quiet:
        log("$ iscsikit " + " ".join(argv[1:]))
    start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         text=True, errors="replace", start_new_session=True,
                         env={**os.environ, **env} if env else None)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"iscsikit did not finish within {timeout} s\n"
                             + CliResult(argv, None, out, err, time.monotonic() - start).describe())
    r = CliResult(argv, p.returncode, out, err, time.monotonic() - start)
    if check and r.rc != 0:
        raise AssertionError("iscsikit failed\n" + r.describe())
    return r


class Target:
    """A running iscsikit-target."""

    def __init__(self, case, argv, host, port, iqn, log_path, env=None):
        self.case, self.argv, self.host, self.port, self.iqn = case, argv, host, port, iqn
        self.log_path = log_path
        self._log = open(log_path, "wb")
        log(f"start target: {' '.join(argv)}  (log {log_path})" + (f" with {env}" if env else ""))
        # A test run from a systemd service must not have the daemon notify that service's manager
        # (NOTIFY_SOCKET) or drop its log's time stamps (JOURNAL_STREAM) unless the test asks for it.
        inherited = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**inherited, **(env or {})})
        self.pid = self.proc.pid
        self.stopped = False

    def wait_ready(self, timeout=READY_TIMEOUT):
        wait_for_port(self.host, self.port, timeout, self.proc)
        # contract: the daemon logs "listening on HOST:PORT" once it accepts
        want = f"listening on {self.portal}"
        deadline = time.monotonic() + 3
        while want not in self.log_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"the log never said {want!r}")
            time.sleep(0.05)
        return self

    @property
    def portal(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def lun_id(self, lun):
        return lun

    def url(self, lun=0, iqn=None):
        return f"iscsi://{self.portal}/{iqn or self.iqn}/{self.lun_id(lun)}"

    def portal_url(self):
        return f"iscsi://{self.portal}"

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None

    def log_text(self):
        if not self._log.closed:
            self._log.flush()
        return Path(self.log_path).read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends `sig`, waits, returns the exit code (SIGKILL and an error on timeout)."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._log.close()
                raise AssertionError(f"target did not exit within {timeout:.0f} s of {sig.name}")
        self._log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stopped = True
        self._log.close()


class TgtTarget(Target):
    """tgtd (Debian package tgt) set up from the same LUN specs, to validate the tests themselves.
    tgt puts a controller on LUN 0, so our LUN n is its LUN n+1."""

    def __init__(self, case, luns, host, port, iqn, log_path, chap=None, late_portal=False, mutual=None):
        self.case, self.host, self.port, self.iqn, self.log_path = case, host, port, iqn, log_path
        self.chap = chap  # (user, password): an incoming CHAP account bound to the target
        self.mutual = mutual  # (user, password): the outgoing account tgtd answers mutual CHAP with
        self.control = port % 32000 + 1  # private management channel (tgtd -C takes 0..32767)
        # late_portal: listen on a staging port until the target is set up, then open `port`, so that
        # an initiator retrying `port` (a restart) never finds it without its target or LUNs
        self.staging = case.port() if late_portal else None
        self._log = open(log_path, "wb")
        first = self.portal if self.staging is None else f"{host}:{self.staging}"
        argv = ["tgtd", "-f", "-C", str(self.control), "--iscsi", f"portal={first}"]
        log(f"start tgtd: {' '.join(argv)}  (log {log_path})")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        self.stopped = False
        self.luns = luns

    def adm(self, *args, check=True):
        return run(["tgtadm", "-C", self.control, *args], check=check, quiet=True)

    def wait_ready(self, timeout=READY_TIMEOUT):
        wait_for_port(self.host, self.staging or self.port, timeout, self.proc)
        self.adm("--lld", "iscsi", "--op", "new", "--mode", "target", "--tid", "1", "-T", self.iqn)
        for n, spec in enumerate(self.luns):
            kind, _, rest = spec.partition(":")
            path, *opts = rest.split(",")
            opts = dict(o.split("=", 1) for o in opts)
            if kind == "ram":
                opts["size"] = path
                path = str(Path(self.case.tmp) / f"tgt-ram-{n}.img")
            if not os.path.exists(path):
                sparse_file(path, parse_size(opts.get("size", "64M")))
            args = ["--lld", "iscsi", "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", str(n + 1),
                    "-b", path]
            if "block_size" in opts:
                args += ["--blocksize", opts["block_size"]]
            self.adm(*args)
            # our LUN options that tgt has too, under its own names
            params = [f"{theirs}=1" for ours, theirs in (("readonly", "readonly"), ("removable", "removable"),
                                                          ("thin", "thin_provisioning")) if opts.get(ours) == "true"]
            if params:
                self.adm("--lld", "iscsi", "--op", "update", "--mode", "logicalunit", "--tid", "1",
                         "--lun", str(n + 1), "--params", ",".join(params))
        if self.chap:
            user, password = self.chap
            self.adm("--lld", "iscsi", "--op", "new", "--mode", "account", "--user", user, "--password", password)
            self.adm("--lld", "iscsi", "--op", "bind", "--mode", "account", "--tid", "1", "--user", user)
        if self.mutual:
            user, password = self.mutual
            self.adm("--lld", "iscsi", "--op", "new", "--mode", "account", "--user", user, "--password", password)
            self.adm("--lld", "iscsi", "--op", "bind", "--mode", "account", "--tid", "1", "--user", user,
                     "--outgoing")
        self.adm("--lld", "iscsi", "--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")
        if self.staging:
            self.adm("--lld", "iscsi", "--op", "new", "--mode", "portal", "--param", f"portal={self.portal}")
            self.adm("--lld", "iscsi", "--op", "delete", "--mode", "portal", "--param",
                     f"portal={self.host}:{self.staging}")
            wait_for_port(self.host, self.port, timeout, self.proc)
        return self

    def lun_id(self, lun):
        return lun + 1

    def add_portal(self, portal):
        """Serves the target on one more portal ("host:port"), as our --portal does."""
        self.adm("--lld", "iscsi", "--op", "new", "--mode", "portal", "--param", f"portal={portal}")

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        # tgtd ignores SIGTERM; it leaves through its management channel, once its target is gone
        if not self.stopped and self.proc.poll() is None:
            self.adm("--lld", "iscsi", "--op", "delete", "--mode", "target", "--tid", "1", "--force", check=False)
            self.adm("--op", "delete", "--mode", "system", check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stopped = True
        self._log.close()
        return 0


class Case:
    """One interop test: its log folder, temp dir and the targets it started.
    with Case("ls") as case:
        t = case.start(luns=["ram:64M"])
    On leaving, every target still running gets SIGTERM and must exit 0; on any failure the
    target logs are printed (tail) with their paths."""

    def __init__(self, name, out=None, tmp_parent=None):
        self.name = name
        self.out = Path(out) if out else OUT_ROOT / name
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir(parents=True)
        self.tmp = tempfile.mkdtemp(prefix=f"iscsikit-{name}-", dir=tmp_parent)
        self.targets = []
        self.procs = []  # other processes a test started (case.spawn): killed on leaving
        self._ports = set()

    def __enter__(self):
        log(f"case {self.name}: peer={PEER}, logs in {self.out}, temp dir {self.tmp}")
        return self

    def port(self):
        while True:
            p = free_port()
            if p not in self._ports:
                self._ports.add(p)
                return p

    def start(self, luns=("ram:64M",), *, args=(), iqn=DEFAULT_IQN, port=None, host="127.0.0.1",
              portal_args=True, wait=True, peer=None, chap=None, late_portal=False, binary=None, mutual=None,
              env=None):
        """Starts the target on a fresh port with --portal/--target/--lun built from the arguments,
        plus `args`. With portal_args=False only `args` are passed (e.g. --config FILE), and `port`
        must be the one the configuration names. `peer` overrides ISCSIKIT_INTEROP_PEER.
        `chap=(user, password)` binds a CHAP account to the target (tgtd only; `mutual` too, the
        account it answers mutual CHAP with); `late_portal` (tgtd
        only) opens `port` only once the target is set up (restarts under a retrying initiator).
        `binary` overrides ISCSIKIT_TARGET_BIN (bench/compare.sh runs two builds side by side).
        `env`: variables added to the daemon's environment (NOTIFY_SOCKET, JOURNAL_STREAM)."""
        port = port or self.port()
        log_path = self.out / f"target-{len(self.targets)}.log"
        if (peer or PEER) == "tgt":
            t = TgtTarget(self, list(luns), host, port, iqn, log_path, chap=chap, late_portal=late_portal,
                          mutual=mutual)
        elif chap:
            raise ValueError("CHAP accounts are only set up on tgtd (peer='tgt')")
        else:
            argv = [binary or target_binary()]
            if portal_args:
                portal = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                argv += ["--portal", portal, "--target", iqn]
                for spec in luns:
                    argv += ["--lun", spec]
            argv += list(args)
            t = Target(self, argv, host, port, iqn, log_path, env=env)
        self.targets.append(t)
        if wait:
            t.wait_ready()
        return t

    def start_tgt(self, luns=("ram:64M",), **kw):
        """tgtd as a peer target in this test, whatever ISCSIKIT_INTEROP_PEER says (LUN n is its n+1)."""
        require_tools("tgtd", "tgtadm")
        return self.start(luns, peer="tgt", **kw)

    def spawn(self, argv, **popen_kw):
        """Starts a process in the background (its own session); killed when the case ends."""
        argv = [str(a) for a in argv]
        log("& " + " ".join(argv))
        p = subprocess.Popen(argv, start_new_session=True, **popen_kw)
        self.procs.append(p)
        return p

    def path(self, name):
        return str(Path(self.tmp) / name)

    def __exit__(self, exc_type, exc, tb):
        failure = None
        if exc_type is not None and exc_type is not SystemExit:
            failure = "".join(traceback.format_exception(exc_type, exc, tb))
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for t in self.targets:
            try:
                if t.stopped:
                    continue
                if not t.alive():
                    failure = (failure or "") + f"\ntarget (pid {t.pid}) died with code {t.proc.returncode}"
                    t.kill()
                    continue
                rc = t.stop()
                if rc != 0:
                    failure = (failure or "") + f"\ntarget exited {rc} after SIGTERM (want 0)"
            except AssertionError as e:
                failure = (failure or "") + f"\n{e}"
        if failure:
            for t in self.targets:
                print(f"----- {t.log_path} (last 60 lines) -----")
                print("\n".join(t.log_text().splitlines()[-60:]) if Path(t.log_path).exists() else "(none)")
            print(f"FAIL {self.name}:\n{failure}", flush=True)
            shutil.rmtree(self.tmp, ignore_errors=True)
            sys.exit(1)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if exc_type is SystemExit:
            return False
        log(f"PASS {self.name}")
        return False


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def first_difference(a, b, length):
    """Offset of the first differing byte in the first `length` bytes of two files, or None."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        off = 0
        while off < length:
            x, y = fa.read(min(MiB, length - off)), fb.read(min(MiB, length - off))
            if x != y:
                n = min(len(x), len(y))
                return off + next((i for i in range(n) if x[i] != y[i]), n)
            off += len(x)
    return None
