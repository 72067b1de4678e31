"""3.7–3.8: a late thread blocks for ever in ``take_gil``.

``Py_FinalizeEx`` keeps the GIL to the end and never drops it, so a thread
that wants it after finalization began waits on the GIL's condition for ever
(``take_gil`` has no finalization check; ``PyEval_RestoreThread`` checks only
after the GIL was taken, which never happens).  ``zapthreads`` frees the
blocked thread's state, but the thread never touches it again.  3.6 differs
where no GIL was made yet (``legacy36``).
"""

from finirace.model.variant import Variant

VARIANT = Variant(
    name="legacy",
    title="blocking era",
    versions="3.7–3.8",
    released=((3, 7), (3, 8)),
    summary="a late thread waits for ever for the GIL the finalizing thread keeps",
    refs=("bpo-33608",),
)
