"""3.13: as 3.12, but ``_PyRuntime_Finalize`` leaves the runtime's locks usable.

Changed from 3.12: the runtime's locks are static ``PyMutex`` (``HEAD_LOCK`` no
longer dereferences a lock ``_PyRuntimeState_Fini`` freed), but the gilstate TSS
key is deleted, so a thread state made after ``Py_FinalizeEx`` returned dies in
``bind_gilstate_tstate``: "Fatal Python error: gilstate_tss_set: failed to set
current tstate (TSS)" (measured on 3.13.0: ``new-tstate-after``; 3.12.1 crashes
in ``HEAD_LOCK`` instead).  ``_Py_Finalize`` takes the other states off the list
and frees them at once (``_PyThreadState_RemoveExcept`` + ``_PyThreadState_DeleteList(list)``,
which calls ``free_threadstate``: no reference count yet), and
``_PyThreadState_MustExit`` still reads ``_PyRuntime._finalizing``; no
``_PyThreadState_HangThread`` (3.13.0's libpython has neither symbol).
``PyInterpreterState_Delete`` releases the GIL with ``_PyThreadState_Detach(tcur)``.
``Py_FinalizeEx`` ends the sub-interpreters still alive (``finalize_subinterpreters``,
after module teardown) instead of the fatal error "remaining subinterpreters".
"""

from finirace.model.variants.exit312 import VARIANT as EXIT312

VARIANT = EXIT312.then(
    name="exit313",
    title="pthread_exit era, gilstate TSS deleted at exit",
    versions="3.13",
    released=((3, 13),),
    summary="as 3.12; a thread state made after Py_FinalizeEx returned is a fatal error (gilstate TSS), not a crash",
    refs=("gh-104341", "gh-109793"),
    source="CPython 3.13 (v3.13.0): pystate.c _PyRuntimeState_Fini, bind_gilstate_tstate, gilstate_tss_set, "
           "_PyThreadState_RemoveExcept, _PyThreadState_DeleteList, PyInterpreterState_Delete (_PyThreadState_Detach); "
           "pylifecycle.c _PyThreadState_MustExit, finalize_subinterpreters",
    runtime_fini="tss",
    subinterpreters_at_exit="end",
)
