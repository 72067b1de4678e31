"""3.14: a late thread is parked for ever (``PyThread_hang_thread``).

Changed from 3.13: ``pthread_exit`` was not safe for C++ (gh-87135), so
``take_gil`` hangs the thread instead; ``PyGILState_Ensure`` with no
interpreter left parks the thread too (gh-124619) instead of crashing in
``new_threadstate``.  Starting a thread during finalization is refused
(gh-104690).  A parked thread keeps whatever it holds: anything that waits on
it waits for ever.
"""

from finirace.model.variant import Fate
from finirace.model.variants.exit import VARIANT as EXIT

VARIANT = EXIT.then(
    name="hang",
    title="hang era",
    versions="3.14",
    released=((3, 14),),
    summary="a late thread is parked for ever by PyThread_hang_thread",
    refs=("gh-87135", "gh-124619", "gh-104690"),
    source="CPython 3.14",
    fate=Fate("parked for ever (PyThread_hang_thread)"),
    late_thread="hang",
    ensure_parks_without_interp=True,
    refuses_thread_start=True,
)
