"""3.15, PEP 788: interpreter guards hold finalization off.

A guard taken before finalization makes ``Py_FinalizeEx`` wait (GIL released)
until every guard is closed; a guard asked for once finalization began is
refused.  Threads that still use the legacy API late are parked as in 3.14.
"""

from finirace.model.variant import Variant

VARIANT = Variant(
    name="guards",
    title="guard era",
    versions="3.15",
    released=((3, 15),),
    summary="PEP 788 guards: finalization waits for them; late ones are refused",
    refs=("PEP 788", "gh-149101"),
    take_gil_checks_runtime=True,
    take_gil_reads_tstate=True,
    late_thread="hang",
    frees_others_early=True,
    ensure_parks_without_interp=True,
    refuses_thread_start=True,
    guards=True,
)
