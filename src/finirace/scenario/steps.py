"""The step vocabulary of a scenario: what may be written in a thread's list.

This table is data on purpose: the parser validates against it, the docs list
it, and each layer that gives steps a meaning keeps its own table keyed by
these names: the model's operations (:data:`finirace.model.programs.OPERATIONS`)
and the lab's C statements (:data:`finirace.lab.statements.C_STEPS`, which also
names the C call each step stands for).  A test fails when a kind lacks either.
The scenario layer itself knows no semantics: it only knows which names exist,
what argument each takes, and a line of help.

A step is one string: ``[noexcept] NAME [ARGUMENT]``.  ``noexcept`` says the
call is made from inside a C++ ``noexcept`` frame (so a ``pthread_exit`` that
unwinds through it calls ``std::terminate``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Arg(enum.Enum):
    """The kind of argument a step takes."""

    NONE = "none"
    THREAD = "thread"  # the name of a thread of the scenario
    EVENT = "event"  # an ordering event, signalled once, waited on by anyone
    LOCK = "lock"  # a plain C mutex (pthread_mutex_t) of the program
    CODE = "code"  # Python source, quoted
    OPTIONAL_UNTIL = "until"  # nothing, or ``until EVENT``


@dataclass(frozen=True)
class StepKind:
    """One step name: its argument and a line of help."""

    name: str
    arg: Arg
    help: str
    api: bool = True  # a C-API call (may carry ``noexcept``); orderings are not
    # a call into CPython that the scenario's code skips once a guard-helper call
    # (``fr_*``) of its thread reported failure (it must not touch Python any more)
    cpython: bool = False


STEP_KINDS: dict[str, StepKind] = {
    k.name: k
    for k in (
        StepKind("init", Arg.NONE, "start the runtime; the calling thread holds the GIL", cpython=True),
        StepKind("finalize", Arg.NONE, "tear the runtime down (needs the GIL)", cpython=True),
        StepKind("init_threads", Arg.NONE,
                 "PyEval_InitThreads: make the GIL if none exists yet (3.6, whose Py_Initialize makes none); "
                 "a no-op from 3.7 on", cpython=True),
        StepKind("spawn", Arg.THREAD, "start a C thread running that thread's steps"),
        StepKind("join", Arg.THREAD, "wait until that thread ends"),
        StepKind("start_thread", Arg.THREAD,
                 "start a Python thread (needs the GIL; its thread state is made by the caller)", cpython=True),
        StepKind("python_thread", Arg.THREAD,
                 "Python code starts a daemon threading.Thread running that thread's steps (needs the GIL): "
                 "PyRun_SimpleString of threading.Thread(target=..., daemon=True).start()", cpython=True),
        StepKind("ensure", Arg.NONE, "attach: make or find this thread's state, take the GIL", cpython=True),
        StepKind("release", Arg.NONE, "undo the matching ensure", cpython=True),
        StepKind("save", Arg.NONE, "drop the GIL (Py_BEGIN_ALLOW_THREADS)", cpython=True),
        StepKind("restore", Arg.NONE, "take the GIL back (Py_END_ALLOW_THREADS)", cpython=True),
        StepKind("new_tstate", Arg.NONE, "make a thread state by hand, not yet attached", cpython=True),
        StepKind("new_interp", Arg.NONE,
                 "Py_NewInterpreter: make a sub-interpreter and a thread state in it, made current (needs the "
                 "GIL); the state it replaces is kept for end_interp", cpython=True),
        StepKind("end_interp", Arg.NONE,
                 "Py_EndInterpreter on this thread's state (current, in the sub-interpreter its new_interp made; "
                 "fatal unless it is that interpreter's last state), then PyThreadState_Swap back to the state "
                 "new_interp replaced", cpython=True),
        StepKind("new_tstate_in", Arg.THREAD,
                 "make a thread state by hand in the sub-interpreter that thread's new_interp made, not yet "
                 "attached (then restore, save, delete_tstate as after new_tstate)", cpython=True),
        StepKind("clear_tstate", Arg.NONE, "clear this thread's hand-made state", cpython=True),
        StepKind("delete_tstate", Arg.NONE, "free this thread's hand-made state", cpython=True),
        StepKind("python", Arg.CODE, "run Python code (needs the GIL)", cpython=True),
        StepKind("block", Arg.OPTIONAL_UNTIL,
                 "a blocking C call of any length, optionally lasting until an event"),
        StepKind("guard", Arg.NONE,
                 "PEP 788 (PyInterpreterGuard_FromView): hold finalization off; refused once the guards are closed", cpython=True),
        StepKind("unguard", Arg.NONE, "PEP 788 (PyInterpreterGuard_Close): release the guard", cpython=True),
        StepKind("fr_setup", Arg.NONE, "finirace_guard.h: FiniRace_Setup, register the wait at exit (GIL held)"),
        StepKind("fr_guard", Arg.NONE, "finirace_guard.h: acquire a guard (FiniRaceGuard_FromView); fails once "
                 "finalization began"),
        StepKind("fr_unguard", Arg.NONE, "finirace_guard.h: release the guard (FiniRaceGuard_Close)"),
        StepKind("fr_ensure", Arg.NONE, "finirace_guard.h: attach with a guard (FiniRace_EnsureFromView); fails "
                 "once finalization began"),
        StepKind("fr_release", Arg.NONE, "finirace_guard.h: detach and release (FiniRace_Release)"),
        StepKind("fr_save", Arg.NONE, "finirace_guard.h: release the GIL under a guard (FiniRace_BeginAllowThreads)"),
        StepKind("fr_restore", Arg.NONE, "finirace_guard.h: take the GIL back (FiniRace_EndAllowThreads); fails "
                 "when finalization went on meanwhile"),
        StepKind("lock", Arg.LOCK, "take a plain C mutex"),
        StepKind("unlock", Arg.LOCK, "release a plain C mutex"),
        StepKind("exit_guard", Arg.NONE,
                 "finirace's exit guard (atexit, before finalize): Python threads stop at their next "
                 "python step; waits, GIL released, until they ended, bounded"),
        StepKind("exit_guard_park", Arg.NONE,
                 "the exit guard in park mode: Python threads block for ever at their next python step"),
        StepKind("signal", Arg.EVENT, "ordering: let the waiters of this event go", api=False),
        StepKind("wait", Arg.EVENT, "ordering: wait until this event is signalled", api=False),
    )
}

MODIFIERS = ("noexcept",)

# the kinds that start a Python (threading) thread: its steps run inside the thread's target
STARTS_PYTHON_THREAD = ("start_thread", "python_thread")
