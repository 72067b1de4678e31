"""``Py_Initialize`` and ``Py_FinalizeEx`` (``Python/pylifecycle.c``, ``Python/pystate.c``).

Finalization is the writer every race is about.  Its atomic steps, in the order
of the C code, with what the variants change:

1. ``Py_FinalizeEx``: nothing to do when not initialized; needs the caller's
   thread state.  When ``finirace_guard.h`` registered its atexit callback in this
   runtime, the callback runs first (:mod:`finirace.model.helper_atexit`).  PEP 788 (``guards``, PR #149116): at the end of
   ``make_pre_finalization_calls`` a compare-exchange closes the guards
   (``_PyInterpreterGuard_GUARDS_NOT_ALLOWED``) if none is held; otherwise the
   finalizer detaches (GIL released), waits for the last ``PyInterpreterGuard_Close``,
   re-attaches and tries again.  Guards asked for meanwhile are granted;
2. ``_PyRuntimeState_SetFinalizing``: ``_PyRuntime._finalizing = tstate`` and the
   runtime is no longer initialized.  From here a thread that takes the GIL
   gives up (3.8: after taking it; 3.9–3.13: before);
3. 3.9–3.13: ``_PyThreadState_DeleteExcept`` (3.13: ``_PyThreadState_RemoveExcept`` +
   ``_PyThreadState_DeleteList``) frees every other thread state at once (bpo-19466).
   3.14+ (gh-124878): ``_PyThreadState_RemoveExcept`` takes them off the list and
   ``_PyThreadState_SetShuttingDown`` marks each; ``_PyThreadState_DeleteList``
   clears and *decrefs* them: a thread that still holds its state keeps it alive
   until ``_PyThreadState_HangThread``.  Only these states are marked: one made
   later (``PyGILState_Ensure`` during module teardown) is not;
4. ``_PyGILState_Fini``: ``autoInterpreterState = NULL``: ``PyGILState_Ensure``
   now finds no interpreter;
5. the bpo-33608 wrapper proposal: ``ts = NULL`` in every thread's wrapper;
6. ``PyInterpreterState_Delete``: 3.12+ first releases the GIL
   (``_PyEval_ReleaseLock(interp, NULL)``, 3.13+ ``_PyThreadState_Detach(tcur)``),
   then ``zapthreads``: ``tstate_delete_common`` + ``free_threadstate`` on the
   thread states still linked (3.6–3.8 and the 2019 branch: all of them; 3.9+:
   the finalizer's own and any made since step 3), whatever their refcount;
7. ``free_interpreter``: frees the interpreter, except 3.11+, where the main
   interpreter is static (``_PyRuntime._main_interpreter``, bpo-45953).

Sub-interpreters still alive (:mod:`finirace.model.interpreters`): 3.13+ ends
them between 3 and 4 (``finalize_subinterpreters``, a step reached by a jump
from 3 only when there are some, so scenarios without any keep their states);
3.7–3.12 abort in 7 ("remaining subinterpreters"); 3.6 leaves them.

Until 3.11 the finalizing thread never drops the GIL: it stays locked by it
(the GIL is never destroyed: ``finalize_interp_delete``, bpo-9901).
3.6 makes the GIL lazily: when nothing made it (no ``PyGILState_Ensure`` of a
new thread, no threading thread), there is none to keep, and a late
``PyEval_RestoreThread`` neither waits nor checks ``_Py_Finalizing``.
Between 2 and 3 CPython runs nothing that matters here; between 3 and 4 it
runs all of module teardown, which is where a real late thread finds its window.
"""

from __future__ import annotations

from finirace.model import helper_atexit, interpreters
from finirace.model.gil import GIL_CREATED, drop_gil, take_gil
from finirace.model.hashed import evolve
from finirace.model.program import Ctx, Program, call, instr
from finirace.model.pystate import new_threadstate
from finirace.model.refcount import decref_threadstate
from finirace.model.variant import Variant
from finirace.model.world import Gil, Runtime


