"""The GIL: ``take_gil`` and ``drop_gil`` (``Python/ceval_gil.c``, ``ceval_gil.h`` before 3.12).

``take_gil`` is where every era differs, so it is built per variant:

* entry: 3.9+ asks ``tstate_must_exit`` / ``_PyThreadState_MustExit``
  (bpo-39877: up to 3.13 it reads ``_PyRuntime._finalizing``, never the thread
  state) and gives up at once when another thread finalizes; 3.14 (gh-124878)
  reads the thread's own ``tstate->state`` instead, and gives up only if
  ``_Py_Finalize`` marked that state ``_Py_THREAD_SHUTTING_DOWN``
  (``_PyThreadState_HangThread``: drop the thread's reference, then hang);
* 3.9+ then reads ``tstate->interp`` to find the GIL: the one read of the thread
  state before waiting, and the window where a state freed by finalization
  between the check and the read is used anyway;
* the wait: ``MUTEX_LOCK``; while ``locked``, a timed wait on the condition.  A
  timeout sets ``gil_drop_request``; 3.9+ re-checks ``tstate_must_exit`` there,
  so a waiter gives up once finalization began.  3.6–3.8 only ever leave the
  loop when the GIL is dropped, which the finalizing thread never does: the
  waiter blocks for ever.
* 3.6 (``lazy_gil``): there is no GIL until ``PyEval_InitThreads`` makes one;
  ``PyEval_RestoreThread`` and ``PyEval_SaveThread`` test ``gil_created()`` and,
  while it is false, only swap ``_PyThreadState_Current`` (:func:`detach`,
  :func:`attach_without_gil`): no wait, and no finalization check at all;
* after taking it: the re-check (``take_gil`` in 3.9+, ``PyEval_RestoreThread``
  in 3.8 and the 2019 branch): finalizing and not us → ``drop_gil`` and give up;
  else ``tstate->async_exc`` is read (the first use of the thread state in 3.8).

The GIL's mutex is not a model object: each of these atomic steps is one
critical section under it, and declares ``"gil"``.  Whether the GIL exists
(3.6's ``gil_created()``) is also an object of its own, ``"gil.created"``: a
step that reads only that (``PyEval_RestoreThread``'s and
``PyEval_InitThreads``' test once the GIL is made) declares only it, so it
commutes with another thread's ``take_gil`` or ``drop_gil``, which never
change it; a step that makes or unmakes the GIL (``Py_Initialize``,
``PyEval_InitThreads``) writes both.  Under ``legacy36`` those tests were three
fifths of the pairs of steps found dependent where a step could be carried over
from the state before (:mod:`~finirace.model.successors`).
"""

from __future__ import annotations

from finirace.model import refcount
from finirace.model.hashed import evolve
from finirace.model.program import Ctx, Program, instr
from finirace.model.variant import Variant
from finirace.model.world import Gil

GIL_CREATED = "gil.created"  # the object a step that reads only gil_created() declares


def must_exit(c: Ctx) -> bool:
    """``tstate_must_exit`` (3.9–3.11) / ``_PyThreadState_MustExit`` (3.12+): must this thread give up?

    Until 3.13 it reads ``_PyRuntime._finalizing`` (bpo-39877): another thread is
    finalizing.  3.14 (``tstate_refcounts``) reads the thread's own ``tstate->state``:
    only a state ``_Py_Finalize`` marked ``_Py_THREAD_SHUTTING_DOWN`` gives up."""
    if c.variant.tstate_refcounts:
        return refcount.must_exit(c, c.me.tstate)
    c.read("runtime")
    fin = c.rt.finalizing
    return fin is not None and fin != c.me.tstate


def give_up(c: Ctx) -> None:
    """A thread that must exit: ``PyThread_exit_thread`` / ``PyThread_hang_thread``, or
    3.14's ``_PyThreadState_HangThread`` (drops the thread's reference to its state first)."""
    if c.variant.tstate_refcounts:
        refcount.hang_thread(c)
    else:
        c.give_up()


def drop_gil(c: Ctx) -> None:
    """``drop_gil``: unlock and signal the condition."""
    c.read("gil")
    c.write("gil")
    if not c.gil.locked:
        c.abort("Fatal Python error: drop_gil: GIL is not locked")
    c.gil = evolve(c.gil, locked=False, holder=None)


def detach(c: Ctx) -> None:
    """``PyEval_SaveThread``'s release: ``drop_gil``, or in 3.6 with no GIL made yet
    (``if (gil_created()) drop_gil(tstate)``) only ``PyThreadState_Swap(NULL)``."""
    if c.gil.created:
        drop_gil(c)
        return
    c.read("gil")
    c.write("gil")
    c.gil = evolve(c.gil, holder=None)


def attach_without_gil(c: Ctx) -> None:
    """3.6 ``PyEval_RestoreThread`` with no GIL made: ``PyThreadState_Swap(tstate)`` only."""
    c.read("gil")
    c.write("gil")
    c.gil = evolve(c.gil, holder=c.name)


def init_threads(c: Ctx) -> None:
    """3.6 ``PyEval_InitThreads``: ``if (gil_created()) return; create_gil();
    take_gil(PyThreadState_GET())``: the new GIL goes to whichever state is current."""
    c.read(GIL_CREATED)
    if c.gil.created:
        return
    c.read("gil")
    c.write("gil", GIL_CREATED)
    current = c.gil.holder
    if current is None:
        c.abort("Fatal Python error: take_gil: NULL tstate")
    c.gil = Gil(locked=True, holder=current, switch_number=c.gil.switch_number + 1)
    # take_gil: if (tstate->async_exc != NULL) ...
    ts = c.threads[c.machine.threads.index(current)].tstate
    if ts is not None:
        c.load(ts, "tstate->async_exc")


