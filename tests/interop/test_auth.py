#!/usr/bin/env python3
"""Authentication and access control with real peers (RFC 7143 §12.1.3 CHAP, §11.13.5 statuses
0201 and 0202): libiscsi's tools and qemu-img against our target with CHAP, one-way and mutual;
our initiator against our target with every algorithm and against tgtd; wrong user, wrong secret
and missing credentials refused, each with a log line that names the reason and never the secret;
allow lists for login and discovery; the brute-force delay; and the secure default for a portal
other machines reach."""
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import Case, check, cli, iscsi_ls_luns, log, require_tools, run, target_binary

IQN = "iqn.2026-11.org.iscsikit:auth"
ALICE = ("alice", "alice-secret-0123")
TARGET = ("tgt-answer", "target-secret-0123")
ALLOWED = "iqn.2026-11.org.example:allowed"
STRANGER = "iqn.2026-11.org.example:stranger"
MAPPED = "iqn.2026-11.org.example:mapped"
ALGORITHMS = ("SHA3-256", "SHA256", "SHA1", "MD5")


def libiscsi(tool, *args, env=None, check_rc=True):
    r = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})})
    log(f"$ {tool} {' '.join(args)} -> exit {r.returncode}")
    if check_rc and r.returncode != 0:
        raise AssertionError(f"{tool} failed: {r.stdout}\n{r.stderr}")
    return r


def expect_refused(r, what):
    check(r.rc != 0 and "authentication" in r.err.lower(), f"{what}: want an authentication error\n{r.describe()}")


def log_says(target, text, what):
    deadline = time.monotonic() + 5
    while text not in target.log_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: the target's log never said {text!r}")
        time.sleep(0.05)


def secret_never_logged(target, *secrets):
    log_text = target.log_text()
    for secret in secrets:
        check(secret not in log_text, f"the target's log holds a secret ({secret[:3]}...)")


def chap_with_libiscsi_and_qemu(case):
    t = case.start(luns=["ram:16M"], iqn=IQN, args=["--chap", "%s:%s" % ALICE, "--mutual-chap", "%s:%s" % TARGET])
    user, secret = ALICE
    good = f"iscsi://{user}%{secret}@{t.portal}"
    out = libiscsi("iscsi-ls", "-s", good).stdout
    check(f"Target:{IQN}" in out and "Lun:0" in out, f"iscsi-ls with CHAP (discovery and login):\n{out}")
    out = libiscsi("iscsi-inq", f"{good}/{IQN}/0").stdout
    check("DIRECT_ACCESS" in out, f"iscsi-inq with CHAP:\n{out}")
    # libiscsi's mutual CHAP: the target's name and secret in its environment
    env = {"LIBISCSI_CHAP_TARGET_USERNAME": TARGET[0], "LIBISCSI_CHAP_TARGET_PASSWORD": TARGET[1]}
    out = libiscsi("iscsi-inq", f"{good}/{IQN}/0", env=env).stdout
    check("DIRECT_ACCESS" in out, f"iscsi-inq with mutual CHAP:\n{out}")
    log_says(t, "(mutual)", "libiscsi's mutual CHAP")
    bad_env = {"LIBISCSI_CHAP_TARGET_USERNAME": TARGET[0], "LIBISCSI_CHAP_TARGET_PASSWORD": "not-the-target-123"}
    r = libiscsi("iscsi-inq", f"{good}/{IQN}/0", env=bad_env, check_rc=False)
    check(r.returncode != 0, "libiscsi accepted a target that does not know the mutual secret")

    for url, reason in ((f"iscsi://{user}%wrong-secret-0123@{t.portal}/{IQN}/0", "CHAP_R does not match"),
                        (f"iscsi://mallory%{secret}@{t.portal}/{IQN}/0", "CHAP_N is not a user this target knows"),
                        (f"iscsi://{t.portal}/{IQN}/0", "skipped the security stage; this target requires CHAP")):
        r = libiscsi("iscsi-inq", url, check_rc=False)
        check(r.returncode != 0, f"iscsi-inq {url} logged in")
        check("Authentication failure" in r.stdout + r.stderr, f"libiscsi did not see 0201:\n{r.stdout}{r.stderr}")
        log_says(t, reason, url)
    log_says(t, "login failed (status 0x0201)", "status in the log")

    require_tools("qemu-img")
    r = run(["qemu-img", "info", f"{good}/{IQN}/0"], timeout=60, check=False)
    check(r.returncode == 0 and "16 MiB" in r.stdout, f"qemu-img with CHAP:\n{r.stdout}{r.stderr}")
    img = case.path("copy.raw")
    with open(case.path("src.raw"), "wb") as f:
        f.write(os.urandom(1 << 20))
    run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", case.path("src.raw"), f"{good}/{IQN}/0"], timeout=60)
    run(["qemu-img", "convert", "-f", "raw", "-O", "raw", f"{good}/{IQN}/0", img], timeout=60)
    with open(img, "rb") as a, open(case.path("src.raw"), "rb") as b:
        check(a.read(1 << 20) == b.read(), "qemu-img over CHAP: the bytes read back differ")
    r = run(["qemu-img", "info", f"iscsi://{user}%wrong-secret-0123@{t.portal}/{IQN}/0"], timeout=60, check=False)
    check(r.returncode != 0, "qemu-img logged in with a wrong secret")
    secret_never_logged(t, ALICE[1], TARGET[1], "wrong-secret-0123")


