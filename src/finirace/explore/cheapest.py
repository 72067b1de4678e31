"""The cheapest run from every state to every outcome, over the symmetry-reduced graph.

A counterexample is shown as its simplest run: fewest preemptions, then fewest
steps (:mod:`~finirace.explore.minimize`).  This module finds those runs
exactly, in one depth-first pass over the states the search would cache
anyway, instead of a shortest-path search over the unreduced graph.

The cost of a run is one number, ``preemptions * PREEMPTION + steps``: a
preemption outweighs any number of steps, so comparing the numbers compares
the pairs.  Whether a step is a preemption depends on the thread that ran
before it (a switch away from a thread that could have gone on), so the cost
of going on from a state depends on that thread too.  Each state (each key)
therefore keeps, per thread slot, what its move leads to: the cheapest cost
to each outcome from the state that move reaches, *given* that the mover ran
last.  From those, the cheapest cost from the state given any previous thread
is a minimum over its moves, adding a step, and a preemption to every move
but the previous thread's when that thread is enabled.  These minima
(*projections*) are computed when asked for and kept, interned: states far
from the start share a handful.

Symmetry.  The pass walks the same graph as the symmetric search (the
system's ``canonical`` hook, :mod:`finirace.model.symmetry`): states that are
images of each other under a swap of alike threads share a key, and the key's
tables are written in its own naming.  Costs do not change under renaming (a
preemption depends only on which thread ran last and which can run, both
renamed alike); outcome keys do, and are renamed as summaries are
(:mod:`~finirace.explore.symmetric`).  So the cost found for an outcome is the
least over *all* interleavings, not only over the representatives.  Without
the hook, keys are the system's plain ``key`` and nothing is renamed.

Tables are complete in post-order; a key met again while still being searched
(a cycle, which the model's steps never make) raises :class:`Cycle`, and the
caller falls back to a shortest-path search.  ``budget`` bounds the keys
searched (:class:`OverBudget`).

The run itself is rebuilt at the end: from the initial state, step by step,
a move whose cost plus what its next state still needs equals what this
state needs (the thread that ran last first, then thread order).
"""

from __future__ import annotations

from finirace.explore.exploration import Found, ProgressFn, Recorder, state_key
from finirace.explore.replay import ModelError
from finirace.model.system import State, System
from finirace.outcome import RunOutcome, ThreadOutcome

PREEMPTION = 1 << 32  # more than the steps of any run
STEP = 1

Costs = dict  # outcome key -> cost, in one key's naming


_NONE: dict = {}  # no thread asleep: nothing inherited (System.expand)


class Cycle(Exception):
    """A key was met again while it was being searched: its tables would be incomplete."""


class OverBudget(Exception):
    """More keys than the budget allows.  ``runs``: the tables as far as they got (the keys
    searched to the end are exact, :meth:`CheapestRuns.summaries`)."""

    def __init__(self, runs: "CheapestRuns | None" = None) -> None:
        super().__init__()
        self.runs = runs


def outcome_key(outcome: RunOutcome) -> tuple:
    """What an outcome's label says: the kind, and each thread's outcome (None: finished or cut short)."""
    return (outcome.kind, tuple(None if t.outcome in (None, ThreadOutcome.FINISHED) else t.outcome
                                for t in outcome.threads))


def label_of(ok: tuple, threads: tuple[str, ...]) -> str:
    """The outcome label an outcome key stands for (``RunOutcome.label``)."""
    return ", ".join([ok[0].value, *(f"{t} {o.value}" for t, o in zip(threads, ok[1]) if o is not None)])


def rename(ok: tuple, q: tuple[int, ...]) -> tuple:
    """An outcome key with the thread in slot c moved to slot q[c]."""
    outs = [None] * len(q)
    for c, o in enumerate(ok[1]):
        outs[q[c]] = o
    return (ok[0], tuple(outs))


class _Node:
    """What a key leads to: per slot, the costs its move leads to (None: that thread cannot
    run), or, at an outcome, only that outcome; and its projections, by previous slot (the
    last entry: no preemption possible).  Keys whose moves lead to the same costs share one
    node, and so its projections."""

    __slots__ = ("moves", "projections")

    def __init__(self, moves: tuple | None, n: int, terminal: Costs | None = None) -> None:
        self.moves = moves
        self.projections: list = [terminal] * (n + 1) if terminal is not None else [None] * (n + 1)