def _init_threads_call(c: Ctx) -> None:
    # PyEval_InitThreads: 3.6–3.8 `if (gil_created()) return; create_gil(); take_gil(PyThreadState_GET())`
    # (3.7+ always finds the GIL Py_Initialize made); 3.9+ "Do nothing: kept for backward compatibility"
    made = not c.gil.created
    init_threads(c)
    c.note = ("no GIL yet: create_gil, take_gil for the current state (" + str(c.gil.holder) + ")"
              if made else "the GIL exists: returns")
    c.finish()


def init_threads_call(v: Variant) -> Program:
    """The ``init_threads`` step: ``PyEval_InitThreads`` called by the program itself."""
    return (instr("PyEval_InitThreads", _init_threads_call, "PyEval_InitThreads"),)


def _entry_check(c: Ctx) -> None:
    # take_gil: if (tstate_must_exit(tstate)) PyThread_exit_thread() / PyThread_hang_thread()
    # 3.14: _PyThreadState_Attach reads the state first (c_stack_hard_limit), then take_gil:
    #   if (_PyThreadState_MustExit(tstate)) _PyThreadState_HangThread(tstate);
    if c.variant.tstate_refcounts:
        if must_exit(c):
            c.note = "_PyThreadState_MustExit: tstate->state is _Py_THREAD_SHUTTING_DOWN"
            give_up(c)
        else:
            c.note = "_PyThreadState_MustExit: tstate->state is not shutting down"
        return
    if must_exit(c):
        c.note = "tstate_must_exit: another thread finalizes the runtime"
        give_up(c)
    else:
        c.note = "tstate_must_exit: no"


def _read_tstate(c: Ctx) -> None:
    # take_gil: PyInterpreterState *interp = tstate->interp;
    c.load(c.me.tstate, "tstate->interp")
    c.note = "reads tstate->interp to find the GIL"


def _wait(c: Ctx) -> None:
    # take_gil: MUTEX_LOCK(gil->mutex); while (gil->locked) COND_TIMED_WAIT(...); _ready:
    c.read("gil")
    g = c.gil
    if not g.created:
        # 3.6: Py_Initialize destroyed the GIL under a waiter (_PyEval_FiniThreads sets
        # gil_locked = -1, which the wait loop reads as locked) until PyEval_InitThreads
        c.wait()
    if g.locked:
        if c.variant.take_gil_checks_runtime and must_exit(c):
            # the timed wait ran out: tstate_must_exit() → MUTEX_UNLOCK; give up
            c.note = "wait timed out; " + ("tstate->state is _Py_THREAD_SHUTTING_DOWN"
                                             if c.variant.tstate_refcounts else
                                             "tstate_must_exit: another thread finalizes")
            give_up(c)
            return
        if not g.drop_request and g.holder != c.name:
            # timed out with the same holder: SET_GIL_DROP_REQUEST
            c.write("gil")
            c.gil = evolve(g, drop_request=True)
            c.note = "wait timed out: SET_GIL_DROP_REQUEST"
            c.goto("take_gil.wait")
            return
        c.wait()
    c.write("gil")
    switched = g.holder != c.name
    c.gil = evolve(g, locked=True, holder=c.name, switch_number=g.switch_number + switched)
    c.note = "takes the GIL"


def _after(c: Ctx) -> None:
    # take_gil after _ready (3.9+, bpo-39877) / PyEval_RestoreThread (3.8):
    #   if (finalizing && finalizing != tstate) { drop_gil(); PyThread_exit_thread(); }
    if must_exit(c):
        drop_gil(c)
        c.note = "took the GIL " + ("with tstate->state _Py_THREAD_SHUTTING_DOWN"
                                    if c.variant.tstate_refcounts else
                                    "while another thread finalizes") + ": drop_gil"
        give_up(c)
        return
    _attached(c)


def _attached(c: Ctx) -> None:
    # if (gil_drop_request) RESET_GIL_DROP_REQUEST; if (tstate->async_exc != NULL) ...
    c.load(c.me.tstate, "tstate->async_exc")
    c.read("gil")
    if c.variant.lazy_gil:
        c.write("gil")  # 3.6: PyThreadState_Swap(tstate) after take_gil: current is in the gil record
    if c.gil.drop_request:
        c.write("gil")
        c.gil = evolve(c.gil, drop_request=False)
    c.note = "holds the GIL; attaches its thread state"


def take_gil(v: Variant, check_finalizing: bool = True) -> Program:
    """``take_gil`` as this variant runs it (its atomic steps, in order).

    ``check_finalizing=False``: the caller does not re-check ``_Py_Finalizing``
    after taking the GIL (3.6 ``PyEval_AcquireThread``)."""
    steps = []
    if v.take_gil_checks_runtime:
        steps.append(instr("take_gil.check", _entry_check, "take_gil"))
    if v.take_gil_reads_tstate:
        steps.append(instr("take_gil.tstate", _read_tstate, "take_gil"))
    steps.append(instr("take_gil.wait", _wait, "take_gil", waits="gil", in_runtime=True))
    steps.append(instr("take_gil.after", _after if check_finalizing else _attached, "take_gil"))
    return tuple(steps)
