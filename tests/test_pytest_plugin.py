from __future__ import annotations

import subprocess
import sys

pytest_plugins = ["pytester"]


def test_plugin_is_inert_without_options(pytester):
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "finirace:" not in result.stdout.str()


def test_runs_option_fails_a_test_that_crashes_at_exit(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    pytester.makepyfile(
        "import atexit, os\n"
        "def test_crashes_at_exit():\n    if 'FINIRACE_RUN_TOKEN' in os.environ:\n        atexit.register(os.abort)\n"
        "def test_fine():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "test_crashes_at_exit: abort SIGABRT" in out and "reproduced 2/2" in out
    assert "test_fine: " not in out
    assert result.ret == 1


def test_audit_option_lists_live_threads(pytester):
    pytester.makepyfile(
        "import threading, time\n"
        "def test_starts_daemon():\n    threading.Thread(target=time.sleep, args=(30,), daemon=True, name='lingering').start()\n"
    )
    result = pytester.runpytest_subprocess("--finirace-audit")
    out = result.stdout.str()
    assert "lingering (daemon)" in out and "killed with pthread_exit" in out
