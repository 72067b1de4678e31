"""Persistent sets: where one thread's next step is local, try only that step.

Sleep sets prune transitions; every reachable state is still visited.  A
*persistent set* prunes states: a set of enabled steps such that no run from
here that avoids them can do anything that depends on them (Godefroid,
*Partial-Order Methods for the Verification of Concurrent Systems*, 1996,
ch. 4; SPIN's ample sets, Holzmann and Peled 1994).  Exploring only that set
still reaches every deadlock: a run to a deadlock that avoids the set would
leave its steps enabled at the end.  Here the sets have one step: the next
step of a thread that the system calls *local* (``System.local``, optional;
the model's is :mod:`finirace.model.locality`): it touches nothing another
thread can touch while this one stands still, and it changes no outcome label.

Why the second condition.  The search's ends are not only deadlocks: a fault
or ``main`` returning ends a run while other threads could go on, and every
step reads ``"process"``, which those endings write.  A run that avoids the
local step ``t`` can end that way before ``t``; the reduced search sees the
same run end after ``t`` instead (``t`` commutes with everything before the
ending, and does not disable it).  The two ends differ only in ``t``'s thread
having taken ``t``, and ``local`` promises that this changes no label.  So,
by induction on the longest run from a state (the model's steps always move a
thread on, so runs are finite), every label reachable from a state is
reachable from it in the reduced graph.

With symmetry (:mod:`~finirace.explore.symmetric`) the argument holds per key:
a key is searched once, from the first state met with it, and the summary of
that state is exact by the above; a state that shares the key is its image
under a renaming, so its outcomes are the summary renamed.  A cycle (which the
model does not make) would need SPIN's proviso; the symmetric search stops
there and the caller searches without it.
"""

from __future__ import annotations

from typing import Callable

from finirace.model.system import State, System


def moves_of(system: System) -> Callable[[State, tuple[str, ...]], tuple[str, ...]]:
    """``moves(state, enabled, made=None)``: the threads to try from a state, one local step's
    thread when there is one (the first in thread order), else every enabled thread (``made``:
    their moves by thread, where the caller has them)."""
    local = getattr(system, "local", None)
    if local is None:
        return _all
    index = {t: i for i, t in enumerate(system.threads)}
    step = system.step
    # optional: whether a thread's next step may be local at all, asked before its step is made
    candidate = getattr(local, "candidate", None) or (lambda state, ti: True)

    def moves(state: State, enabled: tuple[str, ...], made: dict | None = None) -> tuple[str, ...]:
        # made: each enabled thread's (next state, transition), where the caller has them
        # (System.expand), else asked for with step
        if len(enabled) > 1:
            for t in enabled:
                ti = index[t]
                if not candidate(state, ti):
                    continue
                nxt, tr = made[t] if made is not None else step(state, t)
                if local(state, ti, tr, nxt):
                    return (t,)
        return enabled

    return moves


def _all(state: State, enabled: tuple[str, ...], made: dict | None = None) -> tuple[str, ...]:
    return enabled
