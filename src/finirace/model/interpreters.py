"""Sub-interpreters: ``Py_NewInterpreter``, ``Py_EndInterpreter``, a thread state made in one,
and what ``Py_FinalizeEx`` does with those still alive (``Python/pylifecycle.c``, ``Python/pystate.c``).

Why they matter here: a sub-interpreter has its own list of thread states, and
``Py_EndInterpreter`` insists that the state ending it is the last one left
(``if (tstate != interp->tstate_head || tstate->next != NULL)
Py_FatalError("not the last thread")``, the same check from 3.6 to 3.14): a
worker still attached to the sub-interpreter, even one parked outside Python
with its state saved, makes the end a fatal error.  Every thread state belongs
to one interpreter (:class:`~finirace.model.world.Interp` holds a sub's list,
:class:`~finirace.model.world.Runtime` the main one's); the GIL is the main
interpreter's, shared (``Py_NewInterpreter`` makes a legacy sub-interpreter,
never one with its own GIL).

What changes with the era:

* ``new_interpreter``: up to 3.11 ``PyThreadState_Swap(tstate)`` makes the new
  state current and the caller keeps the GIL; 3.12+ (``swap_takes_gil``)
  detaches the caller's state (``_PyThreadState_Detach``: the GIL is released)
  and ``init_interp_create_gil`` takes the shared GIL for the new state, a
  ``take_gil`` with its finalization checks.  Before ``Py_Initialize`` or after
  ``Py_FinalizeEx``: a fatal error (3.6 "Py_NewInterpreter: call Py_Initialize
  first"; 3.7+ "new_interpreter: Py_Initialize must be called first", through
  ``Py_ExitStatusException`` from 3.8 on, which exits with status 1);
* ``Py_EndInterpreter``: the two checks, then (after module teardown, where
  other threads run) ``PyInterpreterState_Delete``: 3.12+ first releases the
  GIL (``releases_gil_before_zapthreads``), ``zapthreads`` frees the state,
  the interpreter is freed.  The program then swaps the state ``new_interp``
  replaced back in (``PyThreadState_Swap``), which 3.12+ does by taking the GIL;
* ``Py_FinalizeEx`` with sub-interpreters alive (``subinterpreters_at_exit``):
  3.6 leaves them ("leak": ``PyInterpreterState_Delete`` of the main
  interpreter only unlinks it; a thread attached to a sub-interpreter goes on
  running Python after ``Py_FinalizeEx`` returned); 3.7–3.12 ("fatal"):
  ``PyInterpreterState_Delete`` of the main interpreter, after ``zapthreads``,
  ``Py_FatalError("remaining subinterpreters")``; 3.13+ ("end"):
  ``finalize_subinterpreters``, after module teardown: for each one it deletes
  the head thread state (whoever's it is) and ends the interpreter with a fresh
  one, so a second state still linked is "not the last thread" there too.

Simplifications: ``finalize_subinterpreters`` is one atomic step, with the
finalizer's GIL kept across its detach and re-attach (any other thread that
took the GIL there would give up: the runtime is finalizing); the fresh state
it makes is not a heap block.  ``interp->finalizing`` (3.12+, set by
``Py_EndInterpreter``) is not modelled: the state checks follow in the same
step and abort when any other state is linked.  ``PyGILState_*`` calls are not
told apart by interpreter (the gilstate API does not support sub-interpreters).
"""

from __future__ import annotations

from finirace.model.gil import drop_gil, take_gil
from finirace.model.hashed import evolve
from finirace.model.program import Ctx, Program, call, instr
from finirace.model.variant import Variant
from finirace.model.world import Interp

SUB_INTERP = "PyInterpreterState (sub-interpreter of {})"


# -- which interpreter a thread state belongs to ------------------------------------

def sub_of(c: Ctx, tstate: int | None) -> Interp | None:
    """The sub-interpreter ``tstate`` is linked to, or None (the main interpreter's, or unlinked)."""
    if tstate is None:
        return None
    return next((s for s in c.rt.subs if tstate in s.tstates), None)


def _sub_at(c: Ctx, block: int) -> Interp | None:
    return next((s for s in c.rt.subs if s.block == block), None)


