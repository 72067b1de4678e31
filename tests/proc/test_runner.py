"""proc.run against hostile real targets: each ends with a clear result and nothing left behind."""

from __future__ import annotations

import os
import stat
import sys

from finirace.proc import find_members, run

PY = sys.executable


def _alive_with_token(token: str) -> set[int]:
    return find_members(token, -1)


def test_clean_exit_and_output():
    r = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert r.ok and r.exit_code == 0 and r.signal is None and not r.timed_out
    assert r.stdout == "out\n" and r.stderr == "err\n"
    assert r.stdout_bytes == 4 and r.leftovers_killed == 0


def test_exit_status_and_env_and_cwd(tmp_path):
    r = run(
        [PY, "-c", "import os, sys; print(os.environ['X'], os.getcwd(), os.environ['FINIRACE_RUN_TOKEN']); sys.exit(3)"],
        env={**os.environ, "X": "hello"},
        cwd=tmp_path,
    )
    assert r.exit_code == 3 and not r.ok
    word, cwd, token = r.stdout.split()
    assert word == "hello" and cwd == str(tmp_path) and token == r.token


def test_segfault_is_a_signal():
    r = run([PY, "-c", "import ctypes; ctypes.string_at(0)"])
    assert r.signal == "SIGSEGV" and r.exit_code is None and not r.timed_out
    assert r.describe() == "killed by SIGSEGV"


def test_abort():
    r = run([PY, "-c", "import os; os.abort()"])
    assert r.signal == "SIGABRT"


def test_hang_ignoring_sigterm_is_killed_after_the_callback():
    seen = []
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
    r = run([PY, "-c", code], timeout=1.0, grace=0.2, on_timeout=lambda pid: seen.append(pid) or f"pid {pid}")
    assert r.timed_out and r.exit_code is None and r.signal is None
    assert seen == [r.pid] and r.timeout_note == f"pid {r.pid}"
    assert "ready" in r.stdout
    assert not _alive_with_token(r.token)


def test_failing_timeout_callback_does_not_escape():
    def boom(pid):
        raise RuntimeError("gdb missing")

    r = run([PY, "-c", "import time; time.sleep(600)"], timeout=0.3, on_timeout=boom)
    assert r.timed_out and "gdb missing" in (r.timeout_note or "")


def test_output_limit_ends_the_run():
    r = run(["yes"], output_limit=1 << 20, timeout=60)
    assert r.output_limited and r.stdout_bytes > 1 << 20 and not _alive_with_token(r.token)


def test_missing_command():
    r = run(["/no/such/finirace-cmd", "x"])
    assert not r.started and r.launch_error == "command not found: /no/such/finirace-cmd"
    assert r.exit_code is None and not r.ok


def test_file_without_run_bit(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    r = run([str(script)])
    assert not r.started and "not executable" in (r.launch_error or "") and str(script) in r.launch_error


def test_empty_command():
    assert run([]).launch_error == "empty command"
