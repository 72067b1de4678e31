"""Searches side by side: forked children, results in order, errors and signals as the parent's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from finirace.explore.pool import at_once, run_all


def _pid_of(cell: int) -> tuple[int, int]:
    return cell * cell, os.getpid()


def test_cells_run_in_children_and_come_back_in_order():
    seen = []
    got = run_all(list(range(12)), _pid_of, 2, lambda n, total: seen.append((n, total)))
    assert [square for square, _ in got] == [i * i for i in range(12)]
    pids = {pid for _, pid in got}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert seen == [(n, 12) for n in range(1, 13)]


def test_at_once_is_bounded_by_the_cells():
    assert (at_once(4, 3), at_once(2, 5), at_once(1, 5), at_once(2, 0)) == (3, 2, 1, 1)


def test_one_job_runs_here():
    got = run_all([1, 2], _pid_of, 1)
    assert got == [(1, os.getpid()), (4, os.getpid())]


def test_a_process_with_other_threads_runs_them_here():
    """A fork copies only the forking thread, and any lock another thread holds stays held."""
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert at_once(2, 3) == 1  # what the caller is told: check's summary and --pct --time shares
        got = run_all([1, 2, 3], _pid_of, 2)
    finally:
        stop.set()
        other.join()
    assert [pid for _, pid in got] == [os.getpid()] * 3


def test_a_closure_the_parent_made_reaches_the_children():
    """What fork gives: no pickling of the function (a variant file's code cannot be pickled)."""
    secret = {"k": 41}
    got = run_all([1, 2, 3], lambda c: c + secret["k"], 2)
    assert got == [42, 43, 44]


def _fails_on_two(cell: int) -> int:
    if cell == 2:
        raise ValueError(f"bad cell {cell}")
    return cell


def test_a_childs_exception_is_raised_in_the_parent():
    with pytest.raises(ValueError, match="bad cell 2"):
        run_all([1, 2, 3], _fails_on_two, 2)


# a parent whose children write their pids and then wait far longer than the test
_SLOW_PARENT = textwrap.dedent("""
    import os, sys, time
    from finirace.explore.pool import run_all
    where = sys.argv[1]
    def slow(cell):
        with open(os.path.join(where, f"child-{os.getpid()}"), "w"):
            pass
        time.sleep(120)
    try:
        run_all([1, 2, 3, 4], slow, 2)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
""")


def _children(where) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = [int(p.name.split("-")[1]) for p in where.iterdir() if p.name.startswith("child-")]
        if len(pids) == 2:
            return pids
        time.sleep(0.05)
    raise AssertionError("the children never started")


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{pid}") and not _zombie(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("how", ["kill the parent", "ctrl-c the group"])
def test_no_child_outlives_a_parent_that_is_killed_or_interrupted(tmp_path, how):
    p = subprocess.Popen([sys.executable, "-c", _SLOW_PARENT, str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        pids = _children(tmp_path)
        if how == "kill the parent":
            p.kill()
        else:
            os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert _gone(pids), f"children left behind: {pids}"
    if how == "ctrl-c the group":
        assert out == "interrupted\n" and "Traceback" not in err, err
