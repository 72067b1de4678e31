"""3.14: a late thread is parked for ever; thread states are refcounted.

Changed from 3.13:

* gh-87135: ``take_gil`` hangs a thread that must not run
  (``_PyThreadState_HangThread`` → ``PyThread_hang_thread``) instead of
  ``pthread_exit``; ``PyGILState_Ensure`` with no interpreter left hangs too
  (gh-124619) instead of crashing in ``new_threadstate``;
* gh-124878 (PR #130649): thread states are refcounted.  ``_Py_Finalize`` takes
  the others off the list (``_PyThreadState_RemoveExcept``), marks each
  ``_Py_THREAD_SHUTTING_DOWN``, and ``_PyThreadState_DeleteList`` clears and
  decrefs them ("they may still be referenced by an OS thread"); the thread's own
  reference goes in ``_PyThreadState_HangThread``.  ``_PyThreadState_MustExit``
  reads ``tstate->state``, not ``_PyRuntime._finalizing``.  So a state that was
  on the list when finalization began is never freed under its thread.
* ``_PyRuntimeState_Fini`` only clears the thread-local gilstate: a state made
  after ``Py_FinalizeEx`` returned is made (on the static main interpreter).
* What remains: a state made after ``_PyThreadState_RemoveExcept`` (a C thread's
  ``PyGILState_Ensure`` during module teardown, before ``_PyGILState_Fini``) is
  never marked.  Its ``take_gil`` passes the check and waits; ``PyInterpreterState_Delete``
  releases the GIL (``_PyThreadState_Detach``) and ``zapthreads`` frees it with
  ``free_threadstate``, ignoring the count; the thread takes the GIL and reads it
  (gh-124619's 3.14.7 report, ``bind_gilstate_tstate`` from ``_PyThreadState_Attach``).
  The catalog case ``ensure-during-fini``.
"""

from finirace.model.variant import Fate
from finirace.model.variants.exit313 import VARIANT as EXIT313

VARIANT = EXIT313.then(
    name="hang",
    title="hang era",
    versions="3.14",
    released=((3, 14),),
    summary="a late thread is parked for ever by PyThread_hang_thread; refcounted thread states",
    refs=("gh-87135", "gh-124619", "gh-124878"),
    source="CPython 3.14 (PR #130649 merged): pystate.c _PyThreadState_MustExit, _PyThreadState_HangThread, "
           "_PyThreadState_RemoveExcept, _PyThreadState_DeleteList, decref_threadstate, zapthreads, "
           "PyInterpreterState_Delete, PyGILState_Ensure; pylifecycle.c _Py_Finalize; ceval_gil.c take_gil",
    fate=Fate("parked for ever (PyThread_hang_thread); its thread state outlives finalization until then"),
    late_thread="hang",
    ensure_parks_without_interp=True,
    tstate_refcounts=True,
    runtime_fini="",
)
