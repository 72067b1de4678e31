"""Thread states: attach, detach, create, delete (``Python/pystate.c``, ``Python/ceval.c``).

The thread-state operations a scenario step stands for, each as atomic steps
that follow the C code:

* ``PyEval_SaveThread``: ``_PyThreadState_Swap(NULL)`` then ``drop_gil``;
* ``PyEval_RestoreThread``: in the late-2019 branch it first reads
  ``tstate->interp->runtime`` (the use-after-free of the seed report); with the
  bpo-33608 wrapper it first reads ``ws->ts`` and gives up on NULL, then uses
  the pointer it read; then ``take_gil`` (:mod:`finirace.model.gil`).  3.6
  calls ``take_gil`` only ``if (gil_created())``: without a GIL it swaps the
  state in and returns, whether finalization freed it or not;
* ``PyGILState_Ensure``: look up this thread's state (TSS); if none, read
  ``autoInterpreterState`` (NULL after ``Py_Finalize``: ``new_threadstate``
  dereferences it, SIGSEGV; gh-124619's fix parks the thread instead), then
  ``new_threadstate`` allocates and links a ``PyThreadState`` and
  ``PyEval_RestoreThread`` attaches it; 3.6 then calls ``PyEval_InitThreads``,
  which makes the GIL if nothing made it yet;
* ``PyGILState_Release``: the counter drops to zero → ``PyThreadState_Clear`` and
  ``_PyThreadState_DeleteCurrent`` → ``tstate_delete_common`` frees it and drops
  the GIL; otherwise, if ensure took the GIL, ``PyEval_SaveThread``;
* ``PyThreadState_New`` / ``PyThreadState_Clear`` / ``PyThreadState_Delete``.

Simplification: the gilstate counter and the TSS slot live with the thread
(:class:`~finirace.model.world.ThreadRec`), not in the freed block, so only the
reads that CPython makes of the block itself are checked against the heap.
"""

from __future__ import annotations

from finirace.model.gil import GIL_CREATED, attach_without_gil, detach, init_threads, take_gil
from finirace.model.interpreters import link, unlink
from finirace.model.program import Ctx, Program, call, instr
from finirace.model.variant import Variant


def tstate_name(thread: str) -> str:
    return f"PyThreadState of {thread}"


def new_threadstate(c: Ctx, thread: str, interp: int | None) -> int:
    """``new_threadstate(interp)``: allocate and link a state (a NULL interp is a crash).

    After ``Py_FinalizeEx`` returned, ``_PyRuntime_Finalize`` has torn down what it
    needs (the variant's ``runtime_fini``): the lab measured SIGSEGV in
    ``HEAD_LOCK`` on 3.11.7 and 3.12.1, "gilstate_tss_set: failed to set current
    tstate (TSS)" on 3.13.0."""
    if interp is None:
        c.crash("new_threadstate")  # interp->runtime / HEAD_LOCK(interp->runtime) on NULL
    first = c.variant.new_threadstate_reads_interp_first
    if first:
        c.load(interp, "interp->runtime")
    c.read("runtime")
    fini = c.variant.runtime_fini if c.rt.finalized else ""
    if fini == "locks":
        # HEAD_LOCK(runtime): PyThread_acquire_lock(runtime->interpreters.mutex) freed (NULL)
        c.crash("PyThread_acquire_lock")
    if not first:
        c.load(interp, "interp->tstate_head")  # 3.6–3.8, under HEAD_LOCK
    block = c.alloc(tstate_name(thread))
    link(c, interp, block)  # HEAD_LOCK; tstate->next = interp->tstate_head; interp->tstate_head = tstate
    if fini == "tss":
        # bind_tstate / bind_gilstate_tstate → gilstate_tss_set on the deleted autoTSSkey
        c.abort("Fatal Python error: gilstate_tss_set: failed to set current tstate (TSS)")
    return block


# -- PyEval_SaveThread --------------------------------------------------------

def _save(c: Ctx) -> None:
    # PyEval_SaveThread: tstate = _PyThreadState_Swap(NULL); drop_gil(tstate)
    # (3.6: if (tstate == NULL) Py_FatalError(...); if (gil_created()) drop_gil(tstate))
    if c.variant.lazy_gil and not c.gil.created and c.gil.holder is None:
        c.abort("Fatal Python error: PyEval_SaveThread: NULL tstate")
    if c.me.tstate is None or not c.holds_gil():
        c.abort("Fatal Python error: PyEval_SaveThread: the function must be called with the GIL held")
    detach(c)
    c.note = "releases the GIL" if c.gil.created else "no GIL: PyThreadState_Swap(NULL) only"
    c.finish()


def save(v: Variant) -> Program:
    return (instr("PyEval_SaveThread", _save, "PyEval_SaveThread"),)


# -- PyEval_RestoreThread -----------------------------------------------------

