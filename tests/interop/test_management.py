#!/usr/bin/env python3
"""Live management over the JSON-RPC socket (docs/management.md): `iscsikit admin` lists the
targets without secrets, changes allow lists and CHAP while the daemon serves (the next login sees
them, a running session goes on), lists and closes sessions, refuses bad requests with an error
that says what is wrong and changes nothing, saves the running configuration so that a restarted
daemon serves the same, and SIGHUP applies a changed file without dropping sessions."""
import json
import os
import signal
import socket
import stat
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import Case, check, cli, log, require_tools

IQN = "iqn.2026-11.org.iscsikit:managed"
FRIEND = "iqn.2026-11.org.example:friend"
STRANGER = "iqn.2026-11.org.example:stranger"
SECRET = "managed-secret-0123"


def write_config(path, port, allow, chap=""):
    with open(path, "w") as f:
        f.write(f"""[[target]]
iqn = "{IQN}"
portals = ["127.0.0.1:{port}"]
allow = {json.dumps(allow)}
{chap}
  [[target.lun]]
  backing = "ram"
  size = "16M"
""")


def admin(sock, *args, check_rc=True, env=None):
    r = cli("admin", "--socket", sock, *args, check=check_rc, env=env)
    return r


def logs_in(t, name, env=None):
    r = cli("ls", f"iscsi://{t.portal}/{IQN}", "--initiator-name", name, check=False, env=env)
    return r.rc == 0


def raw(sock, line):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(line)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def main():
    require_tools("iscsi-ls")
    with Case("management") as case:
        port = case.port()
        config = case.path("target.toml")
        sock = case.path("rpc.sock")
        write_config(config, port, [FRIEND])
        t = case.start(portal_args=False, port=port, args=["--config", config, "--rpc-socket", sock])
        mode = stat.S_IMODE(os.stat(sock).st_mode)
        check(mode == 0o660, f"the socket's mode is {mode:o}, want 660")

        listed = admin(sock, "ls", "--json").json()
        check(listed["targets"][0]["iqn"] == IQN and listed["targets"][0]["allow"] == [FRIEND], f"ls: {listed}")
        check(logs_in(t, FRIEND) and not logs_in(t, STRANGER), "the allow list at start")

        # a session that runs through every change below
        bench = case.spawn([os.environ["ISCSIKIT_CLI_BIN"], "bench", f"iscsi://{t.portal}/{IQN}/0", "--initiator-name",
                            FRIEND, "--time", "20", "--qd", "2"], stdout=open(case.path("bench.out"), "w"),
                           stderr=open(case.path("bench.err"), "w"))
        deadline = time.monotonic() + 10
        while True:
            sessions = admin(sock, "session", "ls", "--json").json()["sessions"]
            if any(s["initiator"] == FRIEND and s["target"] == IQN for s in sessions):
                break
            check(time.monotonic() < deadline, f"session ls never showed the bench's session: {sessions}")
            time.sleep(0.2)
        mine = next(s for s in sessions if s["initiator"] == FRIEND)
        check(mine["portal"] == f"127.0.0.1:{port}" and mine["authentication"] == "none", f"session: {mine}")

        # ACL changes apply to the next login
        admin(sock, "acl", "add", IQN, STRANGER)
        check(logs_in(t, STRANGER), "acl add did not let the stranger in")
        admin(sock, "acl", "rm", IQN, STRANGER)
        check(not logs_in(t, STRANGER), "acl rm did not shut the stranger out")

        # CHAP set through the socket, the secret from the environment; never shown back
        env = {"ISCSIKIT_CHAP_SECRET": SECRET}
        admin(sock, "chap", "set", IQN, "friend", env=env)
        check(not logs_in(t, FRIEND), "a login without CHAP after chap set")
        check(logs_in(t, FRIEND, env={"ISCSIKIT_CHAP_USER": "friend", "ISCSIKIT_CHAP_SECRET": SECRET}),
              "the new CHAP credentials do not work")
        shown = admin(sock, "ls", "--json").out
        check(SECRET not in shown and "friend" in shown, f"ls shows the secret or not the user:\n{shown}")

        # bad requests: an error that says what, and nothing changed
        before = admin(sock, "ls", "--json").json()
        for args, says in ((("acl", "add", "iqn.2026-11.org.example:nosuch-target", STRANGER), "no target named"),
                           (("acl", "add", IQN, "not an iqn"), "allow 'not an iqn'"),
                           (("acl", "rm", IQN, STRANGER), "is neither in the allow list"),
                           (("session", "close", "65000"), "no session with TSIH 65000")):
            r = admin(sock, *args, check_rc=False)
            check(r.rc != 0 and says in r.err, f"admin {' '.join(args)}: want an error saying {says!r}\n{r.describe()}")
        r = admin(sock, "chap", "set", IQN, "friend", check_rc=False, env={"ISCSIKIT_CHAP_SECRET": "short"})
        check(r.rc != 0 and "shorter than 12" in r.err, f"a short secret accepted:\n{r.describe()}")
        check(admin(sock, "ls", "--json").json() == before, "a refused request changed the configuration")
        answer = json.loads(raw(sock, b"this is not json\n"))
        check(answer["error"]["code"] == -32700, f"parse error: {answer}")
        answer = json.loads(raw(sock, b'{"jsonrpc":"2.0","method":"format.disk","id":7}\n'))
        check(answer["error"]["code"] == -32601 and answer["id"] == 7, f"unknown method: {answer}")

        # SIGHUP: the file changed (the stranger allowed); applied live, the bench's session kept
        os.chmod(config, 0o600)
        write_config(config, port, [FRIEND, STRANGER], 'chap = { user = "friend", secret = "%s" }' % SECRET)
        os.kill(t.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload: applied target " + IQN not in t.log_text():
            check(time.monotonic() < deadline, "SIGHUP: the log never said the access rules were applied")
            time.sleep(0.1)
        check(t.alive(), "SIGHUP ended the daemon")
        strangers_env = {"ISCSIKIT_CHAP_USER": "friend", "ISCSIKIT_CHAP_SECRET": SECRET}
        check(logs_in(t, STRANGER, env=strangers_env), "SIGHUP did not apply the new allow list")
        sessions = admin(sock, "session", "ls", "--json").json()["sessions"]
        check(any(s["tsih"] == mine["tsih"] for s in sessions), f"the reload dropped the bench's session: {sessions}")

        # session close: the bench's session goes (its initiator logs in again by itself)
        admin(sock, "session", "close", str(mine["tsih"]))
        deadline = time.monotonic() + 5
        while any(s["tsih"] == mine["tsih"] for s in admin(sock, "session", "ls", "--json").json()["sessions"]):
            check(time.monotonic() < deadline, "session close left the session")
            time.sleep(0.1)
        bench.kill()
        bench.wait()

        # save, then a new daemon from the saved file serves the same
        saved = case.path("saved.toml")
        admin(sock, "save", saved)
        mode = stat.S_IMODE(os.stat(saved).st_mode)
        check(mode == 0o600, f"the saved file holds a secret and has mode {mode:o}")
        running = admin(sock, "ls", "--json").json()
        t.stop()
        sock2 = case.path("rpc2.sock")
        t2 = case.start(portal_args=False, port=port, args=["--config", saved, "--rpc-socket", sock2])
        again = admin(sock2, "ls", "--json").json()
        check(again == running, f"the restarted daemon serves another configuration:\n{running}\n{again}")
        check(logs_in(t2, STRANGER, env=strangers_env) and not logs_in(t2, "iqn.2026-11.org.example:third"),
              "the restarted daemon's access rules")
        log("management: every check passed")


if __name__ == "__main__":
    main()
