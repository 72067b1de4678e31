from __future__ import annotations


pytest_plugins = ["pytester"]


def test_plugin_is_inert_without_options(pytester):
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "finirace:" not in result.stdout.str()


def test_runs_option_fails_the_test_itself_when_its_reruns_crash_at_exit(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    # passes in the session itself; in the reruns (marked by FINIRACE_RUN_TOKEN) it aborts at exit
    pytester.makepyfile(
        test_target="import atexit, os\n"
        "def test_crashes_at_exit():\n    if 'FINIRACE_RUN_TOKEN' in os.environ:\n        atexit.register(os.abort)\n"
        "def test_fine():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider", "-rfE")
    out = result.stdout.str()
    # the test's own report is a failure (not only a summary line), the other one still passes
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["test_target.py CCFrr.*", "FAILED test_target.py::test_crashes_at_exit - finirace: *"])
    # its failure text carries the bucketed signature and a one-line reproduction with the seed
    section = out[out.index("_ test_crashes_at_exit _"):]
    assert "2 of 2 reruns of this test crashed or hung at exit" in section
    assert "abort SIGABRT" in section and "(2/2 runs)" in section
    assert "reproduce: finirace stress --runs 20 --seed " in section
    assert "test_target.py::test_crashes_at_exit" in section.split("reproduce:")[1].splitlines()[0]
    assert "FAILED test_target.py::test_fine" not in out
    assert result.ret == 1


def test_runs_option_fails_a_test_whose_reruns_hang_at_exit(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    # in the reruns, a non-daemon thread that never ends: the interpreter waits for it at exit
    pytester.makepyfile(
        test_hang="import os, threading, time\n"
        "def test_leaves_a_thread():\n"
        "    if 'FINIRACE_RUN_TOKEN' in os.environ:\n"
        "        threading.Thread(target=time.sleep, args=(3600,)).start()\n"
    )
    result = pytester.runpytest_subprocess("--finirace-runs", "1", "--finirace-timeout", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    section = out[out.index("_ test_leaves_a_thread _"):]
    assert "1 of 1 reruns of this test crashed or hung at exit" in section
    assert "timeout" in section and "(1/1 runs)" in section
    assert "reproduce: finirace stress --runs 20 --seed " in section and " --perturb " in section
    assert " --cwd " in section and " --timeout 3 -- " in section  # where the rerun ran, within its limit
    assert section.split("reproduce: ")[1].splitlines()[0].endswith("test_hang.py::test_leaves_a_thread")


def test_bad_timeout_is_a_usage_error(pytester):
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--finirace-runs", "1", "--finirace-timeout", "0")
    assert result.ret == 4  # pytest's usage error
    assert "--finirace-timeout must be positive, got 0.0" in result.stderr.str()


def test_runs_option_passes_a_test_that_exits_cleanly(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    pytester.makepyfile(
        test_clean="import threading\n"
        "def test_joins_its_thread():\n    t = threading.Thread(target=sum, args=([1, 2],))\n    t.start()\n    t.join()\n"
    )
    result = pytester.runpytest_subprocess("--finirace-runs", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "no crash or hang at exit, and no failure, in 3 runs of the 1 test: every rerun" in result.stdout.str()
    assert result.ret == 0


def test_runs_option_does_not_rerun_a_test_that_already_failed(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "s.db"))
    pytester.makepyfile(test_broken="def test_broken():\n    assert 1 == 2\n")
    result = pytester.runpytest_subprocess("--finirace-runs", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "assert 1 == 2" in out and "reruns of this test" not in out
    # and the summary does not call an untested session clean
    assert "no test was rerun: only a test that passed in the session is rerun, and none passed" in out
    assert "no crash or hang at exit" not in out and "xdist" not in out  # no xdist here: not its cause


def test_audit_option_lists_live_threads(pytester):
    pytester.makepyfile(
        "import threading, time\n"
        "def test_starts_daemon():\n    threading.Thread(target=time.sleep, args=(30,), daemon=True, name='lingering').start()\n"
    )
    result = pytester.runpytest_subprocess("--finirace-audit")
    out = result.stdout.str()
    assert "lingering (daemon" in out and "killed with pthread_exit" in out
    # the fix a pytest user can apply, not "the first line of the program"
    assert "fix in the test session: join the thread in the test's teardown, or run pytest with --finirace-guard" in out
    assert "first line of the program" not in out
