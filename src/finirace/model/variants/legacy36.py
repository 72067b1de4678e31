"""3.6: the blocking era, but the GIL is made on first use.

3.6's ``Py_Initialize`` destroys any previous GIL (``_PyEval_FiniThreads``)
and makes none; ``PyEval_InitThreads`` makes it, called by
``PyGILState_Ensure`` for a thread's first state and by
``thread_PyThread_start_new_thread``.  ``PyEval_SaveThread`` and
``PyEval_RestoreThread`` act on the GIL only ``if (gil_created())``; the
``_Py_Finalizing`` check sits inside that branch.  So where nothing made a GIL
(hand-made thread states, ``PyThreadState_New`` + ``PyEval_RestoreThread``), or
after a re-initialization destroyed it, a thread restores a state that
finalization freed and goes on to use it.  With a GIL, 3.6 is 3.7–3.8: a late
thread waits for ever for the GIL the finalizer keeps.  Measured with gdb on
3.6.15 (``gil_locked`` is -1 at the late restore) and read in its
``PyEval_RestoreThread`` disassembly.

The first era: every switch not named here is off.
"""

from finirace.model.variant import Fate, Variant

VARIANT = Variant(
    name="legacy36",
    title="blocking era, lazy GIL",
    versions="3.6",
    released=((3, 6),),
    summary="as legacy once a GIL exists; without one a late thread restores its freed state and runs on",
    refs=("bpo-33608", "bpo-20891"),
    source="CPython 3.6 (read at v3.6.15)",
    fate=Fate("blocks for ever in take_gil"),
    lazy_gil=True,
)
