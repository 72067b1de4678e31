"""``pytest --finirace-guard``: the exit guard for a test session, on a real pytest subprocess."""

from __future__ import annotations

pytest_plugins = ["pytester"]

LEAVES_A_DAEMON = """
import threading, time
def test_leaves_a_daemon_in_c(tmp_path_factory):
    marker = {marker!r}
    started = threading.Event()
    def loop():
        try:
            started.set()
            while True:
                time.sleep(0.05)
        finally:
            open(marker, "w").close()
    threading.Thread(target=loop, daemon=True).start()
    started.wait()
"""


def test_guard_option_stops_the_daemon_threads_a_session_leaves(pytester, tmp_path):
    marker = tmp_path / "finally-ran"
    pytester.makepyfile(test_daemon=LEAVES_A_DAEMON.format(marker=str(marker)))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not marker.exists()  # without the guard the thread dies with the process: no finally
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--finirace-guard").assert_outcomes(passed=1)
    assert marker.exists()  # stopped at exit: its finally ran


def test_guard_option_refuses_an_unknown_mode(pytester):
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--finirace-guard=freeze")
    assert result.ret == 4 and "--finirace-guard: ignored explicit argument 'freeze'" in result.stderr.str()


def test_guard_option_before_a_test_path_is_a_flag_and_a_mode_is_spelt_whole(pytester):
    # `pytest --finirace-guard tests/` read tests/ as the mode ("invalid choice"), the path lost
    pytester.makepyfile(test_mode="def test_mode():\n    import finirace.guard.exit as g\n"
                                  "    print('MODE', g.installed()[0])\n")
    for option, mode in (("--finirace-guard", "stop"), ("--finirace-guard=stop", "stop"),
                         ("--finirace-guard=park", "park")):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", option, "test_mode.py")
        result.assert_outcomes(passed=1)
        assert f"MODE {mode}" in result.stdout.str()
