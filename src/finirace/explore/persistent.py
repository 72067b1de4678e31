"""The outcome search with persistent sets: every outcome label, from fewer states.

What it finds is exactly what the unreduced search finds: the set of outcome
labels (``clean, w2 hung``).  Not the cheapest run to each: a persistent set
makes one thread's local step go first (:mod:`~finirace.explore.ample`), and
the cheapest run may have let another thread go first, or ended before that
step.  So its runs are rebuilt, and :mod:`~finirace.explore.minimize` makes them
minimal where its budget allows.  This is the search for scenarios too large
for the cheapest-run pass of :mod:`~finirace.explore.symmetric`, which walks
every move of every key.

It walks the same keys (``System.canonical``: alike threads swapped into one;
a system without it on its plain keys), and keeps per key a *summary*: the
outcome keys reachable from it in the key's own naming, carried renamed across
a key hit as the cheapest-run tables are.  A summary is complete in post-order,
and exact under persistent sets (every outcome reachable from a state is
reachable from it through the local step, :mod:`~finirace.explore.ample`).  A
cycle would leave a summary incomplete when used: the search then gives up.

A state the system says has ended without a search (``System.ended``: a
fault, whose outcome the step that made it found) is not keyed: its outcome
goes, renamed by the state's permutation, into its parent's summary, which is
what the key's summary would give.  Such a state is not counted among the
states (it is a transition, counted), so the count stays at most the
unreduced search's; on four seed-shaped workers under ``legacy36`` a quarter
of the keys were faults, each computed once and never met again.

Runs are rebuilt at the end: from the initial state, step by step through the
moves the search tried, a thread whose next state's summary holds the outcome
(the thread that ran last first, so the run has few preemptions).
"""

from __future__ import annotations

from finirace.explore.ample import moves_of
from finirace.explore.cheapest import Cycle, outcome_key, rename
from finirace.explore.exploration import Exploration, ProgressFn, Recorder, state_key
from finirace.explore.replay import ModelError
from finirace.explore.trace import is_preemption
from finirace.model.system import System

Summary = frozenset  # of outcome keys (kind, per-slot thread outcomes)
_ENDED = 1 << 16  # ended states' keys kept (_Search.ended_key) before the table is emptied


def explore_persistent(system: System, progress: ProgressFn | None, name: str,
                       persistent: bool = True, known: dict | None = None,
                       counted: tuple[int, int] = (0, 0)) -> Exploration | None:
    """Every outcome, over canonical keys (plain keys without ``System.canonical``) and
    persistent sets (unless ``persistent`` is false); None when it met a cycle.

    ``known``: summaries found already, by key (the exact outcome keys reachable from it,
    in its naming: :meth:`~finirace.explore.cheapest.CheapestRuns.summaries`), which the
    search takes instead of searching those keys; ``counted``: the states and transitions
    that cost, added to the counts."""
    try:
        return _Search(system, progress, persistent, known, counted).run(name)
    except Cycle:
        return None


