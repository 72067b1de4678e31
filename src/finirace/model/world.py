"""The model's state: runtime, interpreter, GIL, threads, heap, events, locks.

One :class:`World` is one state of the transition system.  Everything is a
frozen dataclass of small immutable fields, so a world is hashable (the
explorer caches states) and a step builds a new world instead of changing one.

What lives where mirrors the C structures, coarsely:

* :class:`Runtime`: ``_PyRuntime`` (initialized flag, ``_finalizing``,
  ``gilstate.autoInterpreterState``), the main interpreter
  (``interp->tstate_head`` as a tuple of block ids, PEP 788's guard count) and
  the sub-interpreters ``Py_NewInterpreter`` made (:class:`Interp`, each with
  its own list of thread states: a thread state belongs to one interpreter);
* :class:`Gil`: ``struct _gil_runtime_state`` (``locked``, ``last_holder``,
  ``switch_number``, ``gil_drop_request``; 3.6: whether it exists yet); its
  mutex and conditions are not values: every step that touches the GIL runs as
  one critical section;
* :class:`ThreadRec`: a C thread, with the locals the scenario's C code keeps
  (the ``PyThreadState *`` it holds, the gilstate counter, the bpo-33608 wrapper,
  the guard helper's guards, tokens and saved states);
* :class:`Helper`: the static state of ``finirace_guard.h``, which no runtime owns.
"""

from __future__ import annotations

from dataclasses import dataclass

from finirace.model.hashed import cached_hash
from finirace.model.heap import Heap
from finirace.outcome import RunOutcome

# Thread status
NEW = "new"  # not started yet
RUN = "run"  # running (possibly waiting)
DONE = "done"  # its steps all ran
EXITED = "exited"  # PyThread_exit_thread inside the runtime
HUNG = "hung"  # PyThread_hang_thread: parked for ever


@cached_hash
@dataclass(frozen=True)
class Interp:
    """A sub-interpreter (``Py_NewInterpreter``): its ``PyInterpreterState`` block and the
    thread states linked to it (``interp->tstate_head``, 3.12+ ``interp->threads.head``),
    newest first, as ``new_threadstate`` links them."""

    block: int
    tstates: tuple[int, ...] = ()


@cached_hash
@dataclass(frozen=True)
class Runtime:
    """``_PyRuntime`` and the main interpreter."""

    generation: int = 0  # how many times Py_Initialize made a runtime
    initialized: bool = False  # Py_IsInitialized()
    finalizing: int | None = None  # _PyRuntime._finalizing: the finalizer's PyThreadState block
    interp: int | None = None  # gilstate.autoInterpreterState: PyInterpreterState block
    finalized: bool = False  # _PyRuntime_Finalize ran: Py_FinalizeEx returned
    # the interpreter Py_Initialize made, as a program keeps it (PyInterpreterState_Head() saved
    # after init): unlike autoInterpreterState it stays set, stale, after Py_Finalize
    main_interp: int | None = None
    tstates: tuple[int, ...] = ()  # interp->tstate_head ... : linked PyThreadState blocks
    # the sub-interpreters alive (_PyRuntime.interpreters.head minus the main one), newest first
    subs: tuple[Interp, ...] = ()
    guards: int = 0  # PEP 788: live interpreter guards
    guards_closed: bool = False  # PEP 788: finalization_guards == _PyInterpreterGuard_GUARDS_NOT_ALLOWED
    # 3.14+ (tstate_refcounts): the list _PyThreadState_RemoveExcept returned, until
    # _PyThreadState_DeleteList consumed it (a local of _Py_Finalize)
    removed: tuple[int, ...] = ()
    # 3.14+: fields of PyThreadState blocks, kept across Py_Initialize (they are the block's
    # memory, not the runtime's): tstate->state == _Py_THREAD_SHUTTING_DOWN, and refcount == 1
    # (one of its two references dropped; the next decref frees it)
    shutting_down: tuple[int, ...] = ()
    refcount_one: tuple[int, ...] = ()