# -- Py_Initialize --------------------------------------------------------------

def _init_runtime(c: Ctx) -> None:
    c.read("runtime")
    if c.rt.initialized:
        c.note = "already initialized: nothing to do"
        c.finish()
        return
    # _PyRuntime_Initialize → _PyRuntimeState_Init: a fresh runtime (_finalizing = NULL);
    # pyinit_core → PyInterpreterState_New
    c.write("runtime", "interp")
    old = c.rt
    interp = _static_interp(c) if c.variant.static_main_interp else None
    if interp is None:
        interp = c.alloc(STATIC_INTERP if c.variant.static_main_interp else "PyInterpreterState")
    # fields of thread-state blocks (3.14 refcounts, tstate->state) outlive the runtime
    # sub-interpreters a previous Py_FinalizeEx left (3.6) stay on _PyRuntime's list
    c.rt = Runtime(generation=old.generation + 1, interp=interp, main_interp=interp, subs=old.subs,
                   shutting_down=old.shutting_down, refcount_one=old.refcount_one)
    c.note = "new runtime and interpreter" + (
        " (the main interpreter is _PyRuntime._main_interpreter, static)" if c.variant.static_main_interp else "")


# 3.11+ (bpo-45953): the main interpreter is a field of _PyRuntime, never freed; the model
# gives it one block that stays alive, reused by every Py_Initialize
STATIC_INTERP = "PyInterpreterState (static, in _PyRuntime)"


def _static_interp(c: Ctx) -> int | None:
    c.read("heap")
    return next((i for i, b in enumerate(c.heap) if b.name == STATIC_INTERP), None)


def _init_tstate(c: Ctx) -> None:
    # pyinit_core → PyThreadState_New(interp); PyThreadState_Swap(tstate);
    # _PyEval_FiniThreads (destroys a previous runtime's GIL); 3.7+: PyEval_InitThreads
    # (create_gil + take_gil); _PyGILState_Init
    block = new_threadstate(c, c.name, c.rt.interp)
    c.write("runtime", "gil", GIL_CREATED)  # makes the GIL, or (3.6) unmakes it
    c.rt = evolve(c.rt, initialized=True)
    if c.variant.lazy_gil:
        # 3.6 _Py_InitializeEx_Private: _PyEval_FiniThreads() and no PyEval_InitThreads():
        # no GIL until PyGILState_Ensure or threading starts a thread
        c.gil = Gil(holder=c.name, switch_number=c.gil.switch_number, created=False)
        c.note = "main thread state made and current; no GIL (3.6 makes it on first use)"
    else:
        c.gil = Gil(locked=True, holder=c.name, switch_number=c.gil.switch_number + 1)
        c.note = "main thread state made; holds a new GIL"
    if c.variant.wrapper:
        c.write(f"wrapper:{c.name}")
    c.set_me(tstate=block, counter=1, ensured_unlocked=(), wrapper=block if c.variant.wrapper else None)
    c.finish()


def init(v: Variant) -> Program:
    return call("Py_InitializeEx", [
        instr("Py_InitializeEx", _init_runtime, "PyInterpreterState_New"),
        *call("pyinit_core", [instr("new_threadstate", _init_tstate, "new_threadstate")]),
    ])


# -- Py_FinalizeEx ----------------------------------------------------------------

def _start(c: Ctx) -> None:
    c.read("runtime")
    if not c.rt.initialized:
        c.note = "not initialized: returns at once"
        c.finish()
        return
    if not c.gil.created:
        # 3.6 without a GIL: tstate = PyThreadState_GET(), whichever thread swapped it in
        c.read("gil")
        if c.gil.holder is None:
            c.crash("Py_FinalizeEx")  # tstate->interp on NULL
    elif c.me.tstate is None or not c.holds_gil():
        c.crash("Py_FinalizeEx")  # tstate = _PyThreadState_GET() is NULL
    if not c.variant.guards and helper_atexit.runs_callback(c):
        # call_py_exitfuncs → atexit_callfuncs: finirace_guard.h's callback, runtime whole
        c.note = "atexit callbacks: finirace_at_exit_"
        c.goto("finirace_at_exit_")
        return
    if c.variant.guards:
        c.goto("make_pre_finalization_calls")
    else:
        c.goto("_PyRuntimeState_SetFinalizing")


