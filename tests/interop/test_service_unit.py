#!/usr/bin/env python3
"""The systemd unit, dist/iscsikit-target.service, and its installation (docs/service.md):
`systemd-analyze verify` accepts the unit, as shipped and as `cmake --install` writes it, with no
warning that names it (verify requires ExecStart's program to exist, so the test points ExecStart
at the built or installed daemon); `cmake --install` into a DESTDIR puts the programs, the unit,
the sample configuration and the docs where docs/service.md says, rewrites the unit's
/usr/local/ for another --prefix, and keeps an /etc/iscsikit/target.toml that is there already;
and the unit has ExecReload= exactly when SIGHUP leaves the daemon running (today SIGHUP ends it,
so there is none)."""
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from harness import PEER, REPO, Case, check, log, missing_prerequisite, require_tools, skip, target_binary

UNIT = REPO / "dist" / "iscsikit-target.service"
SAMPLE = REPO / "dist" / "target.toml"
SHIPPED_EXEC_START = "ExecStart=/usr/local/bin/iscsikit-target --config /etc/iscsikit/target.toml"


def verify(case, unit_text, binary, config, name):
    """systemd-analyze verify on a copy of the unit whose ExecStart runs `binary` with `config`."""
    check(SHIPPED_EXEC_START.split("=", 1)[1].split()[0] in unit_text, f"{name}: ExecStart changed; update this test")
    text = unit_text.replace("/usr/local/bin/iscsikit-target", str(binary)).replace("/etc/iscsikit/target.toml",
                                                                                     str(config))
    folder = Path(case.path(f"verify-{name}"))
    folder.mkdir()
    path = folder / "iscsikit-target.service"
    path.write_text(text)
    cp = subprocess.run(["systemd-analyze", "verify", str(path)], cwd=folder, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, timeout=60)
    log(f"systemd-analyze verify ({name}): exit {cp.returncode}" + (f"\n{cp.stdout}" if cp.stdout else ", silent"))
    check(cp.returncode == 0, f"systemd-analyze verify ({name}) exited {cp.returncode}:\n{cp.stdout}")
    about_unit = [line for line in cp.stdout.splitlines() if "iscsikit-target" in line]
    check(not about_unit, f"systemd-analyze verify ({name}) warns about the unit:\n" + "\n".join(about_unit))


def install(case, destdir, *args):
    build = os.environ.get("ISCSIKIT_BUILD_DIR")
    cmake = os.environ.get("ISCSIKIT_CMAKE") or shutil.which("cmake")
    if not build or not cmake:
        missing_prerequisite("ISCSIKIT_BUILD_DIR and cmake (CTest sets ISCSIKIT_BUILD_DIR and ISCSIKIT_CMAKE)")
    argv = [cmake, "--install", build, *args]
    log(f"$ DESTDIR={destdir} {' '.join(argv)}")
    cp = subprocess.run(argv, env={**os.environ, "DESTDIR": str(destdir)}, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, timeout=120)
    check(cp.returncode == 0, f"cmake --install exited {cp.returncode}:\n{cp.stdout}")
    return cp.stdout


def installation(case):
    root = Path(case.path("root"))
    install(case, root)
    local = root / "usr/local"
    for path in (local / "bin/iscsikit-target", local / "bin/iscsikit"):
        check(os.access(path, os.X_OK), f"cmake --install did not install the program {path}")
    unit = local / "lib/systemd/system/iscsikit-target.service"
    check(unit.read_text() == UNIT.read_text(), f"{unit} differs from {UNIT} under the default prefix /usr/local")
    etc = root / "etc/iscsikit/target.toml"
    check(etc.read_text() == SAMPLE.read_text(), f"{etc} is not the sample {SAMPLE}")
    check((local / "share/iscsikit/target.toml").read_text() == SAMPLE.read_text(), "no sample in share/iscsikit")
    for doc in ("service.md", "configuration.md"):
        check((local / "share/doc/iscsikit" / doc).is_file(), f"docs/{doc} not installed in share/doc/iscsikit")
    documentation = re.search(r"(?m)^Documentation=file:(\S+)$", unit.read_text())
    check(documentation and (root / documentation.group(1).lstrip("/")).is_file(),
          f"the unit's Documentation= does not name an installed file: {documentation and documentation.group(0)}")
    verify(case, unit.read_text(), local / "bin/iscsikit-target", etc, "installed")

    # a second install keeps the administrator's configuration
    etc.write_text(etc.read_text() + "# edited by the administrator\n")
    out = install(case, root)
    check(etc.read_text().endswith("# edited by the administrator\n"), f"a second install overwrote {etc}:\n{out}")

    # another prefix: the unit follows it, /etc stays /etc (ConfigurationDirectory= is under /etc)
    other = Path(case.path("root-opt"))
    install(case, other, "--prefix", "/opt/iscsikit")
    text = (other / "opt/iscsikit/lib/systemd/system/iscsikit-target.service").read_text()
    check("ExecStart=/opt/iscsikit/bin/iscsikit-target --config /etc/iscsikit/target.toml" in text,
          "with --prefix /opt/iscsikit the unit's ExecStart is not /opt/iscsikit/bin/iscsikit-target")
    check("/usr/local/" not in text, "with --prefix /opt/iscsikit the unit still names /usr/local/")
    check((other / "etc/iscsikit/target.toml").is_file(), "with --prefix /opt/iscsikit no /etc/iscsikit/target.toml")


def reload_matches_sighup(case):
    """ExecReload=/bin/kill -HUP $MAINPID only once SIGHUP no longer ends the daemon."""
    t = case.start(luns=["ram:16M"])
    t.proc.send_signal(signal.SIGHUP)
    try:
        t.proc.wait(2)
    except subprocess.TimeoutExpired:
        pass
    survives = t.alive()
    if not survives:
        t.kill()  # it ended as it should today; the case must not count that as a crash
    reload = re.search(r"(?m)^ExecReload=(.*)$", UNIT.read_text())
    log(f"SIGHUP: the daemon {'survives' if survives else 'exits'}; ExecReload: "
        f"{reload.group(1) if reload else 'none'}")
    if survives:
        check(reload and reload.group(1) == "/bin/kill -HUP $MAINPID",
              "SIGHUP no longer ends the daemon: give the unit ExecReload=/bin/kill -HUP $MAINPID")
    else:
        check(not reload, f"the unit has ExecReload={reload and reload.group(1)}, but SIGHUP ends the daemon")


def main():
    if PEER != "iscsikit":
        skip("the unit file is iscsikit-target's own")
    require_tools("systemd-analyze")
    with Case("service_unit") as case:
        text = UNIT.read_text()
        check(SHIPPED_EXEC_START in text.splitlines(), f"{UNIT}: want the line {SHIPPED_EXEC_START!r}")
        check("Type=notify" in text.splitlines(), f"{UNIT}: not Type=notify")
        verify(case, text, Path(target_binary()).resolve(), SAMPLE, "shipped")
        installation(case)
        reload_matches_sighup(case)


if __name__ == "__main__":
    main()