class _Search:
    def __init__(self, system: System, progress: ProgressFn | None, persistent: bool = True,
                 known: dict | None = None, counted: tuple[int, int] = (0, 0)) -> None:
        self.system = system
        self.moves = moves_of(system) if persistent else (lambda state, enabled, made=None: enabled)
        self.n = len(system.threads)
        self.identity = tuple(range(self.n))
        self.canonical = getattr(system, "canonical", None) or self._plain(state_key(system))
        self.rec = Recorder(progress)
        self.rec.states, self.rec.transitions = counted
        self.interned: dict[Summary, Summary] = {}
        # a summary found by a search of every move is exact here too: the reduced graph
        # reaches from a key every outcome the whole graph does (module docstring)
        self.done: dict[object, Summary] = {k: self.intern(s) for k, s in (known or {}).items()}
        self.renamed: dict[tuple[int, tuple[int, ...]], Summary] = {}
        self.between: dict[tuple, tuple[int, ...]] = {}  # (child's, parent's permutation) -> renaming
        self._ended: dict[tuple, tuple] = {}  # see ended_key

    def _plain(self, key):
        """Without symmetry: each state's own key, nothing renamed (persistent sets alone)."""
        identity = self.identity
        return lambda state: (key(state), identity)

    def ended_key(self, outcome, perm: tuple[int, ...]) -> tuple:
        """An ended state's outcome key renamed by ``perm``, kept by the outcome object (the
        model makes equal faults one object, model/ending.py) and the permutation."""
        k = (id(outcome), perm)
        got = self._ended.get(k)
        if got is None or got[0] is not outcome:  # the outcome is kept with it: the id is its own
            if len(self._ended) > _ENDED:
                self._ended.clear()
            got = self._ended[k] = (outcome, rename(outcome_key(outcome), perm))
        return got[1]

    def intern(self, s: Summary) -> Summary:
        return self.interned.setdefault(s, s)

    def carry(self, s: Summary, child: tuple[int, ...], parent: tuple[int, ...]) -> Summary:
        """A child's summary (in its key's naming) in its parent's key's naming."""
        if child == parent:
            return s  # mostly both the identity
        q = self.between.get((child, parent))
        if q is None:
            q = [0] * self.n
            for i in range(self.n):
                q[child[i]] = parent[i]
            q = self.between[(child, parent)] = tuple(q)
        got = self.renamed.get((id(s), q))
        if got is None:
            got = self.renamed[(id(s), q)] = self.intern(frozenset(rename(ok, q) for ok in s))
        return got

    def run(self, name: str) -> Exploration:
        _, perm, root = self.summarize(self.system.initial())
        for ok in self.carry(root, perm, self.identity):
            self.witness(ok)
        return self.rec.result(name, complete=True)

    def summarize(self, start) -> tuple[object, tuple[int, ...], Summary]:
        """The key, permutation and summary of a state, searching what is not known yet."""
        system, rec, done, moves = self.system, self.rec, self.done, self.moves
        ended = getattr(system, "ended", None) or _never
        expand = getattr(system, "expand", None)
        onstack: set = set()
        # frame: [key, perm, state, next states, next move, accumulated summary, the threads
        # that made them, what the system's expand made of the state]
        stack: list[list] = []

        def enter(state, came=None) -> tuple[object, tuple[int, ...], Summary | None]:
            key, perm = self.canonical(state)
            got = done.get(key)
            if got is not None:
                return key, perm, got
            if key in onstack:
                raise Cycle()
            rec.states += 1
            made = ms = None
            if expand is not None:
                # one ask for the outcome and every move, carried over from the parent's where
                # they commute with the move that made this state (System.expand)
                outcome, ms, made = expand(state, (), _NONE, True, came)
                enabled = tuple(ms)
            else:
                outcome = system.outcome(state)
                enabled = system.enabled(state) if outcome is None else ()
            if outcome is not None:
                rec.met(outcome)
                s = done[key] = self.intern(frozenset({rename(outcome_key(outcome), perm)}))
                return key, perm, s
            if not enabled:
                raise ModelError(f"no thread can run and the model names no outcome (after {len(stack)} steps)")
            onstack.add(key)
            # the next states now, while the system's memo holds this state's moves: after a
            # child is searched, asking again would compute every thread's step anew
            if ms is not None:  # the moves expand made
                chosen = moves(state, enabled, ms)
                nexts = [ms[t][0] for t in chosen]
            else:
                chosen = moves(state, enabled)
                nexts = [system.step(state, t)[0] for t in chosen]
            stack.append([key, perm, state, nexts, 0, set(), chosen, made])
            return key, perm, None

        root = enter(start)
        while stack:
            f = stack[-1]
            if f[4] >= len(f[3]):
                stack.pop()
                onstack.discard(f[0])
                s = done[f[0]] = self.intern(frozenset(f[5]))
                if stack:
                    parent = stack[-1]
                    parent[5].update(self.carry(s, f[1], parent[1]))
                continue
            nxt = f[3][f[4]]
            f[4] += 1
            rec.transition()
            over = ended(nxt)
            if over is not None:  # an end known without a key: its outcome, in the parent's naming
                rec.met(over)
                f[5].add(self.ended_key(over, f[1]))
                continue
            _, perm, s = enter(nxt, (f[7], f[6][f[4] - 1]) if f[7] is not None else None)
            if s is not None:
                f[5].update(self.carry(s, perm, f[1]))
        return root[0], root[1], done[root[0]]

    def witness(self, ok: tuple) -> None:
        """A run from the initial state to an outcome with key ``ok`` (in thread order)."""
        system = self.system
        index = {t: i for i, t in enumerate(system.threads)}
        state = system.initial()
        choices: list[int] = []
        previous: str | None = None
        pre = 0
        while True:
            outcome = system.outcome(state)
            if outcome is not None:
                if outcome_key(outcome) != ok:
                    raise ModelError("symmetry reduction: a rebuilt run ends in another outcome")
                self.rec.reached(outcome, tuple(choices), pre)
                return
            enabled = system.enabled(state)
            order = sorted(self.moves(state, enabled), key=lambda t: t != previous)
            for t in order:
                nxt, _ = system.step(state, t)
                _, perm, summary = self.summarize(nxt)  # known, unless the sort broke a tie otherwise
                if rename(ok, perm) in summary:
                    break
            else:
                raise ModelError("symmetry reduction: no move leads to an outcome its summary holds")
            pre += is_preemption(previous, enabled, t)
            choices.append(index[t])
            previous, state = t, nxt


def _never(state) -> None:
    return None


_NONE: dict = {}  # no thread asleep: nothing inherited