def _with_sub(c: Ctx, block: int, new: Interp | None) -> None:
    """Replace (or, with None, drop) the sub-interpreter ``block`` in the runtime's list."""
    subs = tuple(s if s.block != block else new for s in c.rt.subs)
    c.rt = evolve(c.rt, subs=tuple(s for s in subs if s is not None))


def link(c: Ctx, interp: int | None, tstate: int) -> None:
    """``new_threadstate``: ``HEAD_LOCK``; link ``tstate`` at the head of its interpreter's list."""
    c.read("interp")
    c.write("interp")
    sub = _sub_at(c, interp) if interp is not None else None
    if sub is not None:
        _with_sub(c, sub.block, evolve(sub, tstates=(tstate,) + sub.tstates))
    else:
        c.rt = evolve(c.rt, tstates=c.rt.tstates + (tstate,))


def unlink(c: Ctx, tstate: int) -> None:
    """``tstate_delete_common``: ``HEAD_LOCK``; unlink ``tstate`` from whichever list holds it."""
    c.read("interp")
    c.write("interp")
    sub = sub_of(c, tstate)
    if sub is not None:
        _with_sub(c, sub.block, evolve(sub, tstates=tuple(t for t in sub.tstates if t != tstate)))
    else:
        c.rt = evolve(c.rt, tstates=tuple(t for t in c.rt.tstates if t != tstate))


def interp_alive(c: Ctx, tstate: int | None) -> bool:
    """Whether the interpreter of an attached state is still there for Python code to run in:
    a sub-interpreter is until it is ended; the main one until ``_PyGILState_Fini``."""
    c.read("runtime")
    if sub_of(c, tstate) is not None:
        return True
    return c.rt.interp is not None


def interp_for_new_thread(c: Ctx) -> int | None:
    """The interpreter a thread started from this one gets (``tstate->interp``)."""
    sub = sub_of(c, c.me.tstate)
    return sub.block if sub is not None else c.rt.interp


# -- Py_NewInterpreter ------------------------------------------------------------------

def _current(c: Ctx) -> int | None:
    """``_PyThreadState_GET()`` for this thread: its state while attached, else NULL."""
    return c.me.tstate if c.me.tstate is not None and c.holds_gil() else None


def _new_interpreter(c: Ctx) -> None:
    # Py_NewInterpreter → new_interpreter: if (!runtime->initialized) error "Py_Initialize must be
    # called first" (3.6: Py_FatalError("Py_NewInterpreter: call Py_Initialize first"))
    from finirace.model.pystate import new_threadstate  # pystate links states through this module

    c.read("runtime")
    if not c.rt.initialized:
        c.abort("Fatal Python error: " + c.variant.new_interp_uninitialized)
    # interp = PyInterpreterState_New(): linked at the head of _PyRuntime.interpreters
    interp = c.alloc(SUB_INTERP.format(c.name))
    c.write("runtime", f"sub:{c.name}")
    c.rt = evolve(c.rt, subs=(Interp(interp),) + c.rt.subs)
    save = _current(c)
    if c.variant.swap_takes_gil and save is not None:
        # 3.12+: if (save_tstate != NULL) _PyThreadState_Detach(save_tstate)
        drop_gil(c)
    # tstate = PyThreadState_New(interp) (3.12+: _PyThreadState_New, bound later)
    block = new_threadstate(c, c.name, interp)
    c.set_me(tstate=block, sub=interp, outer=save, wrapper=block if c.variant.wrapper else None)
    if c.variant.wrapper:
        c.write(f"wrapper:{c.name}")
    if c.variant.swap_takes_gil:
        c.note = "new sub-interpreter and thread state; the caller's state detached (GIL released)"
        return  # init_interp_create_gil → take_gil for the new state (the next steps)
    # up to 3.11: save_tstate = PyThreadState_Swap(tstate): current, the GIL stays where it is
    c.read("gil")
    if not c.gil.created:
        c.write("gil")
        c.gil = evolve(c.gil, holder=c.name)  # 3.6 without a GIL: _PyThreadState_Current
    c.note = "new sub-interpreter; PyThreadState_Swap to its new thread state"
    c.finish()


