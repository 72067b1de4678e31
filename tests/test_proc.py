"""proc.run against hostile real targets: each ends with a clear result and nothing left behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from finirace import proc

PY = sys.executable


def _alive_with_token(token: str) -> set[int]:
    return proc.find_members(token, -1)


def test_clean_exit_and_output():
    r = proc.run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert r.ok and r.exit_code == 0 and r.signal is None and not r.timed_out
    assert r.stdout == "out\n" and r.stderr == "err\n"
    assert r.stdout_bytes == 4 and r.leftovers_killed == 0


def test_exit_status_and_env_and_cwd(tmp_path):
    r = proc.run(
        [PY, "-c", "import os, sys; print(os.environ['X'], os.getcwd(), os.environ['FINIRACE_RUN_TOKEN']); sys.exit(3)"],
        env={**os.environ, "X": "hello"},
        cwd=tmp_path,
    )
    assert r.exit_code == 3 and not r.ok
    word, cwd, token = r.stdout.split()
    assert word == "hello" and cwd == str(tmp_path) and token == r.token


def test_segfault_is_a_signal():
    r = proc.run([PY, "-c", "import ctypes; ctypes.string_at(0)"])
    assert r.signal == "SIGSEGV" and r.exit_code is None and not r.timed_out
    assert r.describe() == "killed by SIGSEGV"


def test_abort():
    r = proc.run([PY, "-c", "import os; os.abort()"])
    assert r.signal == "SIGABRT"


def test_hang_ignoring_sigterm_is_killed_after_the_callback():
    seen = []
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
    r = proc.run([PY, "-c", code], timeout=1.0, grace=0.2, on_timeout=lambda pid: seen.append(pid) or f"pid {pid}")
    assert r.timed_out and r.exit_code is None and r.signal is None
    assert seen == [r.pid] and r.timeout_note == f"pid {r.pid}"
    assert "ready" in r.stdout
    assert not _alive_with_token(r.token)


def test_failing_timeout_callback_does_not_escape():
    def boom(pid):
        raise RuntimeError("gdb missing")

    r = proc.run([PY, "-c", "import time; time.sleep(600)"], timeout=0.3, on_timeout=boom)
    assert r.timed_out and "gdb missing" in (r.timeout_note or "")


def test_one_gigabyte_of_output_is_counted_not_kept():
    r = proc.run(["head", "-c", str(1 << 30), "/dev/zero"], timeout=120)
    assert r.ok and r.stdout_bytes == 1 << 30
    assert len(r.stdout) < proc.DEFAULT_HEAD + proc.DEFAULT_TAIL + 200
    assert "bytes of output not kept" in r.stdout


def test_output_limit_ends_the_run():
    r = proc.run(["yes"], output_limit=1 << 20, timeout=60)
    assert r.output_limited and r.stdout_bytes > 1 << 20 and not _alive_with_token(r.token)


def test_non_utf8_output_is_replaced():
    r = proc.run([PY, "-c", "import sys; sys.stdout.buffer.write(b'a\\xff\\xfeb'); sys.stderr.buffer.write(b'\\xc3')"])
    assert r.stdout == "a\ufffd\ufffdb" and r.stderr == "\ufffd"


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
            p for p in os.listdir("/proc") if p.isdigit() and (st := proc._stat(int(p))) and st[0] and st[1] == os.getpid()
        }

    before = zombies_of_ours()  # earlier tests in this process may have left adopted orphans
    r = proc.run([PY, "-c", code], timeout=30)
    assert r.ok and "parent done" in r.stdout
    assert r.leftovers_killed == 1
    assert not _alive_with_token(r.token)
    # no zombie child of ours remains from this run
    assert zombies_of_ours() - before == set()


def test_child_holding_the_pipe_does_not_block_the_run():
    code = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); print('bye')"
    r = proc.run([PY, "-c", code], timeout=30)
    assert r.ok and not r.timed_out and r.leftovers_killed == 1 and "bye" in r.stdout


def test_missing_command():
    r = proc.run(["/no/such/finirace-cmd", "x"])
    assert not r.started and r.launch_error == "command not found: /no/such/finirace-cmd"
    assert r.exit_code is None and not r.ok


def test_file_without_run_bit(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    r = proc.run([str(script)])
    assert not r.started and "not executable" in (r.launch_error or "") and str(script) in r.launch_error


def test_empty_command():
    assert proc.run([]).launch_error == "empty command"


@pytest.mark.parametrize("head,tail", [(4, 4), (0, 8), (8, 0)])
def test_bounded_output_keeps_head_and_tail(head, tail):
    buf = proc.BoundedOutput(head, tail)
    data = bytes(range(48, 48 + 40))
    for i in range(0, len(data), 3):
        buf.feed(data[i : i + 3])
    assert buf.total == 40
    text = buf.text()
    assert text.startswith(data[:head].decode())
    assert text.endswith(data[len(data) - tail :].decode() if tail else "]\n")
    assert "32 bytes of output not kept" in text


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
        st = proc._stat(target)
        if not st or st[0]:  # gone, or a zombie waiting for init
            break
        time.sleep(0.05)
    st = proc._stat(target)
    assert not st or st[0], "the target outlived the finirace process that ran it"


def test_a_run_that_left_nothing_is_not_searched_for_leftovers():
    """The full /proc scan is for runs that left something; a clean run skips it.

    Run in a fresh interpreter: this test process has children of other tests
    (which rightly send it down the slow path)."""
    code = textwrap.dedent(
        """
        import sys
        from finirace import proc
        scans = []
        real_scan = proc._scan
        proc._scan = lambda *a: scans.append(a) or real_scan(*a)
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
