#!/usr/bin/env python3
"""Targets and LUNs changed while the daemon serves (docs/management.md).

1. `iscsikit admin` builds, in a daemon started with no target, the configuration a given TOML
   file describes (two targets, a LUN number with a gap, an allow list, CHAP, an initiator's own CHAP and
   read-only LUN map); `save` writes it;
   a daemon started from the given file and one started from the saved file list the same
   configuration, and serve the same LUNs to the same initiators with the same credentials.
2. Under I/O: while an initiator runs a benchmark on LUN 0, a LUN is added, LUN 0 grows and the
   added LUN is removed. The initiator sees REPORTED LUNS DATA HAS CHANGED and CAPACITY DATA HAS
   CHANGED, retries, and finishes without an error; READ CAPACITY and REPORT LUNS (ours and
   libiscsi's iscsi-ls) then show the new inventory and size.
3. Bad requests (an existing LUN number, a shrink, a LUN in use by an initiator's map, an unknown
   target, a spec that does not parse, unmapping the last LUN of a map) are refused with a reason
   and change nothing.
4. `acl rm` shuts an initiator out: its entry (own CHAP, LUN map) goes with its name."""
import os
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import Case, check, cli, iscsi_ls_luns, log, require_tools, run

T1 = "iqn.2026-12.org.iscsikit:live-one"
T2 = "iqn.2026-12.org.iscsikit:live-two"
FRIEND = "iqn.2026-12.org.example:friend"
STRANGER = "iqn.2026-12.org.example:stranger"
USER = "friend"
SECRET = "live-luns-secret-0123"
CHAP_ENV = {"ISCSIKIT_CHAP_USER": USER, "ISCSIKIT_CHAP_SECRET": SECRET}
TARGET_USER, TARGET_SECRET = "live-one", "live-one-answers-0123"  # T1's mutual CHAP
STRANGER_USER, STRANGER_SECRET = "stranger", "stranger-secret-0123"  # its own entry on T2


def reference_toml(case, sock, p1, p2):
    return f"""rpc_socket = "{sock}"

[[target]]
iqn = "{T1}"
alias = "one"
portals = ["127.0.0.1:{p1}"]
allow = ["{FRIEND}"]
chap = {{ user = "{USER}", secret = "{SECRET}" }}
mutual_chap = {{ user = "{TARGET_USER}", secret = "{TARGET_SECRET}" }}
  [[target.lun]]
  backing = "ram"
  size = "16M"
  [[target.lun]]
  lun = 3
  backing = "file"
  path = "{case.path('one-lun3.img')}"
  size = "8M"
  thin = true

[[target]]
iqn = "{T2}"
portals = ["127.0.0.1:{p2}"]
allow = ["{FRIEND}", "{STRANGER}"]
  [[target.lun]]
  backing = "ram"
  size = "8M"
  block_size = 4096
  [[target.initiator]]
  name = "{STRANGER}"
  chap = {{ user = "{STRANGER_USER}", secret = "{STRANGER_SECRET}" }}
    [[target.initiator.lun]]
    lun = 5
    target_lun = 0
    readonly = true
"""


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def start_daemon(case, config, sock, ports):
    """A daemon from `config`, ready once its socket answers and every portal in `ports` listens."""
    t = case.start(portal_args=False, port=ports[0] if ports else case.port(), args=["--config", config],
                   wait=False)
    deadline = time.monotonic() + 15
    while not os.path.exists(sock):
        check(t.alive() and time.monotonic() < deadline, f"the daemon never opened {sock}:\n{t.log_text()}")
        time.sleep(0.05)
    for port in ports:
        while f"listening on 127.0.0.1:{port}" not in t.log_text():
            check(t.alive() and time.monotonic() < deadline, f"the daemon never listened on {port}")
            time.sleep(0.05)
    return t


def admin(sock, *args, check_rc=True, env=None):
    return cli("admin", "--socket", sock, *args, check=check_rc, env=env)


def luns_seen(portal, iqn, name=FRIEND, env=None):
    """LUN number -> bytes, as REPORT LUNS and READ CAPACITY tell our initiator."""
    r = cli("ls", f"iscsi://{portal}/{iqn}", "--initiator-name", name, "--json", env=env)
    return {lun["lun"]: lun["blocks"] * lun["block_size"] for lun in r.json()["luns"]}


def stop(t, sock):
    t.stop()
    if os.path.exists(sock):
        os.unlink(sock)