def new_interp(v: Variant) -> Program:
    """The ``new_interp`` step: ``Py_NewInterpreter()``."""
    steps = [instr("new_interpreter", _new_interpreter, "new_interpreter")]
    if v.swap_takes_gil:
        steps.extend(call("init_interp_create_gil", take_gil(v)))
    return call("Py_NewInterpreter", steps)


# -- Py_EndInterpreter --------------------------------------------------------------------

def _end_checks(c: Ctx) -> None:
    # Py_EndInterpreter(tstate): PyInterpreterState *interp = tstate->interp;
    ts = c.me.tstate
    if ts is None:
        c.crash("Py_EndInterpreter")  # tstate->interp on NULL
    c.load(ts, "tstate->interp")
    # if (tstate != _PyThreadState_GET()) Py_FatalError("thread is not current")
    if not c.holds_gil():
        c.abort("Fatal Python error: Py_EndInterpreter: thread is not current")
    c.read("interp")
    sub = sub_of(c, ts)
    if sub is None:
        # the state is the main interpreter's: ending the main interpreter this way is outside the model
        c.crash("Py_EndInterpreter")
    # (wait_for_thread_shutdown, atexit callbacks: nothing of the scenario's)
    # if (tstate != interp->tstate_head || tstate->next != NULL) Py_FatalError("not the last thread")
    if sub.tstates != (ts,):
        c.note = f"{len(sub.tstates) - 1} other thread state(s) in the sub-interpreter"
        c.abort("Fatal Python error: Py_EndInterpreter: not the last thread")
    c.note = "the last thread state of its interpreter: module teardown"


def _end_delete(c: Ctx) -> None:
    # finalize_interp_clear, then (≤3.11 PyThreadState_Swap(NULL);) PyInterpreterState_Delete(interp):
    #   3.12+: if (tcur != NULL && interp == tcur->interp) _PyThreadState_Detach(tcur) (GIL released)
    #   zapthreads(interp); ... free_interpreter(interp)
    ts = c.me.tstate
    sub = sub_of(c, ts)
    if sub is None:  # another thread's end, or finalization, freed it meanwhile: not reached in C
        c.load(ts, "tstate->interp")
        c.crash("PyInterpreterState_Delete")
    c.read("gil")
    if c.variant.releases_gil_before_zapthreads:
        drop_gil(c)
    elif not c.gil.created:
        c.write("gil")
        c.gil = evolve(c.gil, holder=None)  # 3.6 without a GIL: PyThreadState_Swap(NULL)
    c.read("interp")
    c.write("interp", "runtime")
    for t in sub.tstates:
        c.free(t)
    _with_sub(c, sub.block, None)
    c.free(sub.block)
    outer = c.me.outer
    c.set_me(tstate=outer, outer=None, wrapper=outer if c.variant.wrapper else None)
    if c.variant.wrapper:
        c.write(f"wrapper:{c.name}")
    c.note = "zapthreads and free_interpreter: the sub-interpreter and its state are freed"
    if c.variant.swap_takes_gil:
        if outer is None:
            c.finish()
        else:
            c.note += "; PyThreadState_Swap(outer) takes the GIL"
        return
    # ≤3.11 PyThreadState_Swap(outer): current again, the GIL never left this thread
    if not c.gil.created and outer is not None:
        c.gil = evolve(c.gil, holder=c.name)
    c.note += "; PyThreadState_Swap back to the state new_interp replaced"
    c.finish()


def end_interp(v: Variant) -> Program:
    """The ``end_interp`` step: ``Py_EndInterpreter(ts)``, then ``PyThreadState_Swap(outer)``."""
    steps = call("Py_EndInterpreter", [
        instr("Py_EndInterpreter", _end_checks, "Py_EndInterpreter"),
        *call("finalize_interp_delete", [instr("PyInterpreterState_Delete", _end_delete, "PyInterpreterState_Delete")]),
    ])
    if v.swap_takes_gil:
        # 3.12+ PyThreadState_Swap(newts) → _PyEval_AcquireLock(newts) (3.13+ _PyThreadState_Attach)
        steps += call("PyThreadState_Swap", take_gil(v))
    return steps


# -- PyThreadState_New in another thread's sub-interpreter --------------------------------

