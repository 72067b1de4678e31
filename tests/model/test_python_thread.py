"""``python_thread``: a threading.Thread started by Python code is a thread the explorer schedules."""

from __future__ import annotations

from finirace.explore import check
from finirace.scenario import loads

STARTED_BY_CODE = '''name = "t"
[threads]
main = ["init", "save", "spawn worker", "wait blocked", "restore", "finalize"]
worker = ["ensure", "python_thread helper", "release"]
helper = ["save", "signal blocked", "block", "restore", "python \\"x = 1\\""]
'''


def test_a_thread_started_by_python_code_in_a_worker_is_explored():
    # the helper wakes at any moment of main's finalization: each era's fate of a late thread shows
    labels = {v: set(check(loads(STARTED_BY_CODE), v).labels) for v in ("legacy", "exit", "hang")}
    assert "clean, helper hung" in labels["legacy"]
    assert {"clean, helper exited", "memory-error"} <= labels["exit"]
    assert "clean, helper hung" in labels["hang"] and "memory-error" not in labels["hang"]


def test_it_behaves_as_start_thread_from_c():
    from_c = STARTED_BY_CODE.replace("python_thread helper", "start_thread helper")
    for v in ("legacy36", "exit", "exit312", "hang"):
        assert check(loads(STARTED_BY_CODE), v).labels == check(loads(from_c), v).labels


def test_without_the_gil_the_code_cannot_run():
    text = 'name = "t"\n[threads]\nmain = ["init", "save", "python_thread h"]\nh = ["python \\"x = 1\\""]\n'
    (o,) = check(loads(text), "exit").outcomes
    assert o.label == "crash" and o.threads[0].where == "thread_PyThread_start_new_thread"

