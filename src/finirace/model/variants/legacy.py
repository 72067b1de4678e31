"""3.7–3.8: a late thread blocks for ever in ``take_gil``.

Changed from 3.6: ``Py_Initialize`` calls ``PyEval_InitThreads`` (bpo-20891),
so there always is a GIL.  ``Py_FinalizeEx`` keeps it to the end and never
drops it, so a thread that wants it after finalization began waits on the
GIL's condition for ever (``take_gil`` has no finalization check;
``PyEval_RestoreThread`` checks only after the GIL was taken, which never
happens).  ``zapthreads`` frees the blocked thread's state, but the thread
never touches it again.  ``PyInterpreterState_Delete`` of the main interpreter
is a fatal error ("remaining subinterpreters") while a sub-interpreter is alive
(3.6 left them), and ``new_interpreter`` words its uninitialized error anew
(3.8 exits through ``Py_ExitStatusException``, 3.7 aborts: both fatal errors).
"""

from finirace.model.variants.legacy36 import VARIANT as LEGACY36

VARIANT = LEGACY36.then(
    name="legacy",
    title="blocking era",
    versions="3.7–3.8",
    released=((3, 7), (3, 8)),
    summary="a late thread waits for ever for the GIL the finalizing thread keeps",
    refs=("bpo-33608",),
    source="CPython 3.7 and 3.8",
    lazy_gil=False,
    subinterpreters_at_exit="fatal",
    new_interp_uninitialized="new_interpreter: Py_Initialize must be called first",
)
