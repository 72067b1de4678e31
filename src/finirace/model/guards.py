"""PEP 788's interpreter guards, as a thread takes and closes one.

Why a module of its own: the scenario's ``guard``/``unguard`` steps
(:mod:`finirace.model.threads`) and the guard header's 3.15 names
(``fr_*`` on the ``guards`` era, :mod:`finirace.model.helper`) are the same two
C functions; finalization's side (``make_pre_finalization_calls`` closing the
guards and waiting for them) is in :mod:`finirace.model.lifecycle`.
"""

from __future__ import annotations

from finirace.model.hashed import evolve
from finirace.model.program import Ctx


def take(c: Ctx) -> bool:
    """PyInterpreterGuard_FromView / _FromCurrent: a guard, or False (NULL) once the interpreter
    began finalizing or its guards were closed."""
    c.read("runtime", "interp")
    rt = c.rt
    if rt.interp is None or rt.guards_closed or rt.finalizing is not None:
        return False
    c.write("interp")
    c.rt = evolve(rt, guards=rt.guards + 1)
    c.set_me(guards=c.me.guards + 1)
    return True


def close(c: Ctx) -> None:
    """PyInterpreterGuard_Close: the last one lets a finalization that waits go on
    (lifecycle's wait reads the count)."""
    c.read("interp")
    c.write("interp")
    c.rt = evolve(c.rt, guards=c.rt.guards - 1)
    c.set_me(guards=c.me.guards - 1)
    c.note = "closes its interpreter guard"
    c.finish()
