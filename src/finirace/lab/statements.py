"""The C statement of each step kind: what the lab writes for one scenario step.

The step vocabulary is the scenario layer's (:data:`finirace.scenario.STEP_KINDS`,
names and arguments only); the model gives each kind its atomic steps
(:data:`finirace.model.programs.OPERATIONS`); this table gives each kind its C.
A kind missing here is a lab gap, caught by a test that walks the vocabulary.

Each entry names the C call the step stands for (``calls``: what a report says
a thread was inside when a run ended) and writes the statement, from the
step's argument and the C names the program gives threads, events and locks
(:class:`Names`).  Markers around the statement, schedule edges and the
``noexcept`` frame are the emitter's (:mod:`finirace.lab.emitter`), the same for
every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from finirace.lab.c_literals import c_string


@dataclass(frozen=True)
class Names:
    """The C names of a program's scenario objects, as indexes into its arrays."""

    threads: Mapping[str, int]  # fr_tid[i], fr_thread_i, fr_pydef_i
    events: Mapping[str, int]  # fr_event_i: a pipe
    locks: Mapping[str, int]  # fr_lock_i: a pthread mutex
    waiters: Mapping[str, int]  # how many steps read each event


@dataclass(frozen=True)
class CStep:
    """How one step kind is written in C."""

    calls: str  # the C call it stands for: "PyGILState_Ensure()"
    statement: Callable[[Names, "str | None"], str]


def _spawn(n: Names, thread: str | None) -> str:
    j = n.threads[thread]  # type: ignore[index]
    return (f"__atomic_add_fetch(&fr_alive, 1, __ATOMIC_SEQ_CST); "
            f"if (pthread_create(&fr_tid[{j}], NULL, fr_thread_{j}, NULL) != 0) fr_die(\"finirace: pthread_create\");")


def _block(n: Names, until: str | None) -> str:
    if until:
        return f"fr_read_byte(fr_event_{n.events[until]}[0]); /* a blocking read until the event */"
    return "/* a blocking call that returns at once */"


# PEP 788 as merged (PR #149116): PyInterpreterGuard_FromView(view) / PyInterpreterGuard_Close(guard)
_NO_GUARDS = ("/* PEP 788 guards exist from 3.15 on (PyInterpreterGuard_FromView / PyInterpreterGuard_Close):"
              " no call here (finirace's guard helper comes later) */")

