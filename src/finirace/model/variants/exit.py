"""3.9–3.10: a late thread is killed with ``pthread_exit`` inside ``take_gil``.

Changed from the 2019 branch and its proposed wrapper, neither of which was
released: bpo-39877 made ``take_gil`` ask the runtime, not the thread state,
whether to give up (``tstate_must_exit`` in ``Python/ceval_gil.h``: "Access
_PyRuntime directly rather than using tstate->interp->runtime"): on entry,
whenever its wait times out, and after taking the GIL.  Giving up is
``PyThread_exit_thread``; C++ code that unwinds through a ``noexcept`` frame
then calls ``std::terminate`` (gh-87135).  ``Py_FinalizeEx`` frees the other
thread states early (``_PyThreadState_DeleteExcept``, bpo-19466), and
``take_gil`` reads ``tstate->interp`` right after its entry check.  A thread that
``threading`` starts reads it earlier still: ``thread_run`` (3.9 ``t_bootstrap``)
calls ``_PyThreadState_Init``, which loads ``tstate->interp``, before any check.  The main
interpreter is a heap block (``PyInterpreterState_New``: ``PyMem_RawCalloc``),
freed by ``PyInterpreterState_Delete``, and ``new_threadstate`` reads it first
(``_PyRuntimeState *runtime = interp->runtime;``); the finalizer keeps the GIL
to the end.
"""

from finirace.model.variant import Fate
from finirace.model.variants.wrapper import VARIANT as WRAPPER

VARIANT = WRAPPER.then(
    name="exit",
    title="pthread_exit era",
    versions="3.9–3.10",
    released=((3, 9), (3, 10)),
    summary="a late thread is killed by PyThread_exit_thread inside take_gil",
    refs=("bpo-39877", "bpo-19466", "gh-87135"),
    source="CPython 3.9, 3.10 (v3.10.13): ceval_gil.h take_gil, tstate_must_exit; pylifecycle.c "
           "Py_FinalizeEx; pystate.c _PyThreadState_DeleteExcept, zapthreads, PyInterpreterState_Delete",
    fate=Fate("killed with pthread_exit in take_gil", cxx="C++ frames on its stack: std::terminate, abort"),
    restore_reads_tstate=False,
    wrapper=False,
    take_gil_checks_runtime=True,
    take_gil_reads_tstate=True,
    frees_others_early=True,
    new_threadstate_reads_interp_first=True,
    thread_run_reads_tstate=True,
)