def _close_guards(c: Ctx) -> None:
    # PEP 788 (PR #149116), end of one make_pre_finalization_calls iteration (after
    # wait_for_thread_shutdown, pending calls and atexit, none of which the model has):
    #   if (_Py_atomic_compare_exchange_uintptr(&interp->finalization_guards, &guards_expected,
    #                                           _PyInterpreterGuard_GUARDS_NOT_ALLOWED) == 1) break;
    #   // Temporarily let other threads execute
    #   _PyThreadState_Detach(tstate); ... (parks on finalization_guards.done) ... _PyThreadState_Attach(tstate);
    c.read("interp")
    c.write("interp")
    if c.rt.guards == 0:
        c.rt = evolve(c.rt, guards_closed=True)
        c.note = "no interpreter guard held: guards closed (GUARDS_NOT_ALLOWED)"
        c.goto("_PyRuntimeState_SetFinalizing")
        return
    drop_gil(c)
    c.note = f"{c.rt.guards} interpreter guard(s) held: _PyThreadState_Detach (GIL released), waits"
    c.goto("make_pre_finalization_calls.wait")


def _wait_guards(c: Ctx) -> None:
    # parked on interp->finalization_guards.done, notified by the last PyInterpreterGuard_Close;
    # new guards are still granted meanwhile: the compare-exchange is tried again after
    c.read("interp")
    if c.rt.guards:
        c.wait()
    c.note = "no guard held any more (finalization_guards.done): _PyThreadState_Attach"


def _set_finalizing(c: Ctx) -> None:
    # _PyRuntimeState_SetFinalizing(runtime, tstate); runtime->initialized = 0
    c.write("runtime")
    who, fin = c.name, c.me.tstate
    if not c.gil.created:
        # 3.6 without a GIL: _Py_Finalizing = the current state, maybe another thread's
        c.read("gil")
        who = c.gil.holder  # never None: Py_FinalizeEx crashed on it
        fin = c.threads[c.machine.threads.index(who)].tstate
    c.rt = evolve(c.rt, finalizing=fin, initialized=False)
    c.note = f"_PyRuntime._finalizing = {who}'s tstate"


def _delete_except(c: Ctx) -> None:
    # _PyThreadState_DeleteExcept(tstate): unlink all others under HEAD_LOCK, clear and free them
    c.read("interp")
    c.write("interp")
    mine = c.me.tstate
    others = [t for t in c.rt.tstates if t != mine]
    for t in others:
        c.free(t)
    c.rt = evolve(c.rt, tstates=(mine,))
    c.note = "frees " + (", ".join(c.block_name(t) for t in others) or "no other thread state")
    interpreters.then_finalize_subinterpreters(c)


def _remove_except(c: Ctx) -> None:
    # 3.14+ _Py_Finalize: list = _PyThreadState_RemoveExcept(tstate) (unlink all others under
    # HEAD_LOCK, free nothing); for (p = list; p; p = p->next) _PyThreadState_SetShuttingDown(p);
    c.read("interp")
    c.write("interp")
    mine = c.me.tstate
    others = tuple(t for t in c.rt.tstates if t != mine)
    for t in others:
        c.store(t, "tstate->state", 4)  # _Py_atomic_store_int(&tstate->state, _Py_THREAD_SHUTTING_DOWN)
    c.rt = evolve(c.rt, tstates=(mine,), removed=others,
                   shutting_down=tuple(sorted(set(c.rt.shutting_down) | set(others))))
    c.note = ("takes " + ", ".join(c.block_name(t) for t in others) + " off the list, marked _Py_THREAD_SHUTTING_DOWN"
              if others else "no other thread state")