def chap_with_our_initiator(case):
    t = case.start(luns=["ram:16M"], iqn=IQN, args=["--chap", "%s:%s" % ALICE, "--mutual-chap", "%s:%s" % TARGET])
    user, secret = ALICE
    mutual_file = case.path("mutual.secret")
    with open(mutual_file, "w") as f:
        f.write(TARGET[1] + "\n")
    os.chmod(mutual_file, 0o600)
    env = {"ISCSIKIT_CHAP_USER": user, "ISCSIKIT_CHAP_SECRET": secret}
    url = f"iscsi://{t.portal}/{IQN}"
    for algorithm in ALGORITHMS:
        r = cli("ls", url, "--chap-algorithms", algorithm, "-v", env=env)
        check("16.0 MiB" in r.out, f"ls with CHAP {algorithm}:\n{r.describe()}")
        log_says(t, f"authentication CHAP {algorithm} as 'alice',", f"one-way {algorithm}")
        r = cli("ls", url, "--chap-algorithms", algorithm, "--mutual-user", TARGET[0], "--mutual-secret-file",
                mutual_file, env=env)
        log_says(t, f"authentication CHAP {algorithm} as 'alice' (mutual)", f"mutual {algorithm}")
        check(secret not in r.out + r.err and TARGET[1] not in r.out + r.err, "the tool printed a secret")
    # The URL's credentials, the options with a secret file, discovery
    check("16.0 MiB" in cli("ls", f"iscsi://{user}%{secret}@{t.portal}/{IQN}").out, "CHAP from the URL")
    secret_file = case.path("alice.secret")
    with open(secret_file, "w") as f:
        f.write(secret)
    os.chmod(secret_file, 0o644)
    r = cli("ls", url, "--chap-user", user, "--chap-secret-file", secret_file, check=False)
    check(r.rc == 2 and "group or others may read it (mode 0644)" in r.err, f"a readable secret file:\n{r.describe()}")
    os.chmod(secret_file, 0o600)
    check("16.0 MiB" in cli("ls", url, "--chap-user", user, "--chap-secret-file", secret_file).out, "secret file")
    check(IQN in cli("discover", f"iscsi://{t.portal}", env=env).out, "discovery with CHAP")
    # Refusals
    expect_refused(cli("ls", url, check=False), "no credentials")
    expect_refused(cli("ls", url, check=False, env={**env, "ISCSIKIT_CHAP_SECRET": "wrong-secret-0123"}), "wrong secret")
    expect_refused(cli("ls", url, check=False, env={**env, "ISCSIKIT_CHAP_USER": "mallory"}), "wrong user")
    wrong_mutual = case.path("wrong-mutual.secret")
    with open(wrong_mutual, "w") as f:
        f.write("not-the-target-123")
    os.chmod(wrong_mutual, 0o600)
    r = cli("ls", url, "--mutual-user", TARGET[0], "--mutual-secret-file", wrong_mutual, env=env, check=False)
    check(r.rc != 0 and "did not prove it knows the mutual CHAP secret" in r.err, f"wrong mutual:\n{r.describe()}")
    secret_never_logged(t, secret, TARGET[1], "wrong-secret-0123")