def _new_tstate_in(c: Ctx) -> None:
    # PyThreadState_New(fr_sub[T]): the interpreter T's Py_NewInterpreter made (NULL if not yet)
    from finirace.model.pystate import new_threadstate

    maker = c.step.arg
    c.read(f"sub:{maker}")
    interp = c.threads[c.machine.threads.index(maker)].sub
    block = new_threadstate(c, c.name, interp)
    c.set_me(tstate=block, wrapper=block if c.variant.wrapper else None)
    if c.variant.wrapper:
        c.write(f"wrapper:{c.name}")
    c.note = f"allocates a PyThreadState in {maker}'s sub-interpreter"
    c.finish()


def new_tstate_in(v: Variant) -> Program:
    """The ``new_tstate_in T`` step: ``PyThreadState_New(interp)`` with T's sub-interpreter."""
    return call("PyThreadState_New", [instr("new_threadstate", _new_tstate_in, "new_threadstate")])


# -- Py_FinalizeEx with sub-interpreters alive -------------------------------------------

def remaining_fatal(c: Ctx) -> None:
    """3.7–3.12 ``PyInterpreterState_Delete`` of the main interpreter, after ``zapthreads``:
    ``if (interpreters->head != NULL) Py_FatalError("remaining subinterpreters")``."""
    if c.variant.subinterpreters_at_exit != "fatal":
        return
    c.read("runtime")
    if c.rt.subs:
        c.note = f"{len(c.rt.subs)} sub-interpreter(s) still alive"
        c.abort("Fatal Python error: PyInterpreterState_Delete: remaining subinterpreters")


def _finalize_subinterpreters(c: Ctx) -> None:
    # 3.13+ finalize_subinterpreters(): PyErr_WarnEx(RuntimeWarning, "remaining subinterpreters; ...");
    # _PyThreadState_Detach(final_tstate); for each interp: tstate = interp->threads.head; if any:
    # _PyThreadState_Attach, PyThreadState_Clear, _PyThreadState_Detach, PyThreadState_Delete;
    # tstate = _PyThreadState_NewBound(interp); _PyThreadState_Attach; Py_EndInterpreter(tstate);
    # then _PyThreadState_Attach(final_tstate)
    c.read("runtime", "interp")
    c.write("runtime", "interp")
    ended = 0
    for sub in c.rt.subs:
        rest = sub.tstates
        if rest:
            head, rest = rest[0], rest[1:]
            c.store(head, "tstate->dict")  # PyThreadState_Clear
            c.free(head)  # PyThreadState_Delete → tstate_delete_common, free_threadstate
            _with_sub(c, sub.block, evolve(sub, tstates=rest))
        if rest:
            # Py_EndInterpreter(fresh): tstate != interp->threads.head || tstate->next != NULL
            c.note = "deletes a sub-interpreter's head thread state; another one is still linked"
            c.abort("Fatal Python error: Py_EndInterpreter: not the last thread")
        _with_sub(c, sub.block, None)
        c.free(sub.block)
        ended += 1
    c.note = f"RuntimeWarning: remaining subinterpreters; ends {ended} (their thread states freed)"


def then_finalize_subinterpreters(c: Ctx) -> None:
    """At the end of ``Py_FinalizeEx``'s thread-state teardown: on to ``finalize_subinterpreters``
    when it has work (3.13+, sub-interpreters left), else on as before.  Taken only when
    needed, so that a scenario without sub-interpreters keeps its states and schedules."""
    if c.variant.subinterpreters_at_exit == "end" and c.rt.subs:  # the teardown step read "interp"
        c.goto("finalize_subinterpreters")


def _finalize_subinterpreters_then(c: Ctx) -> None:
    _finalize_subinterpreters(c)
    c.goto("_PyGILState_Fini")  # then finalize_interp_clear → _PyGILState_Fini


def finalize_subinterpreters(v: Variant) -> Program:
    """3.13+: the ``finalize_subinterpreters`` step of ``Py_FinalizeEx`` (empty before), placed
    after the program's other steps and reached by :func:`then_finalize_subinterpreters`."""
    if v.subinterpreters_at_exit != "end":
        return ()
    return (instr("finalize_subinterpreters", _finalize_subinterpreters_then, "finalize_subinterpreters"),)
