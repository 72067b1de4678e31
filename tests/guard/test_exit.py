"""The exit guard on every installed interpreter 3.8-3.13: stop, park, the bound, idle waits."""

from __future__ import annotations

import pytest

from finirace.guard import exit as guard_exit
from .programs import pythons, run_python

# One daemon thread running Python, one inside a C call (time.sleep releases
# the GIL), each with a finally that says so; main exits at once.
TWO_THREADS = """
import threading, time, sys
import finirace.guard
finirace.guard.install(mode=MODE, timeout=10, verbose=True)
inside = [threading.Event(), threading.Event()]
def python_loop():
    try:
        inside[0].set()
        n = 0
        while True:
            n += 1
    finally:
        sys.stderr.write("finally: python\\n")
def in_c():
    try:
        inside[1].set()
        while True:
            time.sleep(0.2)
    finally:
        sys.stderr.write("finally: c\\n")
threading.Thread(target=python_loop, daemon=True).start()
threading.Thread(target=in_c, daemon=True).start()
for e in inside:
    e.wait()
"""


@pytest.mark.parametrize("python", pythons())
def test_stop_unwinds_threads_in_python_and_in_c_and_runs_their_finally(python):
    r = run_python(python, TWO_THREADS.replace("MODE", "'stop'"))
    assert r.returncode == 0, r.stderr
    assert "finally: python" in r.stderr and "finally: c" in r.stderr, r.stderr
    assert "stop: 2 daemon thread(s) told, 2 ended, 0 parked, 0 idle in threading waits, 0 late" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "Exception in thread" not in r.stderr, r.stderr


@pytest.mark.parametrize("python", pythons())
def test_park_blocks_both_threads_for_ever_and_runs_no_finally(python):
    r = run_python(python, TWO_THREADS.replace("MODE", "'park'"))
    assert r.returncode == 0, r.stderr
    assert "finally" not in r.stderr, r.stderr
    assert "park: 2 daemon thread(s) told, 0 ended, 2 parked, 0 idle in threading waits, 0 late" in r.stderr, r.stderr


LATE = """
import threading, time
import finirace.guard
finirace.guard.install(timeout=0.3, verbose=True)
ready = threading.Event()
def stuck_in_c():
    ready.set()
    time.sleep(60)
threading.Thread(target=stuck_in_c, name="stuck", daemon=True).start()
ready.wait()
t0 = time.monotonic()
"""


@pytest.mark.parametrize("python", pythons())
def test_a_thread_still_in_c_at_the_bound_is_named_with_its_stack_and_exit_goes_on(python):
    r = run_python(python, LATE, timeout=30)  # the thread would sleep 60 s: exit did not wait for it
    assert r.returncode == 0, r.stderr
    assert "finirace guard: 1 daemon thread(s) not at a safe point after 0.3 s" in r.stderr, r.stderr
    assert "stuck (daemon)" in r.stderr and "in stuck_in_c" in r.stderr and "time.sleep(60)" in r.stderr, r.stderr
    assert "1 late" in r.stderr


IDLE = """
import threading, queue
import finirace.guard
finirace.guard.install(timeout=30, verbose=True)
q = queue.Queue()
ready = threading.Event()
def idle_worker():
    ready.set()
    q.get()
threading.Thread(target=idle_worker, daemon=True).start()
ready.wait()
"""


@pytest.mark.parametrize("python", pythons())
def test_a_thread_waiting_in_threading_is_not_waited_for(python):
    r = run_python(python, IDLE, timeout=20)  # a 30 s bound: the guard must not spend it
    assert r.returncode == 0, r.stderr
    assert "1 daemon thread(s) told, 0 ended, 0 parked, 1 idle in threading waits, 0 late" in r.stderr, r.stderr


def test_no_threading_imported_means_nothing_to_do():
    r = run_python(pythons()[-1].values[0], "import finirace.guard, sys\nfinirace.guard.install(verbose=True)\n"
                   "assert 'threading' not in sys.modules, 'the guard imported threading'")
    if r.returncode != 0 and "No such file" in r.stderr:
        pytest.skip("needs CPython 3.13")
    assert r.returncode == 0, r.stderr
    assert "no threading, nothing to do" in r.stderr


@pytest.mark.parametrize("bad", [dict(mode="freeze"), dict(timeout=-1), dict(timeout="soon")])
def test_install_refuses_bad_settings_in_one_line(bad):
    with pytest.raises(ValueError, match="finirace.guard.install"):
        guard_exit.install(**bad)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, None),
        ({"FINIRACE_GUARD": "0"}, None),
        ({"FINIRACE_GUARD": "1"}, ("stop", 2.0, False)),
        ({"FINIRACE_GUARD": "park", "FINIRACE_GUARD_TIMEOUT": "0.5", "FINIRACE_GUARD_VERBOSE": "1"}, ("park", 0.5, True)),
    ],
)
def test_settings_from_the_environment(env, expected):
    assert guard_exit.settings_from_environment(env) == expected


@pytest.mark.parametrize("env", [{"FINIRACE_GUARD": "freeze"}, {"FINIRACE_GUARD": "1", "FINIRACE_GUARD_TIMEOUT": "x"}])
def test_bad_environment_values_name_the_variable(env):
    with pytest.raises(ValueError, match="FINIRACE_GUARD"):
        guard_exit.settings_from_environment(env)


SWALLOWS = """
import threading, time
import finirace.guard
finirace.guard.install(mode=MODE, timeout=0.5, verbose=True)
inside = threading.Event()
def stubborn():
    while True:
        try:
            inside.set()
            time.sleep(0.01)
        except SystemExit:
            pass
threading.Thread(target=stubborn, name="stubborn", daemon=True).start()
inside.wait()
"""


@pytest.mark.parametrize("python", pythons())
def test_a_thread_that_swallows_systemexit_is_late_under_stop_and_parked_under_park(python):
    stop = run_python(python, SWALLOWS.replace("MODE", "'stop'"), timeout=30)
    assert stop.returncode == 0, stop.stderr
    assert "stubborn (daemon)" in stop.stderr and "1 late" in stop.stderr, stop.stderr
    park = run_python(python, SWALLOWS.replace("MODE", "'park'"), timeout=30)
    assert park.returncode == 0, park.stderr
    assert "park: 1 daemon thread(s) told, 0 ended, 1 parked" in park.stderr, park.stderr
