"""The required real results: real programs, real interpreters, real detectors.

Each test runs its programs through :func:`finirace.lab.session.execute` on two
workers, as ``finirace lab`` does.  Where a real interpreter does something the
catalog did not say, the test states what it does and docs/lab.md records it.
"""

from __future__ import annotations

import pytest

from finirace.lab import codegen, runner, session
from finirace.outcome import RunKind, ThreadOutcome

from .conftest import RELEASES, debug_interpreter, interpreter, scenario

EXIT_ERA = [(3, 9), (3, 10), (3, 11), (3, 12), (3, 13)]
LEGACY_ERA = [(3, 6), (3, 7), (3, 8)]


def _runs(name, versions, detector="plain", timeout=10.0, repeat=1):
    sc = scenario(name)
    interps = [interpreter(v) for v in versions]
    jobs = session.plan([sc], interps, [detector], repeat)
    return session.execute(jobs, workers=2, timeout=timeout)


def test_ensure_after_segfaults_on_3_11_release_and_asserts_on_the_debug_build():
    sc = scenario("ensure-after")
    jobs = session.plan([sc], [interpreter((3, 11)), debug_interpreter()], ["plain"])
    release, debug = session.execute(jobs, workers=2)
    assert release.outcome.kind is RunKind.CRASH and release.outcome.signal == "SIGSEGV"
    late = release.outcome.thread("late")
    assert late.last_step.text == "ensure" and late.outcome is None  # died inside PyGILState_Ensure
    assert debug.outcome.kind is RunKind.ABORT
    assert "autoInterpreterState" in debug.outcome.reason


def test_assert_detector_runs_only_on_debug_builds():
    sc = scenario("ensure-after")
    jobs = session.plan([sc], [interpreter((3, 11)), debug_interpreter()], ["assert"])
    release, debug = session.execute(jobs, workers=2)
    assert release.skipped and "debug build" in release.note
    assert release.outcome.kind is RunKind.NOT_RUN and "debug build" in release.outcome.reason  # never "clean"
    assert not debug.skipped and "Assertion `gilstate->autoInterpreterState' failed" in debug.outcome.reason


def test_seed_ordered_worker_exits_on_3_9_to_3_13_and_the_run_is_clean():
    for run in _runs("seed-join", EXIT_ERA):
        assert run.outcome.label == "clean, worker exited", (run.version, run.outcome, run.stderr)
        w = run.outcome.thread("worker")
        assert w.last_step.text == "restore"  # never passed its wake-up step


def test_seed_ordered_worker_hangs_in_take_gil_on_3_6_to_3_8():
    runs = _runs("seed-hang", LEGACY_ERA)
    for run in runs:
        assert run.outcome.label == "clean, worker hung", (run.version, run.outcome)
        assert run.outcome.thread("worker").last_step.text == "restore"


def test_gdb_shows_the_hung_worker_inside_take_gil():
    (run,) = _runs("seed-hang", [(3, 8)], detector="gdb")
    assert run.outcome.label == "clean, worker hung"
    assert run.outcome.thread("worker").where == "take_gil"
    assert "take_gil" in run.backtraces


def test_seed_that_joins_the_hung_worker_times_out_with_backtraces():
    (run,) = _runs("seed-join", [(3, 7)], timeout=2.0)
    assert run.outcome.kind is RunKind.TIMEOUT
    assert run.outcome.thread("main").outcome is ThreadOutcome.DEADLOCKED
    assert run.outcome.thread("main").last_step.text == "join worker"
    assert run.outcome.thread("worker").outcome is ThreadOutcome.HUNG
    assert "take_gil" in run.backtraces  # gdb attached before the kill


def test_cxx_noexcept_aborts_with_terminate_on_3_9_to_3_13():
    for run in _runs("cxx-noexcept", EXIT_ERA):
        assert run.outcome.kind is RunKind.ABORT and run.outcome.signal == "SIGABRT", (run.version, run.outcome)
        assert run.outcome.reason == "terminate called without an active exception"


def _check_freed_read(runs, alloc_step, freed_step, read_steps):
    for run in runs:
        o = run.outcome
        assert o.kind is RunKind.MEMORY_ERROR, (run.version, o.label, run.stderr[-500:])
        stale = [e for e in o.memory_errors if e.freed_by and e.freed_by.step and e.allocated_by and e.allocated_by.step]
        assert stale, (run.version, [e.lines() for e in o.memory_errors[:3]])
        e = stale[0]
        assert e.kind == "Invalid read"
        assert str(e.allocated_by.step) == alloc_step, run.version
        assert str(e.freed_by.step) == freed_step, run.version
        assert str(e.access.step) in read_steps, run.version
        assert e.block.startswith("PyThreadState")