def chap_against_tgt(case):
    require_tools("tgtd", "tgtadm")
    t = case.start_tgt(["ram:16M"], chap=ALICE, mutual=TARGET, iqn="iqn.2026-11.org.iscsikit:tgt-chap")
    mutual_file = case.path("tgt-mutual.secret")
    with open(mutual_file, "w") as f:
        f.write(TARGET[1])
    os.chmod(mutual_file, 0o600)
    env = {"ISCSIKIT_CHAP_USER": ALICE[0], "ISCSIKIT_CHAP_SECRET": ALICE[1]}
    url = f"iscsi://{t.portal}/{t.iqn}"
    r = cli("ls", url, "--mutual-user", TARGET[0], "--mutual-secret-file", mutual_file, env=env)
    check("16.0 MiB" in r.out, f"mutual CHAP against tgtd (it offers MD5 only):\n{r.describe()}")
    os.chmod(mutual_file, 0o600)
    with open(mutual_file, "w") as f:
        f.write("not-the-target-123")
    r = cli("ls", url, "--mutual-user", TARGET[0], "--mutual-secret-file", mutual_file, env=env, check=False)
    check(r.rc != 0 and "mutual" in r.err, f"tgtd with the wrong mutual secret accepted:\n{r.describe()}")


def access_lists(case):
    config = case.path("acl.toml")
    port, other_port = case.port(), case.port()
    with open(config, "w") as f:
        f.write(f"""[[target]]
iqn = "{IQN}"
portals = ["127.0.0.1:{port}"]
allow = ["{ALLOWED}"]
  [[target.lun]]
  backing = "ram"
  size = "16M"
  [[target.lun]]
  backing = "ram"
  size = "4M"
  [[target.initiator]]
  name = "{MAPPED}"
    [[target.initiator.lun]]
    lun = 7
    target_lun = 1
    readonly = true

[[target]]
iqn = "{IQN}-open"
portals = ["127.0.0.1:{port}", "127.0.0.1:{other_port}"]
  [[target.lun]]
  backing = "ram"
  size = "8M"
""")
    t = case.start(portal_args=False, port=port, args=["--config", config])
    url = f"iscsi://{t.portal}/{IQN}"
    check("16.0 MiB" in cli("ls", url, "--initiator-name", ALLOWED).out, "the allowed initiator")
    r = cli("ls", url, "--initiator-name", STRANGER, check=False)
    check(r.rc != 0 and "authoriz" in r.err.lower(), f"a stranger logged in:\n{r.describe()}")
    log_says(t, f"initiator {STRANGER} is not in the allow list of target {IQN}", "0202 in the log")
    r = libiscsi("iscsi-inq", "-i", STRANGER, f"{url}/0", check_rc=False)
    check(r.returncode != 0, "libiscsi logged in as a stranger")
    check("Authorization failure" in r.stdout + r.stderr, f"libiscsi did not see 0202:\n{r.stdout}{r.stderr}")
    out = libiscsi("iscsi-inq", "-i", ALLOWED, f"{url}/0").stdout
    check("DIRECT_ACCESS" in out, "libiscsi as the allowed initiator")
    # discovery shows each initiator only what it may log in to
    out = libiscsi("iscsi-ls", "-i", STRANGER, f"iscsi://{t.portal}").stdout
    check(f"Target:{IQN} " not in out and f"Target:{IQN}-open" in out, f"discovery for a stranger:\n{out}")
    out = libiscsi("iscsi-ls", "-i", ALLOWED, f"iscsi://{t.portal}").stdout
    check(f"Target:{IQN} " in out and f"Target:{IQN}-open" in out, f"discovery for the allowed one:\n{out}")
    # LUN masking and mapping: MAPPED sees target LUN 1 as its LUN 7, and nothing else
    out = libiscsi("iscsi-ls", "-s", "-i", MAPPED, f"iscsi://{t.portal}").stdout
    check(iscsi_ls_luns(out, IQN) == [7], f"REPORT LUNS for the mapped initiator (want [7]):\n{out}")
    check(iscsi_ls_luns(libiscsi("iscsi-ls", "-s", "-i", ALLOWED, f"iscsi://{t.portal}").stdout, IQN) == [0, 1],
          "REPORT LUNS for an initiator without a map")
    j = cli("ls", url, "--initiator-name", MAPPED, "--json").json()
    check([x["lun"] for x in j["luns"]] == [7] and j["luns"][0]["bytes"] == 4 << 20, f"ls for the mapped one: {j}")
    j = cli("ls", url, "--initiator-name", ALLOWED, "--json").json()
    check([x["lun"] for x in j["luns"]] == [0, 1], f"ls for the allowed one: {j}")
    # portal groups: the first target is not served on the second target's other portal
    r = cli("ls", f"iscsi://127.0.0.1:{other_port}/{IQN}", "--initiator-name", ALLOWED, check=False)
    check(r.rc != 0, f"a target served on a portal not its own:\n{r.describe()}")
    log_says(t, f"target {IQN} is not served on portal 127.0.0.1:{other_port}", "portal group refusal")
    check("8.0 MiB" in cli("ls", f"iscsi://127.0.0.1:{other_port}/{IQN}-open").out, "the other target's portal")


