"""Exhaustive search with symmetry reduction: one state per class of alike states.

The system names, for each state, a canonical key and the permutation of
threads that took the state there (``System.canonical``, see
:mod:`finirace.model.symmetry`).  The search caches keys: a state whose key was
met before is not searched again.

Why outcomes need carrying.  Outcome labels name threads (``clean, w2 hung``),
so the outcomes reachable from a state are not those of the state it shares a
key with, but those renamed.  Each key therefore keeps a *summary*: the
outcomes reachable from it, written in the key's own naming (each outcome as
its kind and the outcome of the thread in each slot).  A state that hits a
known key takes the key's summary, renamed through its own permutation, and
adds it to its own; a state's summary is complete once all its moves are, so
the search computes summaries depth first, in post-order.

The summaries are the cheapest-run tables of :mod:`~finirace.explore.cheapest`:
besides which outcomes a key reaches, they say at what least cost (fewest
preemptions, then steps), so the search that finds the outcomes also proves
each counterexample minimal, and the minimizer has nothing left to do.

Two limits, both checked:

* a cycle (a key met again while it is still being searched) would leave a
  summary incomplete when it is used; the search then gives up and the caller
  searches without symmetry.  The model's steps always move a thread forward,
  so this does not happen on the catalog, but the contract does not forbid it;
* sleep sets are not combined with it: a state searched with a sleep set has an
  incomplete summary, right only for the paths that led there.

Counterexamples are rebuilt at the end: from the initial state, step by step,
a move whose next state's table holds the outcome at the cost still needed
(the thread that ran last first).
"""

from __future__ import annotations

from finirace.explore.cheapest import CheapestRuns, Cycle
from finirace.explore.exploration import Exploration, ProgressFn
from finirace.model.system import System


def explore_symmetric(system: System, progress: ProgressFn | None, name: str,
                      budget: int | None = None) -> Exploration | None:
    """The exhaustive search over canonical keys; None when it met a cycle.  Each run it
    returns is the cheapest to its outcome (``Exploration.minimal``).  Past ``budget`` keys
    it raises :class:`~finirace.explore.cheapest.OverBudget`."""
    try:
        runs = CheapestRuns(system, progress, budget).search()
        for ok in runs.outcomes():
            found = runs.cheapest(ok)
            runs.rec.reached(found.outcome, found.choices, found.preemptions)
    except Cycle:
        return None
    return runs.rec.result(name, complete=True, minimal=True)
