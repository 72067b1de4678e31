"""3.15, PEP 788 as merged (gh-149101, PR #149116): interpreter guards.

Changed from 3.14: ``PyInterpreterGuard_FromView`` / ``PyInterpreterGuard_FromCurrent``
take a guard, ``PyInterpreterGuard_Close`` releases it.  ``make_pre_finalization_calls``
(after ``wait_for_thread_shutdown`` and the atexit handlers) closes the guards
with a compare-exchange (0 → ``_PyInterpreterGuard_GUARDS_NOT_ALLOWED``) only when
none is held; otherwise the finalizer detaches (GIL released), waits for the last
close, re-attaches and tries again, and a guard asked for meanwhile is granted.
Once closed, a guard is refused: ``PyInterpreterGuard_FromView`` returns NULL.
Threads that use the legacy API (``PyGILState_Ensure``) late are parked as in
3.14, with the same refcounted thread states.
"""

from finirace.model.variant import Fate
from finirace.model.variants.hang import VARIANT as HANG

VARIANT = HANG.then(
    name="guards",
    title="guard era",
    versions="3.15",
    released=((3, 15),),
    summary="PEP 788 guards: finalization waits (GIL released) until none is held; then new ones are refused",
    refs=("PEP 788", "gh-149101"),
    source="CPython main after PR #149116 (3.15): pylifecycle.c make_pre_finalization_calls, _Py_Finalize; "
           "pystate.c PyInterpreterGuard_FromView, PyInterpreterGuard_Close; Doc/c-api interpreter guards",
    fate=Fate("finalization waits for its guard; without one, parked as on 3.14"),
    guards=True,
)
