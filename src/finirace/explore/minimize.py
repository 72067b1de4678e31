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
from finirace.explore.exploration import KEEP, Found, asker, collector_paused
from finirace.model.system import State, System

DEFAULT_BUDGET = 200_000


@collector_paused()
def minimize(system: System, found: tuple[Found, ...], budget: int = DEFAULT_BUDGET,
             known: dict | None = None) -> tuple[Found, ...]:
    """The same outcomes, each with the simplest run the budget allows to find (``known``: a
    table of asks, :func:`~finirace.explore.exploration.asker`'s, that Dijkstra adds what it
    asked to, for the replays after)."""
    if not found:
        return found
    if getattr(system, "canonical", None) is None:
        return dijkstra(system, found, budget, known)
    try:
        # no more keys than the default search would give its own pass: past them it searched
        # with persistent sets instead, and this pass would stop at its budget after the time
        runs = CheapestRuns(system, budget=min(budget, CHEAPEST_KEYS)).search()
    except OverBudget:
        return found
    except Cycle:
        return dijkstra(system, found, budget, known)
    reached = runs.labels()
    return tuple(runs.cheapest(reached[f.outcome.label]) if f.outcome.label in reached else f for f in found)


def dijkstra(system: System, found: tuple[Found, ...], budget: int, known: dict | None = None) -> tuple[Found, ...]:
    """The minimum by a shortest-path search over the unreduced graph (any system, cycles
    too), within ``budget`` nodes.

    A node is (state, thread that ran last), numbered: ``state's number * (threads + 1) +
    thread's index + 1`` (0: none yet).  Why numbers: the search's tables are looked up
    several times per node, and a state's hash is a Python call (model/hashed.py) where an
    int's is not; each state is hashed once, when the step that made it is first asked
    (:class:`_Asker`).  The heap pops in the same order as over (state, thread) pairs."""
    wanted = {f.outcome.label: f for f in found}
    best: dict[str, Found] = {}
    width = len(system.threads) + 1
    ask = _Asker(system)
    start = ask.number(system.initial()) * width
    dist: dict[int, tuple[int, int]] = {start: (0, 0)}
    parent: dict[int, tuple[int, int] | None] = {start: None}
    tick = count()
    heap = [(0, 0, next(tick), start)]
    pop, push = heapq.heappop, heapq.heappush
    while heap and len(best) < len(wanted) and len(dist) <= budget:
        pre, steps, _, node = pop(heap)
        if dist[node] != (pre, steps):
            continue
        sid, previous = divmod(node, width)
        outcome, enabled, moves = ask(sid)
        if outcome is not None:
            label = outcome.label
            if label in wanted and label not in best:
                best[label] = Found(outcome, _choices(parent, node), pre)
            continue
        # trace.is_preemption, inlined: every move but the previous thread's preempts it
        # when it could have gone on
        preempts = previous and previous - 1 in enabled
        steps += 1
        for ti, nid in moves:
            child = nid * width + ti + 1
            cost = (pre + 1, steps) if preempts and previous != ti + 1 else (pre, steps)
            old = dist.get(child)
            if old is None or cost < old:
                dist[child] = cost
                parent[child] = (node, ti)
                push(heap, (cost[0], steps, next(tick), child))
    if known is not None:
        ask.share(known)
    return tuple(best.get(label, f) for label, f in wanted.items())


class _Asker:
    """A numbered state's outcome, enabled threads (their indices) and moves ((thread index,
    next state's number), threads order), asked of the system once per state.

    Why: Dijkstra meets a state once per thread that ran last (its nodes are
    (state, previous thread)), and asking the machine is most of its time.  With
    the system's ``expand`` hook (:mod:`~finirace.model.moves`) the outcome and
    every move come in one ask, and the moves that commute with the step that
    made the state are carried over from the state before (the first one that
    made it) instead of run again: what the searches do (explore/exhaustive.py).
    Without the hook: ``outcome``, ``enabled``, then ``step`` for each."""

    def __init__(self, system: System) -> None:
        self.ask = asker(system)
        self.index = {t: i for i, t in enumerate(system.threads)}
        self.numbers: dict[State, int] = {}
        self.states: list[State] = []
        self.asked: list[tuple | None] = []
        self.came: dict[int, tuple] = {}  # a state made, not asked yet: (its maker's ask, the mover)
        self.answers: list[tuple] = []  # (state number, what the system answered), for share

    def share(self, known: dict) -> None:
        """Add what the system answered to ``known`` (exploration.asker's table), for the
        replays after: in one go at the end, where adding each as it was asked cost
        Dijkstra a tenth more (the states' hashes are kept, so this is a C loop)."""
        states = self.states
        known.update([(states[sid], got) for sid, got in self.answers[:max(0, KEEP - len(known))]])

    def number(self, state: State) -> int:
        n = self.numbers.setdefault(state, len(self.states))
        if n == len(self.states):
            self.states.append(state)
            self.asked.append(None)
        return n

    def __call__(self, sid: int) -> tuple:
        got = self.asked[sid]
        if got is not None:
            return got
        got = outcome, ms, made = self.ask(self.states[sid], self.came.pop(sid, None))
        self.answers.append((sid, got))
        index, number, asked, came = self.index, self.number, self.asked, self.came
        enabled = frozenset([index[t] for t in ms])
        moves = tuple([(index[t], number(m[0])) for t, m in ms.items()])
        if made is not None:
            for (ti, nid), t in zip(moves, ms):
                if asked[nid] is None:
                    came.setdefault(nid, (made, t))
        got = asked[sid] = (outcome, enabled, moves)
        return got


def _choices(parent, node) -> tuple[int, ...]:
    out = []
    link = parent[node]
    while link is not None:
        node, choice = link
        out.append(choice)
        link = parent[node]
    return tuple(reversed(out))
