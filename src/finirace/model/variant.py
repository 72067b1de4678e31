"""What a model variant is: one CPython behaviour, as a handful of switches.

Why switches and not subclasses: the variants differ in a few places of the
same C functions (who reads what first in ``take_gil``, what a thread that must
not run does, when finalization frees the other thread states).  The common
operations (:mod:`finirace.model.operations`) read these fields where the C
code of the eras differs, so a variant module says only what differs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    title: str  # "pthread_exit era"
    versions: str  # "3.9–3.13"
    released: tuple[tuple[int, int], ...]  # (major, minor) releases it models; () = model only
    summary: str = ""
    refs: tuple[str, ...] = ()
    # PyEval_RestoreThread reads tstate->interp->runtime before take_gil (the late-2019 branch)
    restore_reads_tstate: bool = False
    # bpo-33608 proposal: threads hold struct {PyThreadState *ts;}, finalization nulls ts
    wrapper: bool = False
    # bpo-39877: take_gil asks the runtime (not the tstate) whether to give up, on entry and
    # each time its wait on the GIL's condition times out
    take_gil_checks_runtime: bool = False
    # take_gil reads tstate->interp before waiting (3.9+: the GIL hangs off the interpreter)
    take_gil_reads_tstate: bool = False
    # what a thread that must not run any more does: "exit" (PyThread_exit_thread) or
    # "hang" (PyThread_hang_thread, gh-87135)
    late_thread: str = "exit"
    # Py_FinalizeEx frees the other thread states right after setting _finalizing
    # (_PyThreadState_DeleteExcept, 3.9+) instead of in zapthreads at the very end
    frees_others_early: bool = False
    # gh-124619: PyGILState_Ensure with no interpreter parks the thread instead of crashing
    ensure_parks_without_interp: bool = False
    # PEP 788 interpreter guards; without them guard/unguard are no-ops
    guards: bool = False
    # gh-104690: threading refuses to start a thread once the interpreter is finalizing
    refuses_thread_start: bool = False
    # 3.6: the GIL is made on first use (PyEval_InitThreads, from PyGILState_Ensure's new-state
    # path and thread_PyThread_start_new_thread), never by Py_Initialize, which destroys the
    # previous runtime's GIL (_PyEval_FiniThreads).  While none exists, PyEval_SaveThread and
    # PyEval_RestoreThread only swap _PyThreadState_Current: no take_gil, no _Py_Finalizing check
    lazy_gil: bool = False
