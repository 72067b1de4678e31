"""Reruns forked from a warm process: one test per child, fresh session state, a real exit, and the fallbacks.

Real pytest sessions (pytester, in a subprocess) whose reruns are forked from
a real warm interpreter.
"""

from __future__ import annotations

import re

pytest_plugins = ["pytester"]


def test_each_forked_rerun_runs_its_one_test_with_fresh_session_state_and_exits_for_real(pytester, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    log = tmp_path / "log"
    pytester.makeconftest(f"""
import os, pytest
@pytest.fixture(scope="session")
def session_state():
    with open({str(log)!r}, "a") as f:
        f.write(f"setup {{os.getpid()}} {{os.environ.get('FINIRACE_RUN_TOKEN', 'session')}}\\n")
    return []
""")
    pytester.makepyfile(test_fork=f"""
import atexit, os
def _at_exit():
    with open({str(log)!r}, "a") as f:
        f.write(f"exit {{os.getpid()}}\\n")
def test_a(session_state):
    session_state.append("a")
    assert session_state == ["a"]  # nothing ran before it in this process
    atexit.register(_at_exit)
def test_b(session_state):
    with open({str(log)!r}, "a") as f:
        f.write(f"b ran {{os.getpid()}}\\n")
""")
    result = pytester.runpytest_subprocess("--finirace-runs", "3", "-p", "no:cacheprovider", "-k", "test_a")
    result.assert_outcomes(passed=1, deselected=1)
    out = result.stdout.str()
    assert "reruns: 3 forked from a warm process, 0 in a fresh interpreter" in out
    lines = log.read_text().splitlines()
    setups = [line.split() for line in lines if line.startswith("setup")]
    reruns = [pid for _, pid, token in setups if token != "session"]
    # each rerun set the session fixture up once, in its own process, with its own run marker
    assert len(reruns) == 3 and len(set(reruns)) == 3
    assert len({token for _, _, token in setups if token != "session"}) == 3
    # each rerun's interpreter ran its atexit handlers: a real finalization, not os._exit
    exits = [line.split()[1] for line in lines if line.startswith("exit")]
    assert set(reruns) <= set(exits)
    # the other test of the file was never run by a rerun
    assert not [line for line in lines if line.startswith("b ran")]


def test_a_warm_process_with_a_thread_after_collection_is_not_forked(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    pytester.makepyfile(test_threaded="""
import threading, time
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
def test_ok():
    pass
""")
    result = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "reruns: 0 forked from a warm process, 2 in a fresh interpreter" in out
    assert re.search(r"fresh for \S*test_threaded.py: 2 threads after collection", out)
    assert "every rerun ran its test and exited 0" in out


def test_fresh_option_starts_every_rerun_in_a_fresh_interpreter(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--finirace-runs", "2", "--finirace-fresh", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "reruns: 0 forked from a warm process, 2 in a fresh interpreter" in result.stdout.str()
