"""3.14's refcounted thread states (``finirace.model.refcount``), on scenarios written here.

What each test pins is a line of CPython's source: the state a late thread holds
survives finalization until ``_PyThreadState_HangThread`` drops the last
reference; a state made after ``_PyThreadState_RemoveExcept`` is not marked and
``zapthreads`` frees it under its thread.
"""

from __future__ import annotations

from finirace.explore import check
from finirace.outcome import RunKind, label_matches
from finirace.scenario import loads

# the worker is blocked (GIL released) across the whole of Py_FinalizeEx, then wakes
LATE = """
name = "late"
[threads]
main = ["init", "save", "spawn w", "wait blocked", "restore", "finalize", "signal done", "join w"]
w = ["ensure", "save", "signal blocked", "block until done", "restore", "release"]
"""

# a C thread's PyGILState_Ensure lands during finalization
DURING = """
name = "during"
[threads]
main = ["init", "save", "spawn w", "wait started", "restore", "finalize"]
w = ["signal started", "ensure", "python \\"x = 1\\"", "release"]
"""


def _notes(cx):
    return [(s.thread, s.transition.function, s.transition.note) for s in cx.trace]


def _find(verdict, label):
    for o, cx in zip(verdict.outcomes, verdict.counterexamples):
        if label_matches(label, o):
            return o, cx
    raise AssertionError(f"no {label!r} in {verdict.labels}")


def test_late_thread_keeps_its_state_until_it_hangs_and_frees_it_then():
    v = check(loads(LATE), "hang")
    assert v.labels == ("timeout, main deadlocked, w hung",)
    o, cx = _find(v, "timeout, main deadlocked, w hung")
    notes = _notes(cx)
    marked = next(i for i, (t, f, n) in enumerate(notes) if f == "_PyThreadState_RemoveExcept")
    dropped = next(i for i, (t, f, n) in enumerate(notes) if f == "_PyThreadState_DeleteList")
    hung = next(i for i, (t, f, n) in enumerate(notes) if t == "w" and "_Py_THREAD_SHUTTING_DOWN" in n)
    assert marked < dropped < hung
    assert "marked _Py_THREAD_SHUTTING_DOWN" in notes[marked][2]
    assert "its thread still holds a reference" in notes[dropped][2]
    assert "its reference was the last: the state is freed" in notes[hung][2]
    assert o.thread("w").where == "take_gil"


def test_the_same_late_thread_reads_freed_memory_before_refcounts_and_exits_in_3_13():
    # 3.9–3.13 check the runtime, not the state: the late worker exits before touching it
    assert check(loads(LATE), "exit313").labels == ("clean, w exited",)
    # the 2019 branch read the freed state in PyEval_RestoreThread
    assert check(loads(LATE), "prefix").labels == ("memory-error",)


def test_a_state_made_during_finalization_is_freed_by_zapthreads_under_its_thread():
    v = check(loads(DURING), "hang")
    o, cx = _find(v, "memory-error")
    (err,) = o.memory_errors
    assert err.block == "PyThreadState of w" and err.access.thread == "w"
    assert err.freed_by.function == "zapthreads" and "PyInterpreterState_Delete" in err.freed_by.frames
    assert err.allocated_by.function == "new_threadstate" and "PyGILState_Ensure" in err.allocated_by.frames
    notes = _notes(cx)
    # the state was made after _PyThreadState_RemoveExcept (so never marked), the check passed,
    # the finalizer released the GIL, zapthreads freed it, the thread used it
    removed = next(i for i, (t, f, n) in enumerate(notes) if f == "_PyThreadState_RemoveExcept")
    made = next(i for i, (t, f, n) in enumerate(notes) if t == "w" and f == "new_threadstate")
    passed = next(i for i, (t, f, n) in enumerate(notes) if t == "w" and "is not shutting down" in n)
    detached = next(i for i, (t, f, n) in enumerate(notes) if f == "_PyThreadState_Detach")
    zapped = next(i for i, (t, f, n) in enumerate(notes) if f == "zapthreads")
    assert removed < made < passed and detached < zapped < len(notes) - 1
    assert notes[-1][0] == "w"


def test_the_window_is_closed_on_3_13_by_the_runtime_check():
    """3.13 has the same GIL release before zapthreads, but its late thread exits at the
    runtime check: no state it made during finalization is used after zapthreads."""
    v = check(loads(DURING), "exit313")
    for o in v.outcomes:
        for err in o.memory_errors:
            assert err.freed_by.function != "zapthreads", v.labels


def test_guards_keep_finalization_off_where_the_legacy_api_has_the_window():
    guarded = DURING.replace('"signal started", "ensure"', '"guard", "signal started", "ensure"').replace(
        '"release"]', '"release", "unguard"]')
    assert check(loads(guarded), "guards").labels == ("clean",)
    assert "memory-error" in check(loads(DURING), "guards").labels


def test_reinit_wakes_into_a_state_still_marked_shutting_down():
    text = """
name = "reinit"
[threads]
main = ["init", "save", "spawn w", "wait blocked", "restore", "finalize", "init", "save", "signal again", "join w"]
w = ["ensure", "save", "signal blocked", "block until again", "restore", "release"]
"""
    # tstate->state lives in the block, not in the new runtime: the thread hangs, its join never returns
    (o,) = check(loads(text), "hang").outcomes
    assert o.label == "timeout, main deadlocked, w hung"
    assert check(loads(text), "exit313").labels == ("memory-error",)
    assert o.kind is RunKind.TIMEOUT