def _delete_list(c: Ctx) -> None:
    # _PyThreadState_DeleteList(list, /*is_after_fork=*/0): PyThreadState_Clear(p);
    # decref_threadstate(p): "they may still be referenced by an OS thread"
    c.read("interp")
    c.write("interp")
    notes = []
    for t in c.rt.removed:
        name = c.block_name(t)
        c.store(t, "tstate->dict")  # PyThreadState_Clear
        freed = decref_threadstate(c, t)
        why = "freed: its thread already dropped its reference" if freed else "its thread still holds a reference"
        notes.append(f"{name} ({why})")
    c.rt = evolve(c.rt, removed=())
    c.note = "clears and decrefs " + (", ".join(notes) if notes else "nothing")
    interpreters.then_finalize_subinterpreters(c)


def _current_36(c: Ctx) -> str | None:
    """3.6: the thread whose state is _PyThreadState_Current (the gil record holds it).

    Without a GIL, the last thread to swap its state in; with one, its holder once
    take_gil returned: PyEval_RestoreThread and PyEval_AcquireThread swap the state
    in after take_gil (the model's ``take_gil.after``, which writes the gil record)."""
    c.read("gil")
    if not c.gil.created:
        return c.gil.holder
    if not c.gil.locked or c.gil.holder is None:
        return None
    ins, _ = c.machine.current(c.world(), c.machine.threads.index(c.gil.holder))
    return None if ins.label == "take_gil.after" else c.gil.holder


def _gilstate_fini(c: Ctx) -> None:
    if c.variant.lazy_gil and not c.holds_gil():
        # 3.6, a finalizer that holds no GIL: between `_Py_Finalizing = tstate` and here,
        # flush_std_files and PyImport_Cleanup read PyThreadState_GET()->interp (sys.stdout
        # through _PySys_GetObjectId), the one process-wide _PyThreadState_Current, which
        # another thread's PyEval_SaveThread may have set to NULL meanwhile
        if _current_36(c) is None:
            c.crash("flush_std_files")  # _PySys_GetObjectId: PyThreadState_GET()->interp on NULL
    # _PyGILState_Fini: gilstate->autoInterpreterState = NULL (the interp pointer is kept locally)
    c.write("runtime")
    c.set_me(scratch=c.rt.interp)
    c.rt = evolve(c.rt, interp=None)
    c.note = "autoInterpreterState = NULL"
    if not c.gil.created:
        # then PyThreadState_Swap(NULL); with a GIL it stays locked by the finalizer, without
        # one (3.6, never made) nothing is left attached
        c.read("gil")
        c.write("gil")
        c.gil = evolve(c.gil, holder=None)
        c.note += "; PyThreadState_Swap(NULL), and there is no GIL"


def _null_wrappers(c: Ctx) -> None:
    # bpo-33608 proposal: for each tstate: tstate->wrapper->ts = NULL
    c.read("interp")
    linked = set(c.rt.tstates)
    for i, t in enumerate(c.threads):
        if t.wrapper is not None and t.wrapper in linked:
            c.set_thread(c.machine.threads[i], wrapper=None)
            c.write(f"wrapper:{c.machine.threads[i]}")
    c.note = "nulls every wrapper's ts"


def _detach(c: Ctx) -> None:
    # 3.12+ PyInterpreterState_Delete: if (tcur != NULL && interp == tcur->interp)
    #   3.12: current_fast_clear(runtime); tstate_deactivate(tcur); _PyEval_ReleaseLock(interp, NULL);
    #   3.13+: _PyThreadState_Detach(tcur);          ... then zapthreads(interp)
    drop_gil(c)
    c.note = "unsets the current thread state and releases the GIL, before zapthreads"


def _zapthreads(c: Ctx) -> None:
    # PyInterpreterState_Delete → zapthreads: tstate_delete_common on every linked state
    c.read("interp")
    c.write("interp")
    freed = list(c.rt.tstates)
    for t in freed:
        c.free(t)
    c.rt = evolve(c.rt, tstates=())
    c.set_me(tstate=None, counter=0)
    c.note = "frees " + ", ".join(c.block_name(t) for t in freed)


