"""``Py_Initialize`` and ``Py_FinalizeEx`` (``Python/pylifecycle.c``, ``Python/pystate.c``).

Finalization is the writer every race is about.  Its atomic steps, in the order
of the C code, with what the variants change:

1. ``Py_FinalizeEx``: nothing to do when not initialized; needs the caller's
   thread state.  PEP 788 (``guards``): no new guard from now on, and while
   guards are held the GIL is dropped and finalization waits for the last one
   to be closed, then takes the GIL back (as ``wait_for_thread_shutdown`` does
   for threading's threads);
2. ``_PyRuntimeState_SetFinalizing``: ``_PyRuntime._finalizing = tstate`` and the
   runtime is no longer initialized.  From here a thread that takes the GIL
   gives up (3.8: after taking it; 3.9+: before);
3. 3.9+ only: ``_PyThreadState_DeleteExcept`` frees every other thread state at
   once (bpo-19466), so that daemon threads' frames are cleared early;
4. ``_PyGILState_Fini``: ``autoInterpreterState = NULL``: ``PyGILState_Ensure``
   now finds no interpreter;
5. the bpo-33608 wrapper proposal: ``ts = NULL`` in every thread's wrapper;
6. ``PyInterpreterState_Delete`` → ``zapthreads``: ``tstate_delete_common`` frees
   the thread states still linked (3.6–3.8 and the 2019 branch: all of them;
   3.9+: the finalizer's own and any made since step 3);
7. ``PyInterpreterState_Delete`` frees the interpreter.

The finalizing thread never drops the GIL afterwards: it stays locked by it.
3.6 makes the GIL lazily: when nothing made it (no ``PyGILState_Ensure`` of a
new thread, no threading thread), there is none to keep, and a late
``PyEval_RestoreThread`` neither waits nor checks ``_Py_Finalizing``.
Between 2 and 3 CPython runs nothing that matters here; between 3 and 4 it
runs all of module teardown, which is where a real late thread finds its window.
"""

from __future__ import annotations

from dataclasses import replace

from finirace.model.gil import drop_gil, take_gil
from finirace.model.program import Ctx, Program, call, instr
from finirace.model.pystate import new_threadstate
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
    interp = c.alloc("PyInterpreterState")
    c.rt = Runtime(generation=c.rt.generation + 1, interp=interp)
    c.note = "new runtime and interpreter"


def _init_tstate(c: Ctx) -> None:
    # pyinit_core → PyThreadState_New(interp); PyThreadState_Swap(tstate);
    # _PyEval_FiniThreads (destroys a previous runtime's GIL); 3.7+: PyEval_InitThreads
    # (create_gil + take_gil); _PyGILState_Init
    block = new_threadstate(c, c.name, c.rt.interp)
    c.write("runtime", "gil")
    c.rt = replace(c.rt, initialized=True)
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
    if not c.variant.guards:
        c.goto("_PyRuntimeState_SetFinalizing")
        return
    # PEP 788: no guard may be taken from now on; wait for the ones held
    c.write("interp")
    c.rt = replace(c.rt, guards_closed=True)
    if c.rt.guards == 0:
        c.note = "no interpreter guard held"
        c.goto("_PyRuntimeState_SetFinalizing")
        return
    drop_gil(c)
    c.note = f"waits for {c.rt.guards} interpreter guard(s), GIL released"


def _wait_guards(c: Ctx) -> None:
    c.read("interp")
    if c.rt.guards:
        c.wait()
    c.note = "every guard closed"


def _set_finalizing(c: Ctx) -> None:
    # _PyRuntimeState_SetFinalizing(runtime, tstate); runtime->initialized = 0
    c.write("runtime")
    who, fin = c.name, c.me.tstate
    if not c.gil.created:
        # 3.6 without a GIL: _Py_Finalizing = the current state, maybe another thread's
        c.read("gil")
        who = c.gil.holder  # never None: Py_FinalizeEx crashed on it
        fin = c.threads[c.machine.threads.index(who)].tstate
    c.rt = replace(c.rt, finalizing=fin, initialized=False)
    c.note = f"_PyRuntime._finalizing = {who}'s tstate"


def _delete_except(c: Ctx) -> None:
    # _PyThreadState_DeleteExcept(tstate): unlink all others under HEAD_LOCK, clear and free them
    c.read("interp")
    c.write("interp")
    mine = c.me.tstate
    others = [t for t in c.rt.tstates if t != mine]
    for t in others:
        c.free(t)
    c.rt = replace(c.rt, tstates=(mine,))
    c.note = "frees " + (", ".join(c.block_name(t) for t in others) or "no other thread state")


def _gilstate_fini(c: Ctx) -> None:
    # _PyGILState_Fini: gilstate->autoInterpreterState = NULL (the interp pointer is kept locally)
    c.write("runtime")
    c.set_me(scratch=c.rt.interp)
    c.rt = replace(c.rt, interp=None)
    c.note = "autoInterpreterState = NULL"
    if not c.gil.created:
        # then PyThreadState_Swap(NULL); with a GIL it stays locked by the finalizer, without
        # one (3.6, never made) nothing is left attached
        c.read("gil")
        c.write("gil")
        c.gil = replace(c.gil, holder=None)
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


def _zapthreads(c: Ctx) -> None:
    # PyInterpreterState_Delete → zapthreads: tstate_delete_common on every linked state
    c.read("interp")
    c.write("interp")
    freed = list(c.rt.tstates)
    for t in freed:
        c.free(t)
    c.rt = replace(c.rt, tstates=())
    c.set_me(tstate=None, counter=0)
    c.note = "frees " + ", ".join(c.block_name(t) for t in freed)


def _delete_interp(c: Ctx) -> None:
    # PyInterpreterState_Delete: PyMem_RawFree(interp)
    interp = c.me.scratch
    if interp is not None:
        c.free(interp)
    c.set_me(scratch=None)
    c.note = "frees the PyInterpreterState; " + (
        "the GIL stays locked by the finalizer" if c.gil.created else "no GIL was ever made")
    c.finish()


def finalize(v: Variant) -> Program:
    steps = [instr("Py_FinalizeEx", _start, "Py_FinalizeEx")]
    if v.guards:
        steps.append(instr("Py_FinalizeEx.guards", _wait_guards, "Py_FinalizeEx", waits="guards"))
        steps.extend(take_gil(v))
    steps.append(instr("_PyRuntimeState_SetFinalizing", _set_finalizing, "_PyRuntimeState_SetFinalizing"))
    if v.frees_others_early:
        steps.append(instr("_PyThreadState_DeleteExcept", _delete_except, "_PyThreadState_DeleteExcept"))
    steps.append(instr("_PyGILState_Fini", _gilstate_fini, "_PyGILState_Fini"))
    delete = []
    if v.wrapper:
        delete.append(instr("zapthreads.wrappers", _null_wrappers, "zapthreads"))
    delete.append(instr("zapthreads", _zapthreads, "zapthreads"))
    steps.extend(call("PyInterpreterState_Delete", delete))
    steps.append(instr("PyInterpreterState_Delete", _delete_interp, "PyInterpreterState_Delete"))
    return _under_finalize(steps)


def _under_finalize(steps) -> Program:
    """Frames of every step end in Py_FinalizeEx (the first one already is it)."""
    out = []
    for s in steps:
        out.append(s if s.frames[-1] == "Py_FinalizeEx" else call("Py_FinalizeEx", [s])[0])
    return tuple(out)