def main():
    require_tools("iscsi-ls")
    with Case("live_luns") as case:
        p1, p2 = case.port(), case.port()
        sock = case.path("rpc.sock")
        reference = case.path("reference.toml")
        write(reference, reference_toml(case, sock, p1, p2))

        # ---- 1. from an empty daemon to the reference configuration, through the socket only ----
        empty = case.path("empty.toml")
        write(empty, f'rpc_socket = "{sock}"\n', 0o644)
        t = start_daemon(case, empty, sock, [])
        check(admin(sock, "ls", "--json").json()["targets"] == [], "an empty daemon lists targets")
        admin(sock, "target", "add", T1, "--portal", f"127.0.0.1:{p1}", "--alias", "one", "--allow", FRIEND)
        admin(sock, "chap", "set", T1, USER, env={"ISCSIKIT_CHAP_SECRET": SECRET})
        admin(sock, "chap", "set", T1, TARGET_USER, "--mutual", env={"ISCSIKIT_CHAP_SECRET": TARGET_SECRET})
        admin(sock, "lun", "add", T1, "ram:16M")
        admin(sock, "lun", "add", T1, f"file:{case.path('one-lun3.img')},size=8M,thin=true", "--lun", "3")
        admin(sock, "target", "add", T2, "--portal", f"127.0.0.1:{p2}", "--allow", FRIEND, "--allow", STRANGER)
        admin(sock, "lun", "add", T2, "ram:8M,block_size=4096")
        admin(sock, "chap", "set", T2, STRANGER_USER, "--initiator", STRANGER,
              env={"ISCSIKIT_CHAP_SECRET": STRANGER_SECRET})
        admin(sock, "acl", "map", T2, STRANGER, "5", "0", "--readonly")
        built = admin(sock, "ls", "--json").json()
        check(luns_seen(f"127.0.0.1:{p1}", T1, env=CHAP_ENV) == {0: 16 << 20, 3: 8 << 20},
              "the LUNs added live are not what REPORT LUNS / READ CAPACITY show")
        saved = case.path("saved.toml")
        admin(sock, "save", saved)
        stop(t, sock)

        t = start_daemon(case, reference, sock, [p1, p2])
        want = admin(sock, "ls", "--json").json()
        want_luns = {iqn: luns_seen(f"127.0.0.1:{p}", iqn, env=CHAP_ENV if iqn == T1 else None)
                     for iqn, p in ((T1, p1), (T2, p2))}
        stop(t, sock)
        check(built == want, f"built live:\n{built}\nthe reference file:\n{want}")

        t = start_daemon(case, saved, sock, [p1, p2])
        again = admin(sock, "ls", "--json").json()
        check(again == want, f"restarted from the saved file:\n{again}\nthe reference file:\n{want}")
        got_luns = {iqn: luns_seen(f"127.0.0.1:{p}", iqn, env=CHAP_ENV if iqn == T1 else None)
                    for iqn, p in ((T1, p1), (T2, p2))}
        check(got_luns == want_luns, f"LUNs served: {got_luns}, the reference serves {want_luns}")
        r = cli("ls", f"iscsi://127.0.0.1:{p1}/{T1}", "--initiator-name", FRIEND, check=False)
        check(r.rc != 0, "T1 let FRIEND in without CHAP after the restart")
        r = cli("ls", f"iscsi://127.0.0.1:{p1}/{T1}", "--initiator-name", STRANGER, check=False, env=CHAP_ENV)
        check(r.rc != 0, "T1 let a name outside its allow list in after the restart")
        mutual_env = {**CHAP_ENV, "ISCSIKIT_MUTUAL_USER": TARGET_USER, "ISCSIKIT_MUTUAL_SECRET": TARGET_SECRET}
        check(luns_seen(f"127.0.0.1:{p1}", T1, env=mutual_env) == want_luns[T1], "mutual CHAP on T1 after the restart")
        stranger_env = {"ISCSIKIT_CHAP_USER": STRANGER_USER, "ISCSIKIT_CHAP_SECRET": STRANGER_SECRET}
        check(luns_seen(f"127.0.0.1:{p2}", T2, name=STRANGER, env=stranger_env) == {5: want_luns[T2][0]},
              "the stranger's own CHAP entry and LUN map (its LUN 5 = T2's LUN 0) after the restart")
        r = cli("ls", f"iscsi://127.0.0.1:{p2}/{T2}", "--initiator-name", STRANGER, check=False)
        check(r.rc != 0, "T2 let the stranger in without its CHAP entry's credentials")

        # ---- 2. add, grow and remove LUNs while an initiator runs I/O on LUN 0 ----
        bench_err = case.path("bench.err")
        bench = case.spawn([os.environ["ISCSIKIT_CLI_BIN"], "bench", f"iscsi://127.0.0.1:{p1}/{T1}/0", "--initiator-name",
                            FRIEND, "--rw", "randrw", "--size", "16M", "--time", "8", "--qd", "4", "--json", "-v"],
                           stdout=open(case.path("bench.out"), "w"), stderr=open(bench_err, "w"),
                           env={**os.environ, **CHAP_ENV})
        time.sleep(2)
        added = admin(sock, "lun", "add", T1, "ram:4M", "--json").json()
        check(added["lun"] == 1, f"lun add took {added['lun']}, not the lowest free number 1")
        time.sleep(1)
        admin(sock, "lun", "resize", T1, "0", "32M")
        time.sleep(1)
        admin(sock, "lun", "rm", T1, "1")
        check(bench.wait(timeout=60) == 0, f"the benchmark failed while LUNs changed:\n{open(bench_err).read()}")
        said = open(bench_err).read()
        for sense in ("reported luns data has changed", "capacity data has changed"):
            check(sense in said, f"the initiator under I/O never saw {sense!r}:\n{said}")
        check(luns_seen(f"127.0.0.1:{p1}", T1, env=CHAP_ENV) == {0: 32 << 20, 3: 8 << 20},
              "after add, resize and rm: REPORT LUNS / READ CAPACITY")
        check(luns_seen(f"127.0.0.1:{p2}", T2) == want_luns[T2], "T2 changed with T1's LUNs")
        # libiscsi's view of the same inventory (discovery, login with CHAP, REPORT LUNS)
        out = run(["iscsi-ls", "-s", "-i", FRIEND, f"iscsi://{USER}%{SECRET}@127.0.0.1:{p1}"]).stdout
        listed = iscsi_ls_luns(out, T1)
        check(listed == [0, 3], f"iscsi-ls lists LUNs {listed} of {T1}, want [0, 3]:\n{out}")
        stats = admin(sock, "stats", "--json").json()
        lun0 = next(l for t_ in stats["targets"] if t_["iqn"] == T1 for l in t_["luns"] if l["lun"] == 0)
        check(lun0["size"] == 32 << 20 and lun0["commands"]["write"]["commands"] > 0,
              f"stats of LUN 0 after the benchmark: {lun0}")

        # ---- 3. bad requests: refused with the reason, nothing changed ----
        before = admin(sock, "ls", "--json").json()
        for args, says in ((("lun", "add", T1, "ram:4M", "--lun", "3"), "already has LUN 3"),
                           (("lun", "resize", T1, "0", "16M"), "shrinking would discard data"),
                           (("lun", "resize", T1, "7", "64M"), "has no LUN 7"),
                           (("lun", "rm", "iqn.2026-12.org.iscsikit:nosuch", "0"), "no target named"),
                           (("lun", "add", T1, "tape:1G"), "params.spec"),
                           (("acl", "unmap", T2, STRANGER, "5"), "the last of"),
                           (("acl", "map", T2, STRANGER, "6", "9"), "does not exist"),
                           (("lun", "rm", T2, "0"), "LUN map"),
                           (("target", "add", T1, "--portal", f"127.0.0.1:{p1}"), "used by two targets"),
                           (("target", "add", "iqn.2026-12.org.iscsikit:exposed", "--portal", f"0.0.0.0:{case.port()}"), "allow")):
            r = admin(sock, *args, check_rc=False)
            check(r.rc != 0 and says in r.err, f"admin {' '.join(args)}: want an error saying {says!r}\n{r.describe()}")
        check(admin(sock, "ls", "--json").json() == before, "a refused request changed the configuration")

        # ---- 4. acl rm shuts an initiator out, entry (credentials, LUN map) and all ----
        admin(sock, "acl", "rm", T2, STRANGER)
        r = cli("ls", f"iscsi://127.0.0.1:{p2}/{T2}", "--initiator-name", STRANGER, check=False, env=stranger_env)
        check(r.rc != 0, f"T2 let the stranger in after acl rm:\n{r.describe()}")
        check(luns_seen(f"127.0.0.1:{p2}", T2) == want_luns[T2], "FRIEND lost T2 when the stranger was removed")
        check(t.alive(), "the daemon died")
        log("live_luns: every check passed")


if __name__ == "__main__":
    main()