def _delete_interp(c: Ctx) -> None:
    # PyInterpreterState_Delete → free_interpreter(interp): PyMem_RawFree(interp), but 3.11+
    # "The main interpreter is statically allocated so should not be freed."
    # 3.7–3.12, after unlinking the main interpreter: if (interpreters->head != NULL)
    #   Py_FatalError("remaining subinterpreters")
    interpreters.remaining_fatal(c)
    interp = c.me.scratch
    static = c.variant.static_main_interp
    if interp is not None and not static:
        c.free(interp)
    c.set_me(scratch=None)
    c.read("gil")
    if not c.gil.created:
        gil = "no GIL was ever made"
    elif c.gil.locked and c.gil.holder == c.name:
        gil = "the GIL stays locked by the finalizer"
    else:
        gil = "the GIL was released"
    # then call_ll_exitfuncs and _PyRuntime_Finalize → _PyRuntimeState_Fini (up to 3.12 it frees
    # the runtime's locks, 3.13 deletes the gilstate TSS key): folded into this step
    c.write("runtime")
    c.rt = evolve(c.rt, finalized=True)
    c.note = ("free_interpreter: the main interpreter is static, nothing freed; " if static
              else "frees the PyInterpreterState; ") + gil + "; _PyRuntime_Finalize"
    c.finish()


def finalize(v: Variant) -> Program:
    steps = [instr("Py_FinalizeEx", _start, "Py_FinalizeEx")]
    if v.guards:
        # make_pre_finalization_calls: wait (detached) for the guards, re-attach, try again
        # (Py_FinalizeEx's first step goes to the compare-exchange; it comes back to the wait)
        steps.extend(call("make_pre_finalization_calls", [
            instr("make_pre_finalization_calls.wait", _wait_guards, "_PyEvent_Wait", waits="guards"),
            *call("_PyThreadState_Attach", take_gil(v)),
        ]))
        steps.append(instr("make_pre_finalization_calls", _close_guards, "make_pre_finalization_calls"))
    steps.append(instr("_PyRuntimeState_SetFinalizing", _set_finalizing, "_PyRuntimeState_SetFinalizing"))
    if v.tstate_refcounts:
        steps.append(instr("_PyThreadState_RemoveExcept", _remove_except, "_PyThreadState_RemoveExcept"))
        steps.append(instr("_PyThreadState_DeleteList", _delete_list, "_PyThreadState_DeleteList"))
    elif v.frees_others_early:
        steps.append(instr("_PyThreadState_DeleteExcept", _delete_except, "_PyThreadState_DeleteExcept"))
    steps.append(instr("_PyGILState_Fini", _gilstate_fini, "_PyGILState_Fini"))
    delete = []
    if v.releases_gil_before_zapthreads:
        delete.append(instr("_PyThreadState_Detach", _detach, "_PyThreadState_Detach"))
    if v.wrapper:
        delete.append(instr("zapthreads.wrappers", _null_wrappers, "zapthreads"))
    delete.append(instr("zapthreads", _zapthreads, "zapthreads"))
    steps.extend(call("PyInterpreterState_Delete", delete))
    steps.append(instr("PyInterpreterState_Delete", _delete_interp, "PyInterpreterState_Delete"))
    if not v.guards:
        steps.extend(helper_atexit.callback(v))  # reached only by a jump from Py_FinalizeEx
    # 3.13+: reached only by a jump from the thread-state teardown when sub-interpreters are left
    steps.extend(interpreters.finalize_subinterpreters(v))
    return _under_finalize(steps)


def _under_finalize(steps) -> Program:
    """Frames of every step end in Py_FinalizeEx (the first one already is it)."""
    out = []
    for s in steps:
        out.append(s if s.frames[-1] == "Py_FinalizeEx" else call("Py_FinalizeEx", [s])[0])
    return tuple(out)
