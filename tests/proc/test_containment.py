"""Nothing left behind: what a run forks, double-forks or leaves holding its pipes is killed and reaped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from finirace.proc import find_members, run
from finirace.proc.containment import _stat

PY = sys.executable


def _alive_with_token(token: str) -> set[int]:
    return find_members(token, -1)


def test_double_forked_setsid_child_is_killed_and_reaped():
    code = textwrap.dedent(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            os._exit(0)
        print('parent done', flush=True)
        """
    )
    def zombies_of_ours():
        return {
            p for p in os.listdir("/proc") if p.isdigit() and (st := _stat(int(p))) and st[0] and st[1] == os.getpid()
        }

    before = zombies_of_ours()  # earlier tests in this process may have left adopted orphans
    r = run([PY, "-c", code], timeout=30)
    assert r.ok and "parent done" in r.stdout
    assert r.leftovers_killed == 1
    assert not _alive_with_token(r.token)
    # no zombie child of ours remains from this run
    assert zombies_of_ours() - before == set()


def test_child_holding_the_pipe_does_not_block_the_run():
    code = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); print('bye')"
    r = run([PY, "-c", code], timeout=30)
    assert r.ok and not r.timed_out and r.leftovers_killed == 1 and "bye" in r.stdout


def test_target_dies_with_finirace_when_finirace_is_killed(tmp_path):
    """kill -9 of the process running proc.run must not leave its target running."""
    pidfile = tmp_path / "pid"
    driver = textwrap.dedent(
        f"""
        import sys
        from finirace import proc
        proc.run([sys.executable, "-c", "import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(600)"], timeout=600)
        """
    )
    parent = subprocess.Popen([PY, "-c", driver])
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    target = int(pidfile.read_text())
    os.kill(target, 0)  # running
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = _stat(target)
        if not st or st[0]:  # gone, or a zombie waiting for init
            break
        time.sleep(0.05)
    st = _stat(target)
    assert not st or st[0], "the target outlived the finirace process that ran it"


def test_a_run_that_left_nothing_is_not_searched_for_leftovers():
    """The full /proc scan is for runs that left something; a clean run skips it.

    Run in a fresh interpreter: this test process has children of other tests
    (which rightly send it down the slow path)."""
    code = textwrap.dedent(
        """
        import sys
        from finirace import proc
        from finirace.proc import containment
        scans = []
        real_scan = containment._scan
        containment._scan = lambda *a: scans.append(a) or real_scan(*a)
        r = proc.run([sys.executable, "-c", "pass"], timeout=30)
        assert r.ok and r.leftovers_killed == 0, r
        clean_scans = len(scans)
        r = proc.run([sys.executable, "-c", "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)"], timeout=30)
        print(clean_scans, r.leftovers_killed, len(scans) > clean_scans)
        """
    )
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # no scan after the clean run; the run that left a process was searched and cleaned
    assert r.stdout.split() == ["0", "1", "True"]
