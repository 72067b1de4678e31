"""3.12: as 3.11, but the finalizer releases the GIL before ``zapthreads``.

Changed from 3.11 (gh-104341): ``PyInterpreterState_Delete`` unsets the current
thread state and releases the GIL before it frees the remaining ones
(``_PyEval_ReleaseLock(interp, NULL)``; 3.13 and later ``_PyThreadState_Detach(tcur)``),
so after ``Py_Finalize`` the GIL is unlocked, no longer held by the finalizer
(3.12.1's libpython calls ``_PyEval_ReleaseLock`` there, 3.11.7's does not).  A
late waiter takes it and meets the re-check (``_PyThreadState_MustExit``, which
still reads ``_PyRuntime._finalizing`` first: 3.12.1 disassembly) and exits, as
before: no catalog verdict moves, but this is the release that 3.14's window
needs (``hang``), so it is modelled where the source has it.  gh-104690:
threading refuses to start a thread once finalizing (``RuntimeError: can't
create new thread at interpreter shutdown``).  Thread-state swaps go through the
shared GIL: ``new_interpreter`` detaches the caller's state and
``init_interp_create_gil`` takes the GIL for the new one; ``PyThreadState_Swap``
is ``_PyEval_ReleaseLock`` + ``_PyEval_AcquireLock``.
"""

from finirace.model.variants.exit311 import VARIANT as EXIT311

VARIANT = EXIT311.then(
    name="exit312",
    title="pthread_exit era, GIL released before zapthreads",
    versions="3.12",
    released=((3, 12),),
    summary="as 3.11; PyInterpreterState_Delete releases the GIL before zapthreads; no thread start while finalizing",
    refs=("gh-104341", "gh-104690", "gh-109793"),
    source="CPython 3.12 (v3.12.1): pystate.c PyInterpreterState_Delete (_PyEval_ReleaseLock before zapthreads), "
           "_PyThreadState_MustExit, _PyThreadState_Swap; pylifecycle.c new_interpreter; ceval_gil.c take_gil; "
           "_threadmodule.c thread_PyThread_start_new_thread",
    releases_gil_before_zapthreads=True,
    refuses_thread_start=True,
    swap_takes_gil=True,
)

