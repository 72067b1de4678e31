"""Refcounted thread states (3.14+, gh-124878 / PR #130649, ``Python/pystate.c``).

Why: from 3.14 a ``PyThreadState`` finalization takes off the list may still be
used by its OS thread, so it carries a reference count that "starts with a value
of two: one reference is owned by the interpreter's linked list of thread states
and one reference is owned by the OS thread" (PR #130649).
``_PyThreadState_DeleteList`` drops the list's reference, ``_PyThreadState_HangThread``
the thread's (just before ``PyThread_hang_thread``); whichever comes second frees
the block (``decref_threadstate``).  ``zapthreads`` and ``PyThreadState_Delete``
still call ``free_threadstate`` directly, whatever the count.

The count and ``tstate->state`` are fields of the block, so every access here
is a load or store of it: a freed block is a use-after-free, as in C.  Only the
value that matters is kept (:class:`~finirace.model.world.Runtime`
``refcount_one``, ``shutting_down``).
"""

from __future__ import annotations

from finirace.model.hashed import evolve
from finirace.model.program import Ctx


def decref_threadstate(c: Ctx, block: int) -> bool:
    """``decref_threadstate``: ``if (_Py_atomic_add_ssize(&tstate->refcount, -1) == 1) free_threadstate(tstate)``.

    Returns whether this was the last reference (the block is freed)."""
    c.store(block, "tstate->refcount")
    rt = c.rt
    if block in rt.refcount_one:
        c.rt = evolve(rt, refcount_one=tuple(b for b in rt.refcount_one if b != block))
        c.free(block)
        return True
    c.rt = evolve(rt, refcount_one=tuple(sorted(rt.refcount_one + (block,))))
    return False


def must_exit(c: Ctx, block: int) -> bool:
    """3.14+ ``_PyThreadState_MustExit``: ``return state == _Py_THREAD_SHUTTING_DOWN``
    after ``_Py_atomic_load_int_relaxed(&tstate->state)``."""
    c.load(block, "tstate->state", 4)
    return block in c.rt.shutting_down


def hang_thread(c: Ctx) -> None:
    """``_PyThreadState_HangThread``: ``decref_threadstate(tstate_impl); PyThread_hang_thread();``."""
    freed = decref_threadstate(c, c.me.tstate)
    c.hang_thread()
    c.note += " (" + ("its reference was the last: the state is freed" if freed
                      else "drops its reference to the state") + ")"
