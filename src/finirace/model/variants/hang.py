"""3.14: a late thread is parked for ever (``PyThread_hang_thread``).

``pthread_exit`` was not safe for C++ (gh-87135), so ``take_gil`` hangs the
thread instead; ``PyGILState_Ensure`` with no interpreter left parks the thread
too (gh-124619) instead of crashing in ``new_threadstate``.  Starting a thread
during finalization is refused (gh-104690).  A parked thread keeps whatever it
holds: anything that waits on it waits for ever.
"""

from finirace.model.variant import Variant

VARIANT = Variant(
    name="hang",
    title="hang era",
    versions="3.14",
    released=((3, 14),),
    summary="a late thread is parked for ever by PyThread_hang_thread",
    refs=("gh-87135", "gh-124619", "gh-104690"),
    take_gil_checks_runtime=True,
    take_gil_reads_tstate=True,
    late_thread="hang",
    frees_others_early=True,
    ensure_parks_without_interp=True,
    refuses_thread_start=True,
)