def brute_force(case):
    t = case.start(luns=["ram:16M"], iqn=IQN, args=["--chap", "%s:%s" % ALICE])
    waits = []
    for i in range(6):
        begin = time.monotonic()
        r = libiscsi("iscsi-inq", f"iscsi://alice%guess-number-{i:04}@{t.portal}/{IQN}/0", check_rc=False)
        waits.append(time.monotonic() - begin)
        check(r.returncode != 0, "a guess logged in")
    log("failed logins took " + ", ".join(f"{w:.2f}" for w in waits) + " s")
    check(all(b > a for a, b in zip(waits, waits[1:])), f"the delay did not grow each time: {waits}")
    check(waits[-1] >= 3.2 and waits[-1] > 8 * waits[0], f"the delay did not double per failure: {waits}")
    out = libiscsi("iscsi-inq", f"iscsi://alice%{ALICE[1]}@{t.portal}/{IQN}/0").stdout
    check("DIRECT_ACCESS" in out, "the right secret after the guesses")


def secure_default(case):
    port = case.port()
    r = subprocess.run([target_binary(), "--portal", f"0.0.0.0:{port}", "--lun", "ram:16M"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1, f"an open target on 0.0.0.0 started (exit {r.returncode})")
    check("reachable from other machines" in r.stderr and "--allow '*'" in r.stderr, f"the error:\n{r.stderr}")
    t = case.start(luns=["ram:16M"], host="0.0.0.0", iqn=IQN, args=["--allow", "*"])
    check("16.0 MiB" in cli("ls", f"iscsi://127.0.0.1:{t.port}/{IQN}").out, "--allow '*' serves anyone")


def main():
    require_tools("iscsi-ls", "iscsi-inq")
    sections = [("libiscsi and qemu-img with CHAP", chap_with_libiscsi_and_qemu),
                ("our initiator with CHAP", chap_with_our_initiator),
                ("our initiator against tgtd with mutual CHAP", chap_against_tgt),
                ("allow lists and discovery", access_lists),
                ("brute force", brute_force),
                ("secure default", secure_default)]
    for name, fn in sections:
        log(f"--- {name}")
        with Case("auth-" + re.sub(r"\W+", "-", name)) as case:
            fn(case)


if __name__ == "__main__":
    main()
