"""Minimization: the simplest run to each outcome, before a user sees it.

"Simplest" is fewest preemptions first, then fewest steps: a preemption is a
switch a reader has to believe, a step is only a line to read.  The search is a
Dijkstra over ``(state, previous thread)`` nodes with the cost pair
``(preemptions, steps)`` (both only grow along a run), so the first time an
outcome label is settled its run is a true minimum over *all* interleavings,
not only among the ones the exploring strategy happened to meet.  It stops as
soon as every label it was asked about is settled.

It walks the unreduced graph, so it has a budget of nodes; past it, each label
keeps the best run the strategy found (which the strategy already chose as the
fewest preemptions, then steps, among the runs it met).
"""

from __future__ import annotations

import heapq
from itertools import count

from finirace.explore.exploration import Found, collector_paused
from finirace.explore.trace import is_preemption
from finirace.model.system import State, System

DEFAULT_BUDGET = 200_000


@collector_paused()
def minimize(system: System, found: tuple[Found, ...], budget: int = DEFAULT_BUDGET) -> tuple[Found, ...]:
    """The same outcomes, each with the simplest run the budget allows to find."""
    if not found:
        return found
    wanted = {f.outcome.label: f for f in found}
    best: dict[str, Found] = {}
    index = {t: i for i, t in enumerate(system.threads)}
    start = (system.initial(), None)
    dist: dict[tuple[State, str | None], tuple[int, int]] = {start: (0, 0)}
    parent: dict[tuple[State, str | None], tuple[tuple[State, str | None], int] | None] = {start: None}
    tick = count()
    heap = [(0, 0, next(tick), start)]
    while heap and len(best) < len(wanted) and len(dist) <= budget:
        pre, steps, _, node = heapq.heappop(heap)
        if dist.get(node) != (pre, steps):
            continue
        state, previous = node
        outcome = system.outcome(state)
        if outcome is not None:
            label = outcome.label
            if label in wanted and label not in best:
                best[label] = Found(outcome, _choices(parent, node), pre)
            continue
        enabled = system.enabled(state)
        for t in enabled:
            nxt, _ = system.step(state, t)
            child = (nxt, t)
            cost = (pre + is_preemption(previous, enabled, t), steps + 1)
            old = dist.get(child)
            if old is None or cost < old:
                dist[child] = cost
                parent[child] = (node, index[t])
                heapq.heappush(heap, (cost[0], cost[1], next(tick), child))
    return tuple(best.get(label, f) for label, f in wanted.items())


def _choices(parent, node) -> tuple[int, ...]:
    out = []
    link = parent[node]
    while link is not None:
        node, choice = link
        out.append(choice)
        link = parent[node]
    return tuple(reversed(out))
