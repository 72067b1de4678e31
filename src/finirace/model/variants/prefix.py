"""The late-2019 3.9 development branch of the seed report (model only).

Runtime state had moved behind the thread state: ``PyEval_RestoreThread``
found the runtime through ``tstate->interp->runtime`` before taking the GIL,
so a thread waking after ``zapthreads`` freed its state read freed memory
(bpo-33608's crash on the FreeBSD buildbots).  Finalization itself was still
3.8's: other thread states freed at the end, by ``zapthreads``.
"""

from finirace.model.variant import Variant

VARIANT = Variant(
    name="prefix",
    title="pre-fix 3.9 branch",
    versions="3.9 development, late 2019",
    released=(),
    summary="PyEval_RestoreThread dereferences the freed thread state: use-after-free",
    refs=("bpo-33608", "bpo-39877"),
    restore_reads_tstate=True,
)
