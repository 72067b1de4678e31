"""Exact plans of schedules with threading threads (the starter waits in start(); the child ends)."""

from __future__ import annotations

from finirace import conformance
from finirace.lab.exact import ENDED, GIVES_UP
from finirace.scenario import catalog


def _plan(variant: str, token: str):
    return conformance.project_schedule(catalog.resolve("spawn-during-fini"), variant, token).exact


def _token(variant: str, label: str) -> str:
    """The counterexample of spawn-during-fini that ends in ``label`` under ``variant``."""
    from finirace.explore import check

    return next(cx.schedule for cx in check(catalog.resolve("spawn-during-fini"), variant).counterexamples
                if cx.outcome.label == label)


def test_the_starter_is_held_in_start_while_its_child_runs():
    # helper: ensure, start_thread child (GIL released in self._started.wait()); the child runs to
    # its end (teardown included); main takes the GIL and finalizes; the helper hangs in take_gil
    plan = _plan("legacy36", "v1.a4b5c4a7b3a")
    stops = {}
    for seg in plan.segments:
        if seg.stop is not None:
            stops.setdefault(seg.thread, seg.stop)  # each thread's first place
    assert stops["helper"].label == "acquire_timed.wait" and stops["helper"].arm
    # the child's teardown ran in the model: it is let go past its steps (GIL released), to its end
    assert stops["child"].label == ENDED
    assert "acquire_timed.wait" in plan.labels


def test_a_child_killed_in_its_bootstrap_is_held_where_the_runtime_kills_it():
    # exit: the child exits in take_gil before its C entry (no end marker, no destructor): it is
    # held in PyThread_exit_thread, so main frees its state only after the reads the model has first
    plan = _plan("exit", _token("exit", "clean, helper hung, child exited"))
    child = [s for s in plan.segments if s.thread == "child"]
    assert child and child[-1].stop is not None and child[-1].stop.label == GIVES_UP
    assert "_PyThreadState_Init" in child[-1].runs  # 3.9-3.10: thread_run reads its state first
