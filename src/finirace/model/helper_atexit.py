"""The guard helper's atexit callback (``finirace_at_exit_`` in ``finirace_guard.h``).

``Py_FinalizeEx`` jumps here when ``FiniRace_Setup`` registered the callback in this
runtime (:func:`runs_callback`), before anything is torn down: close the gate; if
guards are held, release the GIL and wait, where the bound may run out at any moment
(the wait step is always enabled: its firing with guards still held *is* the
timeout); mark the interpreter gone; wait (GIL released, no bound) for the threads
inside their entry window; take the GIL back; go on finalizing.  The thread side of
the protocol is :mod:`finirace.model.helper`.

Simplification: the finalizer takes the GIL back in one step (a waiter that is not
finalizing, whose state is alive: no exit check can fire).
"""

from __future__ import annotations

from finirace.model.gil import attach_without_gil, detach
from finirace.model.hashed import evolve
from finirace.model.helper import CLOSED, GONE, OPEN, _h
from finirace.model.program import Ctx, Program, call, instr
from finirace.model.variant import Variant

AFTER_CALLBACK = "_PyRuntimeState_SetFinalizing"  # where Py_FinalizeEx goes on


def runs_callback(c: Ctx) -> bool:
    """``Py_FinalizeEx`` → atexit: is ``finirace_at_exit_`` registered in this runtime?"""
    c.read("helper")
    return c.helper.registered == c.rt.generation and c.helper.phase == OPEN


def _close_gate(c: Ctx) -> None:
    # __atomic_store_n(&phase, CLOSED); if (held > 0) Py_BEGIN_ALLOW_THREADS
    c.read("helper")
    _h(c, phase=CLOSED, finalizer=c.name)
    if c.helper.held == 0:
        c.note = "closes the gate; no guard held"
        c.goto("finirace_at_exit_.gone")
        return
    detach(c)
    c.note = f"closes the gate; waits for {c.helper.held} guard(s), GIL released"


def _drain_held(c: Ctx) -> None:
    # finirace_drain_(&held, deadline): returns at 0, or when the bound ran out
    c.read("helper")
    if c.helper.held == 0:
        c.note = "every guard released"
        return
    _h(c, timed_out=True)
    c.note = f"the bound ran out, {c.helper.held} guard(s) held: warning on stderr"


def _retake(label: str | None):
    def run(c: Ctx) -> None:
        # Py_END_ALLOW_THREADS for the finalizer (not finalizing yet: no exit check fires)
        c.read("gil")
        if not c.gil.created:
            attach_without_gil(c)
        else:
            if c.gil.locked:
                c.wait()
            c.write("gil")
            c.gil = evolve(c.gil, locked=True, holder=c.name, switch_number=c.gil.switch_number + 1)
        c.note = "takes the GIL back"
        if label:
            c.goto(label)
    return run


def _mark_gone(c: Ctx) -> None:
    # __atomic_store_n(&phase, GONE); if (entering > 0) Py_BEGIN_ALLOW_THREADS
    c.read("helper")
    _h(c, phase=GONE)
    if c.helper.entering == 0:
        c.note = "the interpreter is gone for the helper; finalization goes on"
        c.goto(AFTER_CALLBACK)
        return
    detach(c)
    c.note = f"the interpreter is gone; waits for {c.helper.entering} thread(s) in their entry"


def _drain_entering(c: Ctx) -> None:
    c.read("helper")
    if c.helper.entering > 0:
        c.wait()
    c.note = "no thread inside an entry any more"


def callback(v: Variant) -> Program:
    """``finirace_at_exit_``, reached from ``Py_FinalizeEx`` by a jump; ends with one."""
    return call("Py_FinalizeEx", call("atexit_callfuncs", [
        instr("finirace_at_exit_", _close_gate, "finirace_at_exit_"),
        instr("finirace_drain_.held", _drain_held, "finirace_drain_"),
        instr("finirace_at_exit_.retake", _retake(None), "finirace_at_exit_", waits="gil"),
        instr("finirace_at_exit_.gone", _mark_gone, "finirace_at_exit_"),
        instr("finirace_drain_.entering", _drain_entering, "finirace_drain_", waits="entering"),
        instr("finirace_at_exit_.retake2", _retake(AFTER_CALLBACK), "finirace_at_exit_", waits="gil"),
    ]))
