"""The late-2019 3.9 development branch of the seed report (model only).

Changed from 3.8: runtime state had moved behind the thread state, so
``PyEval_RestoreThread`` found the runtime through ``tstate->interp->runtime``
before taking the GIL, and a thread waking after ``zapthreads`` freed its state
read freed memory (bpo-33608's crash on the FreeBSD buildbots).  Finalization
itself was still 3.8's: other thread states freed at the end, by ``zapthreads``.
"""

from finirace.model.variant import Fate
from finirace.model.variants.legacy import VARIANT as LEGACY

VARIANT = LEGACY.then(
    name="prefix",
    title="pre-fix 3.9 branch",
    versions="3.9 development, late 2019",
    released=(),
    summary="PyEval_RestoreThread dereferences the freed thread state: use-after-free",
    refs=("bpo-33608", "bpo-39877"),
    source="CPython master, late 2019 (before bpo-39877)",
    fate=Fate("blocks in take_gil; woken after zapthreads, it reads its freed thread state (use-after-free)"),
    restore_reads_tstate=True,
)
