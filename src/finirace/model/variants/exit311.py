"""3.11: as 3.9–3.10, but the main interpreter is statically allocated.

Changed from 3.10 (bpo-45953): the main interpreter is ``_PyRuntime._main_interpreter``
and its first thread state ``interp->_initial_thread``; ``free_interpreter`` frees
neither ("The main interpreter is statically allocated so should not be freed").
After ``Py_Finalize`` a read through a stale ``tstate->interp`` reads that static
memory, not a freed heap block: valgrind cannot see it, and the model does not
call it a use-after-free.  Checked on the installed interpreters:
``PyInterpreterState_Main()`` lies inside the ``_PyRuntime`` symbol on 3.11.7,
3.12.1 and 3.13.0 and on the heap on 3.9.18 and 3.10.13; in ``reinit-wake`` and
``clear-after`` valgrind reports reads of a block "alloc'd at
PyInterpreterState_New, free'd at finalize_interp_delete" on 3.10.13 and none on
3.11.7 (only the worker's ``PyThreadState``).  The finalizer still keeps the GIL
to the end (3.11.7's ``PyInterpreterState_Delete`` calls no ``_PyEval_ReleaseLock``).
3.11.7's ``thread_run`` asks ``_PyThreadState_MustExit`` before it touches the new
thread's state (``_PyThreadState_SetCurrent``); 3.11.2 did not (its debug build faults
there on a state freed at finalization), and this era follows 3.11.7.
"""

from finirace.model.variants.exit import VARIANT as EXIT

VARIANT = EXIT.then(
    name="exit311",
    title="pthread_exit era, static main interpreter",
    versions="3.11",
    released=((3, 11),),
    summary="as 3.9–3.10; the main interpreter is static, so stale reads through it are not heap use-after-frees",
    refs=("bpo-45953", "bpo-39877", "gh-87135"),
    source="CPython 3.11 (v3.11.7): pystate.c free_interpreter, PyInterpreterState_New (&runtime->_main_interpreter); "
           "as 3.10 otherwise",
    static_main_interp=True,
    thread_run_reads_tstate=False,
)