@pytest.mark.parametrize("name,alloc_step,freed_step,read_steps", [
    ("clear-after", "worker[0] new_tstate", "main[5] finalize", ["worker[6] clear_tstate"]),
    # 3.6 passes the restore and reads the freed state running Python on it (docs/lab.md)
    ("reinit-wake", "worker[0] ensure", "main[5] finalize", ["worker[4] restore", 'worker[5] python "x = 1"']),
])
def test_bundled_cases_read_the_freed_thread_state_under_valgrind_on_every_release(name, alloc_step, freed_step,
                                                                                   read_steps):
    from finirace.scenario import catalog

    sc = catalog.resolve(name)
    interps = [interpreter(v) for v in RELEASES if RELEASES[v].exists()]
    runs = session.execute(session.plan([sc], interps, ["valgrind"]), workers=2)
    _check_freed_read(runs, alloc_step, freed_step, read_steps)


@pytest.mark.parametrize("name,alloc_step,freed_step,read_step", [
    ("clear-after", "worker[0] new_tstate", "main[3] finalize", "worker[3] clear_tstate"),
    ("reinit-wake", "worker[0] ensure", "main[5] finalize", "worker[4] restore"),
])
def test_own_cases_name_the_freed_by_and_allocated_by_steps(name, alloc_step, freed_step, read_step):
    _check_freed_read(_runs(name, [(3, 7), (3, 13)], detector="valgrind"), alloc_step, freed_step, [read_step])


def test_reinit_wake_on_3_6_aborts_in_the_workers_release():
    """3.6 ends in PyGILState_Release's fatal error (docs/lab.md).  Nothing orders the second
    Py_Initialize against the worker, which is blocked then: on a loaded machine memcheck once
    also saw that initialization read the worker's freed state, before the same abort."""
    (run,) = _runs("reinit-wake", [(3, 6)], detector="valgrind")
    assert "auto-releasing thread-state, but no thread-state for this thread" in run.stderr, run.stderr[-500:]
    if run.outcome.kind is RunKind.MEMORY_ERROR:
        _check_freed_read([run], "worker[0] ensure", "main[5] finalize", ["main[6] init"])
    else:
        assert run.outcome.kind is RunKind.ABORT and not run.outcome.memory_errors
        assert "no thread-state for this thread" in run.outcome.reason


@pytest.mark.parametrize("version", [(3, 8), (3, 11)])
def test_the_same_program_gives_the_same_outcome_20_times(version):
    runs = _runs("seed-hang", [version], repeat=20)
    labels = {r.outcome.label for r in runs}
    assert len(runs) == 20 and len(labels) == 1, labels
    markers = {tuple((m.thread, m.step, m.phase) for m in r.markers if m.thread == "worker") for r in runs}
    assert len(markers) == 1  # the worker's path through its steps, every time


def test_thread_outcomes_from_markers():
    prog = codegen.generate(scenario("seed-join"))
    text = "\n".join([
        "M 1 0 -1 S", "M 2 0 0 b", "M 3 0 0 a", "M 4 1 -1 S", "M 5 1 0 b", "M 6 1 0 a",
        "M 7 1 4 b", "M 8 1 -1 E", "M 9 0 7 b", "M 10 0 7 a", "M 11 0 -1 F", "M 12 0 -1 E", "M 13 0 9 b trunc",
    ])
    marks = runner.parse_markers(text, prog)
    assert len(marks) == 12  # the torn line is dropped
    main, worker = runner.thread_results(prog, marks, main_returned=True, timed_out=False)
    assert main.outcome is ThreadOutcome.FINISHED
    assert worker.outcome is ThreadOutcome.EXITED and worker.where == "PyEval_RestoreThread()"
    # the same markers without the worker's end: still inside restore when main returned
    marks2 = tuple(m for m in marks if not (m.thread == "worker" and m.phase == "E"))
    assert runner.thread_results(prog, marks2, True, False)[1].outcome is ThreadOutcome.HUNG
    # and when the process died: cut short
    assert runner.thread_results(prog, marks2, False, False)[1].outcome is None


def test_gdb_gives_the_crashing_thread_and_its_step():
    (run,) = _runs("ensure-after", [(3, 12)], detector="gdb")
    assert run.outcome.kind is RunKind.CRASH and run.outcome.signal == "SIGSEGV"
    late = run.outcome.thread("late")
    assert late.last_step.text == "ensure"
    assert "PyGILState_Ensure" in run.backtraces and "fr_thread_1" in run.backtraces


def test_pymalloc_debug_makes_the_stale_state_fail_at_its_first_use():
    # the debug allocator fills the freed state with 0xdd: the clear itself dies
    (run,) = _runs("clear-after", [(3, 12)], detector="pymalloc-debug")
    assert run.outcome.kind in (RunKind.CRASH, RunKind.ABORT)
    assert run.outcome.thread("worker").last_step.text == "clear_tstate"