C_STEPS: dict[str, CStep] = {
    "init": CStep("Py_Initialize()",
                  lambda n, a: "fr_set_home(); Py_Initialize(); fr_interp = PyInterpreterState_Head();"),
    "finalize": CStep("Py_FinalizeEx()", lambda n, a: "Py_FinalizeEx();"),
    "init_threads": CStep("PyEval_InitThreads()", lambda n, a: "fr_init_threads(); /* PyEval_InitThreads() */"),
    "spawn": CStep("pthread_create()", _spawn),
    "join": CStep("pthread_join()", lambda n, a: f"pthread_join(fr_tid[{n.threads[a]}], NULL);"),  # type: ignore[index]
    "start_thread": CStep("threading.Thread.start()", lambda n, a: (
        f"__atomic_add_fetch(&fr_alive, 1, __ATOMIC_SEQ_CST); fr_start_python_thread(&fr_pydef_{n.threads[a]});")),  # type: ignore[index]
    "python_thread": CStep("PyRun_SimpleString(): threading.Thread.start()", lambda n, a: (
        f"__atomic_add_fetch(&fr_alive, 1, __ATOMIC_SEQ_CST); fr_python_start_thread(&fr_pydef_{n.threads[a]});")),  # type: ignore[index]
    "ensure": CStep("PyGILState_Ensure()", lambda n, a: "gil[ngil++] = PyGILState_Ensure();"),
    "release": CStep("PyGILState_Release()",
                     lambda n, a: "PyGILState_Release(ngil > 0 ? gil[--ngil] : PyGILState_UNLOCKED);"),
    "save": CStep("PyEval_SaveThread()", lambda n, a: "ts = PyEval_SaveThread();"),
    "restore": CStep("PyEval_RestoreThread()", lambda n, a: "PyEval_RestoreThread(ts);"),
    "new_tstate": CStep("PyThreadState_New()", lambda n, a: "ts = PyThreadState_New(fr_interp);"),
    "clear_tstate": CStep("PyThreadState_Clear()", lambda n, a: "PyThreadState_Clear(ts);"),
    "delete_tstate": CStep("PyThreadState_Delete()", lambda n, a: "PyThreadState_Delete(ts);"),
    # sub-interpreters: fr_sub[i] is the interpreter thread i's new_interp made (prelude.c)
    "new_interp": CStep("Py_NewInterpreter()",
                        lambda n, a: "ts = fr_new_interp(&fr_sub[fr_self]); /* Py_NewInterpreter() */"),
    "end_interp": CStep("Py_EndInterpreter()",
                        lambda n, a: "ts = fr_end_interp(ts); /* Py_EndInterpreter(ts); PyThreadState_Swap(outer) */"),
    "new_tstate_in": CStep("PyThreadState_New()",
                           lambda n, a: f"ts = PyThreadState_New(fr_sub[{n.threads[a]}]);"),  # type: ignore[index]
    "python": CStep("PyRun_SimpleString()", lambda n, a: f"PyRun_SimpleString({c_string(a or '')});"),
    "block": CStep("read()", _block),
    "guard": CStep("PyInterpreterGuard_FromView()", lambda n, a: _NO_GUARDS),
    "unguard": CStep("PyInterpreterGuard_Close()", lambda n, a: _NO_GUARDS),
    "lock": CStep("pthread_mutex_lock()", lambda n, a: f"pthread_mutex_lock(&fr_lock_{n.locks[a]});"),  # type: ignore[index]
    "unlock": CStep("pthread_mutex_unlock()", lambda n, a: f"pthread_mutex_unlock(&fr_lock_{n.locks[a]});"),  # type: ignore[index]
    "signal": CStep("write() to a pipe", lambda n, a: (
        f"fr_write_bytes(fr_event_{n.events[a]}[1], {max(1, n.waiters.get(a, 0))});")),  # type: ignore[index,arg-type]
    "exit_guard": CStep("finirace.guard (atexit handler)", lambda n, a: "fr_exit_guard(1); /* stop */"),
    "exit_guard_park": CStep("finirace.guard (atexit handler)", lambda n, a: "fr_exit_guard(2); /* park */"),
    "wait": CStep("read() from a pipe", lambda n, a: f"fr_read_byte(fr_event_{n.events[a]}[0]);"),  # type: ignore[index]
    # finirace_guard.h: each result kept in the thread's locals; a failure sets fr_failed,
    # after which the thread skips its CPython calls (the emitter's "if (!fr_failed)")
    "fr_setup": CStep("FiniRace_Setup()", lambda n, a: "if (FiniRace_Setup() < 0) PyErr_Clear();"),
    "fr_guard": CStep("FiniRaceGuard_FromView()", lambda n, a: (
        "fr_g[nfr_g] = FiniRaceGuard_FromView(FiniRaceView_FromMain()); if (fr_g[nfr_g++] == NULL) fr_failed = 1;")),
    "fr_unguard": CStep("FiniRaceGuard_Close()",
                        lambda n, a: "FiniRaceGuard_Close(nfr_g > 0 ? fr_g[--nfr_g] : NULL);"),
    "fr_ensure": CStep("FiniRace_EnsureFromView()", lambda n, a: (
        "fr_tok[nfr_tok] = FiniRace_EnsureFromView(FiniRaceView_FromMain()); "
        "if (fr_tok[nfr_tok++] == NULL) fr_failed = 1;")),
    "fr_release": CStep("FiniRace_Release()",
                        lambda n, a: "FiniRace_Release(nfr_tok > 0 ? fr_tok[--nfr_tok] : NULL);"),
    "fr_save": CStep("FiniRace_BeginAllowThreads()",
                     lambda n, a: "fr_allow[nfr_allow++] = FiniRace_BeginAllowThreads();"),
    "fr_restore": CStep("FiniRace_EndAllowThreads()", lambda n, a: (
        "if (nfr_allow > 0 && fr_end_allow(&fr_allow[--nfr_allow], fr_python)) fr_failed = 1;")),
}

HELPER_KINDS = frozenset(k for k in C_STEPS if k.startswith("fr_"))


def statement(names: Names, kind: str, arg: str | None) -> str:
    """The C statement of one step (without markers)."""
    return C_STEPS[kind].statement(names, arg)