def _restore_null(c: Ctx) -> None:
    if c.me.tstate is None:
        c.abort("Fatal Python error: PyEval_RestoreThread: NULL tstate")


def _restore_wrapper(c: Ctx) -> None:
    # bpo-33608 proposal: PyThreadState *ts = ws->ts; if (ts == NULL) the state is gone
    _restore_null(c)
    c.read(f"wrapper:{c.name}")
    ts = c.me.wrapper
    if ts is None:
        c.note = "wrapper's ts is NULL: its state was freed"
        c.exit_thread()
        return
    c.set_me(scratch=ts)
    c.note = "wrapper's ts is set: the state looks alive"


def _restore_runtime(c: Ctx) -> None:
    # late-2019 PyEval_RestoreThread: _PyRuntimeState *runtime = tstate->interp->runtime;
    _restore_null(c)
    ts = c.me.scratch if c.variant.wrapper else c.me.tstate
    c.load(ts, "tstate->interp")
    c.note = "reads tstate->interp->runtime"


def _restore_gil_created(c: Ctx) -> None:
    # 3.6 PyEval_RestoreThread: if (gil_created()) { take_gil(tstate); if (_Py_Finalizing && ...)
    #   { drop_gil(tstate); PyThread_exit_thread(); } }  PyThreadState_Swap(tstate);
    _restore_null(c)
    c.read(GIL_CREATED)
    if c.gil.created:
        c.note = "gil_created(): take_gil"
        return
    attach_without_gil(c)
    c.note = "no GIL made yet: no take_gil, no _Py_Finalizing check; PyThreadState_Swap(tstate)"
    if c.step is not None and c.step.kind in ("ensure", "fr_ensure"):  # inside PyGILState_Ensure
        c.goto("PyEval_InitThreads")  # PyGILState_Ensure goes on after PyEval_RestoreThread
    else:
        c.finish()


def restore(v: Variant) -> Program:
    """``PyEval_RestoreThread(tstate)`` as this variant runs it."""
    if v.lazy_gil:
        return call("PyEval_RestoreThread", (
            instr("PyEval_RestoreThread", _restore_gil_created, "PyEval_RestoreThread"),
            *take_gil(v),
        ))
    steps = []
    if v.wrapper:
        steps.append(instr("PyEval_RestoreThread.wrapper", _restore_wrapper, "PyEval_RestoreThread"))
    if v.restore_reads_tstate:
        steps.append(instr("PyEval_RestoreThread.tstate", _restore_runtime, "PyEval_RestoreThread"))
    if not steps:
        # the NULL check costs no atomic step of its own: fold it into take_gil's first
        first, *rest = take_gil(v)
        guarded = instr(first.label, _chain(_restore_null, first.run), "take_gil",
                        waits=first.waits, in_runtime=first.in_runtime)
        return call("PyEval_RestoreThread", (guarded, *rest))
    return call("PyEval_RestoreThread", (*steps, *take_gil(v)))


def _chain(a, b):
    def run(c: Ctx) -> None:
        a(c)
        b(c)

    return run


# -- PyGILState_Ensure / PyGILState_Release -----------------------------------

def _ensure(c: Ctx) -> None:
    # PyGILState_Ensure: tcur = PyThread_tss_get(&gilstate->autoTSSkey)
    me = c.me
    if me.tstate is not None:
        current = c.holds_gil()
        c.set_me(counter=me.counter + 1, ensured_unlocked=me.ensured_unlocked + (not current,))
        if current:
            c.note = "already attached: ++gilstate_counter"
            c.finish()
        else:
            c.note = "has a state: PyEval_RestoreThread(tcur)"
            c.goto(restore(c.variant)[0].label)
            if c.variant.lazy_gil:
                c.set_me(scratch=None)  # need_init_threads = 0
        return
    # autoInterpreterState: NULL once _PyGILState_Fini ran
    c.read("runtime")
    interp = c.rt.interp
    if interp is None:
        if c.variant.ensure_parks_without_interp:
            c.note = "no interpreter (finalized): the thread is parked"
            c.hang_thread()
            return
        c.note = "autoInterpreterState is NULL"
        c.crash("new_threadstate")
    c.set_me(scratch=interp)
    c.note = "no state yet: PyThreadState_New(autoInterpreterState)"


def _ensure_new(c: Ctx) -> None:
    block = new_threadstate(c, c.name, c.me.scratch)
    wrapper = block if c.variant.wrapper else None
    if wrapper is not None:
        c.write(f"wrapper:{c.name}")
    # 3.6 keeps need_init_threads = 1 for after PyEval_RestoreThread (scratch: not None)
    need_init = block if c.variant.lazy_gil else None
    c.set_me(tstate=block, counter=1, ensured_unlocked=(True,), wrapper=wrapper, scratch=need_init)
    c.note = "allocates its PyThreadState"