class CheapestRuns:
    """The tables of one system, filled by :meth:`search`."""

    def __init__(self, system: System, progress: ProgressFn | None = None, budget: int | None = None) -> None:
        self.system = system
        self.n = n = len(system.threads)
        self.identity = tuple(range(n))
        self.index = {t: i for i, t in enumerate(system.threads)}
        canonical = getattr(system, "canonical", None)
        if canonical is None:
            key, identity = state_key(system), self.identity
            canonical = lambda state: (key(state), identity)  # noqa: E731
        self.canonical = canonical
        self.rec = Recorder(progress)
        self.budget = budget
        self.done: dict[object, _Node] = {}
        self._interned: dict[frozenset, Costs] = {}
        self._renamed: dict[tuple[int, tuple[int, ...]], Costs] = {}
        self._nodes: dict[tuple, _Node] = {}  # by the ids of its moves' costs
        self.root: tuple[object, tuple[int, ...], _Node] | None = None
        self._walked: dict[State, tuple] = {}  # states on the cheapest runs, and their moves

    # -- costs ------------------------------------------------------------------------
    def _intern(self, costs: Costs) -> Costs:
        return self._interned.setdefault(frozenset(costs.items()), costs)

    def _node(self, moves: list) -> _Node:
        ids = tuple([id(m) for m in moves])  # costs are interned: equal costs, one object
        node = self._nodes.get(ids)
        if node is None:
            node = self._nodes[ids] = _Node(tuple(moves), self.n)
        return node

    def _terminal(self, ok: tuple) -> _Node:
        costs = self._intern({ok: 0})
        node = self._nodes.get((None, id(costs)))  # never the ids of a key's moves
        if node is None:
            node = self._nodes[(None, id(costs))] = _Node(None, self.n, costs)
        return node

    def project(self, node: _Node, prev: int | None) -> Costs:
        """The cheapest cost to each outcome from a key, given the slot that ran last."""
        moves = node.moves
        if prev is None or moves is None or moves[prev] is None:
            prev = -1  # nobody to preempt
        got = node.projections[prev]
        if got is None:
            out: Costs = {}
            for s, costs in enumerate(moves):
                if costs is None:
                    continue
                add = STEP if prev < 0 or s == prev else STEP + PREEMPTION
                for ok, c in costs.items():
                    c += add
                    old = out.get(ok)
                    if old is None or c < old:
                        out[ok] = c
            got = node.projections[prev] = self._intern(out)
        return got

    def carry(self, costs: Costs, child: tuple[int, ...], parent: tuple[int, ...]) -> Costs:
        """A child key's costs in its parent key's naming."""
        q = [0] * self.n
        for i in range(self.n):
            q[child[i]] = parent[i]
        q = tuple(q)
        if q == self.identity:
            return costs
        k = (id(costs), q)
        got = self._renamed.get(k)
        if got is None:
            got = self._renamed[k] = self._intern({rename(ok, q): c for ok, c in costs.items()})
        return got

    # -- the pass -----------------------------------------------------------------------
    def search(self) -> "CheapestRuns":
        """Fill the tables from the initial state; the outcomes reached are :meth:`outcomes`."""
        self.root = self.lookup(self.system.initial())
        return self

    def outcomes(self) -> dict[tuple, int]:
        """Every outcome key reached from the initial state (thread order), with its least cost."""
        key, perm, node = self.root
        return dict(self.carry(self.project(node, None), perm, self.identity))

    def labels(self) -> dict[str, tuple]:
        """Every outcome label reached from the initial state, with its outcome key."""
        return {label_of(ok, self.system.threads): ok for ok in self.outcomes()}

    def lookup(self, start: State) -> tuple[object, tuple[int, ...], _Node]:
        """A state's key, permutation and node, searching whatever is not known yet."""
        system, rec, done, canonical, n = self.system, self.rec, self.done, self.canonical, self.n
        onstack: set = set()
        # frame: [key, perm, state, enabled, next move, moves by slot, thread index it was reached
        # by, the next states (None: asked for with step), what the system's expand made of it]
        stack: list[list] = []
        expand = getattr(system, "expand", None)

        def enter(state: State, via: int, came=None) -> tuple[object, tuple[int, ...], _Node | None]:
            key, perm = canonical(state)
            node = done.get(key)
            if node is not None:
                return key, perm, node
            if key in onstack:
                raise Cycle()
            rec.states += 1
            if self.budget is not None and rec.states > self.budget:
                raise OverBudget(self)
            nexts = made = None
            if expand is not None:
                # the outcome and every move in one ask (System.expand), carried over from the
                # parent's where they commute with the move that made this state; the next
                # states are kept now: asked for after a child was searched, the system would
                # compute each thread's step anew
                outcome, ms, made = expand(state, (), _NONE, True, came)
                enabled = tuple(ms)
                nexts = [ms[t][0] for t in enabled]
            else:
                outcome = system.outcome(state)
                enabled = system.enabled(state) if outcome is None else ()
            if outcome is not None:
                rec.met(outcome)
                node = done[key] = self._terminal(rename(outcome_key(outcome), perm))
                return key, perm, node
            if not enabled:
                raise ModelError(f"no thread can run and the model names no outcome (after {len(stack)} steps)")
            onstack.add(key)
            stack.append([key, perm, state, enabled, 0, [None] * n, via, nexts, made])
            return key, perm, None

        root = enter(start, -1)
        index = self.index
        while stack:
            f = stack[-1]
            if f[4] >= len(f[3]):
                stack.pop()
                key, perm = f[0], f[1]
                onstack.discard(key)
                node = done[key] = self._node(f[5])
                if stack:
                    parent, ti = stack[-1], f[6]
                    parent[5][parent[1][ti]] = self.carry(self.project(node, perm[ti]), perm, parent[1])
                continue
            i = f[4]
            t = f[3][i]
            f[4] = i + 1
            ti = index[t]
            nxt = f[7][i] if f[7] is not None else system.step(f[2], t)[0]
            rec.transition()
            _, perm, node = enter(nxt, ti, (f[8], t) if f[8] is not None else None)
            if node is not None:
                f[5][f[1][ti]] = self.carry(self.project(node, perm[ti]), perm, f[1])
        return root[0], root[1], done[root[0]]

    def summaries(self) -> dict[object, frozenset]:
        """Each key searched to the end, with the outcome keys reachable from it (its naming):
        exact over every interleaving, so another search over the same keys can take them
        instead of searching those keys again (:mod:`~finirace.explore.persistent`)."""
        out: dict[object, frozenset] = {}
        by_node: dict[int, frozenset] = {}  # keys share nodes
        for key, node in self.done.items():
            got = by_node.get(id(node))
            if got is None:
                if node.moves is None:
                    got = frozenset(node.projections[0])
                else:
                    got = frozenset().union(*[costs for costs in node.moves if costs is not None])
                by_node[id(node)] = got
            out[key] = got
        return out

    # -- the runs -----------------------------------------------------------------------
    def cheapest(self, ok: tuple) -> Found | None:
        """The cheapest run from the initial state to outcome key ``ok`` (thread order); None
        when it is not reachable."""
        state = self.system.initial()
        key, perm, node = self.lookup(state)
        need = self.project(node, None).get(rename(ok, perm))
        if need is None:
            return None
        choices: list[int] = []
        previous: str | None = None
        pre = 0
        while True:
            outcome, enabled, moves = self._moves(state)
            if outcome is not None:
                if outcome_key(outcome) != ok or need != 0:
                    raise ModelError("cheapest run: a rebuilt run ends elsewhere than its tables say")
                return Found(outcome, tuple(choices), pre)
            for t, ti, nxt, perm, node in sorted(moves, key=lambda m: m[0] != previous):
                rest = self.project(node, perm[ti]).get(rename(ok, perm))
                preempts = previous is not None and previous != t and previous in enabled
                if rest is not None and rest + STEP + preempts * PREEMPTION == need:
                    break
            else:
                raise ModelError("cheapest run: no move costs what the tables say")
            pre += preempts
            choices.append(ti)
            previous, state, need = t, nxt, rest

    def _moves(self, state: State) -> tuple:
        """A state's outcome, enabled threads and moves (thread, index, next state, its
        permutation and node), kept: the runs to the outcomes start alike."""
        got = self._walked.get(state)
        if got is None:
            system = self.system
            outcome = system.outcome(state)
            enabled = system.enabled(state) if outcome is None else ()
            moves = []
            for t in enabled:
                nxt, _ = system.step(state, t)
                _, perm, node = self.lookup(nxt)  # known, unless the sort broke a tie otherwise
                moves.append((t, self.index[t], nxt, perm, node))
            got = self._walked[state] = (outcome, enabled, moves)
        return got
