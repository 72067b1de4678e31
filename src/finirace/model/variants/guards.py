"""3.15, PEP 788: interpreter guards hold finalization off.

Changed from 3.14: a guard taken before finalization makes ``Py_FinalizeEx``
wait (GIL released) until every guard is closed; a guard asked for once
finalization began is refused.  Threads that still use the legacy API late are
parked as in 3.14.
"""

from finirace.model.variant import Fate
from finirace.model.variants.hang import VARIANT as HANG

VARIANT = HANG.then(
    name="guards",
    title="guard era",
    versions="3.15",
    released=((3, 15),),
    summary="PEP 788 guards: finalization waits for them; late ones are refused",
    refs=("PEP 788", "gh-149101"),
    source="CPython 3.15 development (PEP 788)",
    fate=Fate("finalization waits for its guard; without one, parked as on 3.14"),
    guards=True,
)
