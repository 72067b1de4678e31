"""Which program of atomic steps each scenario step kind stands for.

The step vocabulary is the scenario layer's (:data:`finirace.scenario.STEP_KINDS`);
this table gives each name its meaning in the model.  A kind missing here is a
model gap, caught by a test that walks the whole vocabulary.
"""

from __future__ import annotations

from typing import Callable

from finirace.model import lifecycle, pystate, threads
from finirace.model.program import Program
from finirace.model.variant import Variant

BUILDERS: dict[str, Callable[[Variant], Program]] = {
    "init": lifecycle.init,
    "finalize": lifecycle.finalize,
    "spawn": threads.spawn,
    "join": threads.join,
    "start_thread": threads.start_thread,
    "ensure": pystate.ensure,
    "release": pystate.release,
    "save": pystate.save,
    "restore": pystate.restore,
    "new_tstate": pystate.new_tstate,
    "clear_tstate": pystate.clear_tstate,
    "delete_tstate": pystate.delete_tstate,
    "python": threads.python,
    "guard": threads.guard,
    "unguard": threads.unguard,
    "lock": threads.lock,
    "unlock": threads.unlock,
    "signal": threads.signal,
    "wait": threads.wait,
}


def program_for(kind: str, arg: str | None, variant: Variant) -> Program:
    """The atomic steps of one scenario step under a variant."""
    if kind == "block":
        return threads.block(variant, until=arg is not None)
    return BUILDERS[kind](variant)


def known_kinds() -> frozenset[str]:
    return frozenset(BUILDERS) | {"block"}