def _ensure_init_threads(c: Ctx) -> None:
    # 3.6 PyGILState_Ensure, after PyEval_RestoreThread(tcur): if (need_init_threads)
    #   PyEval_InitThreads();   (the first new thread makes the GIL, bpo-20891)
    if c.me.scratch is None:
        c.note = "had a state: no PyEval_InitThreads"
        return
    c.set_me(scratch=None)
    made = not c.gil.created
    init_threads(c)
    # the holder only where this step made the GIL: a test that found it made reads nothing else
    c.note = f"PyEval_InitThreads: made the GIL, held by {c.gil.holder}" if made else "PyEval_InitThreads: the GIL exists"


def ensure(v: Variant) -> Program:
    steps = (
        instr("PyGILState_Ensure", _ensure, "PyGILState_Ensure"),
        *call("PyGILState_Ensure", call("PyThreadState_New", [instr("new_threadstate", _ensure_new, "new_threadstate")])),
        *call("PyGILState_Ensure", restore(v)),
    )
    if v.lazy_gil:
        steps += call("PyGILState_Ensure", [instr("PyEval_InitThreads", _ensure_init_threads, "PyEval_InitThreads")])
    return steps


def _release(c: Ctx) -> None:
    me = c.me
    if me.tstate is None or me.counter <= 0:
        c.abort("Fatal Python error: PyGILState_Release: auto-releasing thread-state, but no thread-state for this thread")
    # PyGILState_Release: --tcur->gilstate_counter
    c.load(me.tstate, "tstate->gilstate_counter", 4)
    if not c.holds_gil():
        c.abort("Fatal Python error: PyGILState_Release: thread state must be current when releasing")
    counter = me.counter - 1
    unlocked = me.ensured_unlocked[-1] if me.ensured_unlocked else False
    if counter == 0:
        # PyThreadState_Clear(tcur); _PyThreadState_DeleteCurrent(tcur) → tstate_delete_common
        # (3.6: PyThreadState_DeleteCurrent → PyEval_ReleaseLock; without a GIL, which only a
        # re-initialization leaves, taken as the detach of PyEval_SaveThread)
        unlink(c, me.tstate)
        c.free(me.tstate)
        if me.wrapper is not None:
            c.write(f"wrapper:{c.name}")
        c.set_me(tstate=None, counter=0, ensured_unlocked=(), wrapper=None)
        detach(c)
        c.note = "deletes its PyThreadState and releases the GIL"
    else:
        c.set_me(counter=counter, ensured_unlocked=me.ensured_unlocked[:-1])
        if unlocked:
            detach(c)  # PyEval_SaveThread()
            c.note = "releases the GIL"
    c.finish()


def release(v: Variant) -> Program:
    return (instr("PyGILState_Release", _release, "PyGILState_Release"),)


# -- hand-made thread states --------------------------------------------------

def _new_tstate(c: Ctx) -> None:
    # PyThreadState_New(interp), interp saved when Py_Initialize returned: after Py_Finalize a
    # stale pointer (3.9–3.10: freed memory; 3.11+: the static main interpreter)
    c.read("runtime")
    block = new_threadstate(c, c.name, c.rt.main_interp)
    wrapper = block if c.variant.wrapper else None
    if wrapper is not None:
        c.write(f"wrapper:{c.name}")
    c.set_me(tstate=block, wrapper=wrapper)
    c.note = "allocates a PyThreadState"
    c.finish()


def new_tstate(v: Variant) -> Program:
    return call("PyThreadState_New", [instr("new_threadstate", _new_tstate, "new_threadstate")])


def _clear(c: Ctx) -> None:
    ts = c.me.tstate
    if ts is None:
        c.crash("PyThreadState_Clear")
    # PyThreadState_Clear: Py_CLEAR(tstate->frame), Py_CLEAR(tstate->dict), ...
    c.load(ts, "tstate->frame")
    c.store(ts, "tstate->dict")
    c.note = "clears its PyThreadState"
    c.finish()


def clear_tstate(v: Variant) -> Program:
    return (instr("PyThreadState_Clear", _clear, "PyThreadState_Clear"),)


def _delete(c: Ctx) -> None:
    ts = c.me.tstate
    if ts is None:
        c.crash("tstate_delete_common")
    # tstate_delete_common: PyInterpreterState *interp = tstate->interp; HEAD_LOCK; unlink; free
    c.load(ts, "tstate->interp")
    if c.holds_gil():
        c.abort("Fatal Python error: PyThreadState_Delete: tstate is still current")
    unlink(c, ts)
    c.free(ts)
    if c.me.wrapper is not None:
        c.write(f"wrapper:{c.name}")
    c.set_me(tstate=None, wrapper=None)
    c.note = "frees its PyThreadState"
    c.finish()


def delete_tstate(v: Variant) -> Program:
    return call("PyThreadState_Delete", [instr("tstate_delete_common", _delete, "tstate_delete_common")])
