"""Minimization: the simplest run to each outcome, before a user sees it.

"Simplest" is fewest preemptions first, then fewest steps: a preemption is a
switch a reader has to believe, a step is only a line to read.  The minimum is
over *all* interleavings, not only among the runs the exploring strategy
happened to meet.  Two ways to find it, both exact:

* where some threads are alike (the system has the ``canonical`` hook), the
  cheapest-run tables of :mod:`~finirace.explore.cheapest`: one depth-first
  pass over the symmetry-reduced graph gives each state's least cost to each
  outcome, and a run that attains it is rebuilt.  The default exhaustive
  search makes those tables itself and returns runs marked ``minimal``, so
  nothing is done again; after another strategy the pass runs here;
* otherwise (and for a system whose steps can come back to a state they left,
  which the tables cannot cost in post-order) a Dijkstra search over
  ``(state, previous thread)`` nodes with the cost pair ``(preemptions,
  steps)`` (both only grow along a run), stopping once every label asked
  about is settled: on small graphs that stop comes well before a whole pass.

Either has a budget (keys for the pass, no more than the default search gives
its own pass, :data:`~finirace.explore.exhaustive.CHEAPEST_KEYS`; nodes for
Dijkstra); past it, each label keeps the best run the strategy found (which the strategy already chose
as the fewest preemptions, then steps, among the runs it met).
"""

from __future__ import annotations

import heapq
from itertools import count

from finirace.explore.cheapest import CheapestRuns, Cycle, OverBudget
from finirace.explore.exhaustive import CHEAPEST_KEYS
from finirace.explore.exploration import Found, asker, collector_paused
from finirace.model.system import State, System

DEFAULT_BUDGET = 200_000


@collector_paused()
def minimize(system: System, found: tuple[Found, ...], budget: int = DEFAULT_BUDGET) -> tuple[Found, ...]:
    """The same outcomes, each with the simplest run the budget allows to find."""
    if not found:
        return found
    if getattr(system, "canonical", None) is None:
        return dijkstra(system, found, budget)
    try:
        # no more keys than the default search would give its own pass: past them it searched
        # with persistent sets instead, and this pass would stop at its budget after the time
        runs = CheapestRuns(system, budget=min(budget, CHEAPEST_KEYS)).search()
    except OverBudget:
        return found
    except Cycle:
        return dijkstra(system, found, budget)
    reached = runs.labels()
    return tuple(runs.cheapest(reached[f.outcome.label]) if f.outcome.label in reached else f for f in found)


def dijkstra(system: System, found: tuple[Found, ...], budget: int) -> tuple[Found, ...]:
    """The minimum by a shortest-path search over the unreduced graph (any system, cycles
    too), within ``budget`` nodes."""
    wanted = {f.outcome.label: f for f in found}
    best: dict[str, Found] = {}
    index = {t: i for i, t in enumerate(system.threads)}
    start = (system.initial(), None)
    dist: dict[tuple[State, str | None], tuple[int, int]] = {start: (0, 0)}
    parent: dict[tuple[State, str | None], tuple[tuple[State, str | None], int] | None] = {start: None}
    ask = _Asker(system)
    tick = count()
    heap = [(0, 0, next(tick), start)]
    while heap and len(best) < len(wanted) and len(dist) <= budget:
        pre, steps, _, node = heapq.heappop(heap)
        if dist.get(node) != (pre, steps):
            continue
        state, previous = node
        outcome, enabled, moves = ask(state)
        if outcome is not None:
            label = outcome.label
            if label in wanted and label not in best:
                best[label] = Found(outcome, _choices(parent, node), pre)
            continue
        # trace.is_preemption, inlined: every move but the previous thread's preempts it
        # when it could have gone on
        preempts = previous is not None and previous in enabled
        for t, nxt in moves:
            child = (nxt, t)
            cost = (pre + (preempts and previous != t), steps + 1)
            old = dist.get(child)
            if old is None or cost < old:
                dist[child] = cost
                parent[child] = (node, index[t])
                heapq.heappush(heap, (cost[0], cost[1], next(tick), child))
    return tuple(best.get(label, f) for label, f in wanted.items())


class _Asker:
    """A state's outcome, enabled threads and moves ((thread, next state), threads order),
    asked of the system once per state.

    Why: Dijkstra meets a state once per thread that ran last (its nodes are
    (state, previous thread)), and asking the machine is most of its time.  With
    the system's ``expand`` hook (:mod:`~finirace.model.moves`) the outcome and
    every move come in one ask, and the moves that commute with the step that
    made the state are carried over from the state before (the first one that
    made it) instead of run again: what the searches do (explore/exhaustive.py).
    Without the hook: ``outcome``, ``enabled``, then ``step`` for each."""

    def __init__(self, system: System) -> None:
        self.ask = asker(system)
        self.asked: dict[State, tuple] = {}
        self.came: dict[State, tuple] = {}  # a state made, not asked yet: (its maker's ask, the mover)

    def __call__(self, state: State) -> tuple:
        got = self.asked.get(state)
        if got is not None:
            return got
        outcome, ms, made = self.ask(state, self.came.pop(state, None))
        enabled = tuple(ms)
        moves = tuple([(t, m[0]) for t, m in ms.items()])
        if made is not None:
            came = self.came
            for t, nxt in moves:
                if nxt not in self.asked:
                    came.setdefault(nxt, (made, t))
        got = self.asked[state] = (outcome, enabled, moves)
        return got


def _choices(parent, node) -> tuple[int, ...]:
    out = []
    link = parent[node]
    while link is not None:
        node, choice = link
        out.append(choice)
        link = parent[node]
    return tuple(reversed(out))