@cached_hash
@dataclass(frozen=True)
class Gil:
    """The GIL's fields (``Python/ceval_gil.c``)."""

    locked: bool = False
    holder: str | None = None  # the thread behind last_holder, while locked
    switch_number: int = 0
    drop_request: bool = False
    # gil_created(): always once Py_Initialize ran, except in 3.6 (``lazy_gil``), where
    # Py_Initialize leaves none and PyEval_InitThreads makes it.  While there is none,
    # ``holder`` is the thread whose state is _PyThreadState_Current (``locked`` stays False)
    created: bool = True


@cached_hash
@dataclass(frozen=True)
class ThreadRec:
    """One thread: where it is, and the C locals the model needs."""

    status: str = NEW
    pc: int = 0  # index of the current step (-1: bootstrap of a Python thread)
    phase: int = 0  # index of the current atomic step inside the step's program
    tstate: int | None = None  # the PyThreadState* this thread holds (TSS / saved local)
    counter: int = 0  # gilstate_counter of its PyGILState_Ensure'd state
    ensured_unlocked: tuple[bool, ...] = ()  # per nested ensure: PyGILState_UNLOCKED?
    wrapper: int | None = None  # bpo-33608 wrapper: its ``ts`` field
    guards: int = 0  # PEP 788 guards this thread holds
    scratch: int | None = None  # a value read by one atomic step for the next one
    python: bool = False  # started by threading (has a bootstrap and a teardown)
    async_exc: str | None = None  # the exit guard's pending exception: "stop" or "park"
    # sub-interpreters, as the scenario's C code keeps them: the PyInterpreterState block this
    # thread's Py_NewInterpreter made (fr_sub[i], read by other threads' new_tstate_in), and the
    # state Py_NewInterpreter replaced (fr_outer), which end_interp swaps back in
    sub: int | None = None
    outer: int | None = None
    # finirace_guard.h, the C locals of the scenario's code and the header's thread-local:
    fr_failed: bool = False  # a helper call failed: the thread's C code skips later CPython calls
    fr_lost: bool = False  # finirace_lost_: an "end" failed, its state is not ours to touch
    fr_guards: tuple[bool, ...] = ()  # guards from FiniRaceGuard_FromView (False: NULL, refused)
    fr_tokens: tuple[bool, ...] = ()  # tokens from FiniRace_EnsureFromView (False: NULL)
    fr_allows: tuple[tuple[bool, bool, bool], ...] = ()  # FiniRaceAllow: (GIL released, own guard, doomed)


@cached_hash
@dataclass(frozen=True)
class Helper:
    """``finirace_guard.h``'s state (``FiniRaceState_``): static storage of the process.

    It outlives every runtime: ``Py_Initialize`` makes a new runtime, never a new
    helper state.  ``registered`` is the runtime generation whose ``atexit`` holds the
    callback (``FiniRace_Setup``), since atexit callbacks belong to one runtime."""

    registered: int | None = None  # setup == DONE, in this runtime generation
    phase: int = 0  # FINIRACE_OPEN_ 0 -> CLOSED_ 1 (no new guard) -> GONE_ 2 (wait over)
    held: int = 0  # guards held
    entering: int = 0  # threads between their phase check and the end of their attach
    timed_out: bool = False  # the bound ran out at exit (the stderr warning)
    finalizer: str | None = None  # the thread that ran the callback


@cached_hash
@dataclass(frozen=True)
class World:
    runtime: Runtime
    gil: Gil
    threads: tuple[ThreadRec, ...]
    heap: Heap = ()
    events: frozenset[str] = frozenset()
    locks: tuple[tuple[str, str], ...] = ()  # (lock, owner) sorted
    fault: RunOutcome | None = None  # the run ended at once (memory error, crash, abort)
    helper: Helper = Helper()  # finirace_guard.h's static state
