"""finirace's exit guard (``finirace.guard``), as the model runs it.

The guard is an ``atexit`` handler: ``Py_FinalizeEx`` calls it after joining
the non-daemon threads and before ``_PyRuntimeState_SetFinalizing``, so a
scenario writes it as the ``exit_guard`` step just before ``finalize``.  Its
atomic steps, in the order of ``finirace/guard/safepoint.py``:

1. ``PyThreadState_SetAsyncExc`` (``Python/pystate.c``) for every thread
   ``threading`` started (the scenario's ``start_thread`` threads): under
   ``HEAD_LOCK`` it sets ``tstate->async_exc`` and ``_PyEval_SignalAsyncExc``
   asks the eval loop to look; then ``time.sleep`` releases the GIL
   (``Py_BEGIN_ALLOW_THREADS``);
2. the bounded wait: done when every told thread ended (``DONE``) or parked;
   the bound runs out only when no told thread can move any more without the
   guard itself (it is blocked in C for ever, or on something only the
   finalizing thread would give): a C call of any finite length returns
   within the bound, which is the guard's assumption, stated in its docs;
3. ``Py_END_ALLOW_THREADS``: ``take_gil``, then the handler returns.

A told thread meets its exception at its next bytecode boundary, which in a
scenario is its next ``python`` step (``_Py_HandlePending`` /
``eval_frame_handle_pending``: ``tstate->async_exc`` is raised there).  With
``stop`` it unwinds: its remaining steps are skipped and ``thread_run`` ends
it (its state deleted, the GIL released).  With ``park`` it releases the GIL
and blocks for ever (``time.sleep`` with every signal masked): ``hung``, but
never inside the runtime, so finalization has nothing of it to kill.
A thread between two C calls with no bytecode in between (``restore`` then
``save`` in one C function) is not at a boundary: it goes back to C, as in
CPython.
"""

from __future__ import annotations

from finirace.model.gil import detach, drop_gil, take_gil
from finirace.model.program import Ctx, Program, call, instr
from finirace.model.variant import Variant
from finirace.model.world import RUN

STOP, PARK = "stop", "park"


def _told(c: Ctx) -> list[int]:
    return [i for i, t in enumerate(c.threads) if i != c.ti and t.python and t.async_exc is not None]


def _tell(mode: str):
    def run(c: Ctx) -> None:
        # ctypes.pythonapi.PyThreadState_SetAsyncExc(ident, exc): needs the GIL
        if c.me.tstate is None or not c.holds_gil():
            c.crash("PyThreadState_SetAsyncExc")
        c.read("interp")
        told = []
        for i, t in enumerate(c.threads):
            name = c.machine.threads[i]
            if i == c.ti or not t.python or t.status != RUN or t.tstate is None:
                continue
            c.set_thread(name, async_exc=mode)
            told.append(name)
        detach(c)  # time.sleep: Py_BEGIN_ALLOW_THREADS
        exc = "SystemExit" if mode == STOP else "the park exception"
        c.note = (f"{exc} for {', '.join(told)} at the next bytecode boundary; waits, GIL released"
                  if told else "no Python thread to tell; GIL released")
    return run


def _bound_ran_out(c: Ctx, pending: list[int]) -> bool:
    """No pending thread can move without the guard: the wait would last for ever."""
    world = c.world()
    m = c.machine
    n = len(m.threads)
    alive = {j for j in range(n) if j != c.ti and m.ready(world, j)}
    changed = True
    while changed:
        changed = False
        for j in range(n):
            if j in alive or j == c.ti or world.threads[j].status != RUN:
                continue
            if any(p in alive for p in m._providers(world, j)):
                alive.add(j)
                changed = True
    return not any(j in alive for j in pending)


def _wait(c: Ctx) -> None:
    # every object a waiting thread's progress depends on: the wait's outcome reads them all
    c.read("gil", "runtime", "interp", *c.machine.object_names())
    pending = [i for i in _told(c) if c.threads[i].status == RUN]
    if not pending:
        c.note = "every told thread stopped or parked"
        return
    if not _bound_ran_out(c, pending):
        c.wait()
    names = ", ".join(c.machine.threads[i] for i in pending)
    c.note = f"the bound runs out: {names} still in C; named on stderr, finalization goes on"


def _returns(c: Ctx) -> None:
    c.note = "the guard's atexit handler returns"
    c.finish()


def exit_guard(v: Variant, mode: str) -> Program:
    return call("finirace.guard._at_exit", [
        instr("PyThreadState_SetAsyncExc", _tell(mode), "PyThreadState_SetAsyncExc"),
        instr("bring_to_safe_point", _wait, "bring_to_safe_point", waits="exit-guard"),
        *call("PyEval_RestoreThread", take_gil(v)),
        instr("finirace.guard._at_exit", _returns, "finirace.guard._at_exit"),
    ])


def meets_async_exc(c: Ctx) -> bool:
    """At a bytecode boundary (a ``python`` step, GIL held): raise a pending exception.

    ``stop``: the thread unwinds to ``thread_run``'s end; ``park``: it releases
    the GIL and blocks for ever.  True when the step does not run."""
    c.read(f"thread:{c.name}")
    mode = c.me.async_exc  # kept once met: the guard waits for the thread by it
    if mode is None:
        return False
    if mode == STOP:
        c.unwind()
        c.note = "SystemExit at its bytecode boundary: unwinds, finally blocks run, thread_run ends it"
    else:
        drop_gil(c)
        c.hang_thread()
        c.note = "parked for ever by the exit guard at its bytecode boundary, GIL released"
    return True
