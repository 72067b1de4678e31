"""Exhaustive search: every interleaving, with state caching and sleep sets, or DPOR.

The reductions, all reaching exactly the same outcomes:

* ``"symmetry"`` (the default): where threads are alike, the cheapest-run pass
  over symmetric keys (:mod:`~finirace.explore.symmetric`, minimal runs in one
  pass) up to :data:`CHEAPEST_KEYS` keys; a larger scenario is searched with
  ``"persistent"`` instead.  Where nothing is alike: ``"sleep"``.
* ``"persistent"``: symmetric keys where threads are alike, and persistent sets
  (one thread's local step alone where there is one,
  :mod:`~finirace.explore.persistent`): fewer states, exact outcome labels,
  runs minimized afterwards within the minimizer's budget.
* ``"sleep"``: state caching and sleep sets, below.
* ``"dpor"``: stateless dynamic partial-order reduction (source sets) with
  sleep sets, :mod:`~finirace.explore.dpor`.  It needs the system to say what a
  waiting thread waits on (``System.blocked_on``); a system without it is
  searched with ``"sleep"`` instead, and the exploration's name says so.
* ``"none"``: state caching only, every transition of every state.

Why sleep sets and not DPOR by default: on the CPython model almost every step
conflicts with almost every other (each takes or checks the GIL, each reads
``process``, which a fault or ``main``'s return writes), so the runs fall into
very many equivalence classes that end in few states.  A stateless search pays
for every class; the cache pays for every state.  Measured on the catalog and
on 2-4 identical workers (bench/check_catalog, docs/check.md), stateless DPOR
takes 4x (catalog) to 60x (two workers) the transitions of caching with sleep
sets, and DPOR cannot simply be given the cache (see its module).

Why sleep sets and not only state caching: two steps that touch nothing in
common (a worker blocked in ``read()`` and ``main`` freeing the interpreter) can
run in either order with the same result; exploring both orders doubles the
work at every such pair.  A sleep set (Godefroid, *Partial-Order Methods for
the Verification of Concurrent Systems*, 1996, ch. 5) carries the threads whose
next step was already explored from an equivalent earlier point and is
independent of everything since, so they need not be tried again here.
Sleep sets prune transitions, never states, so every reachable state, hence
every reachable outcome, is still visited.

Combining them with state caching needs care: a state first met with sleep set
``Z1`` explored only the threads outside ``Z1``.  Met again with ``Z2``, the
threads in ``Z1 - Z2`` were never tried from it and must be; the stored set
becomes ``Z1 & Z2``.  A revisit with ``Z2 ⊇ Z1`` adds nothing and stops.

Independence comes from ``Transition.conflicts`` (declared reads and writes),
computed on the transitions each thread would take from the current state:
``System.step`` is pure, so asking costs nothing but time.

Why DPOR is not combined with this cache: see :mod:`~finirace.explore.dpor`.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import chain

from finirace.explore.dpor import DPOR, sound_for
from finirace.explore.exploration import Exploration, ProgressFn, Recorder, collector_paused, state_key
from finirace.explore.replay import ModelError
from finirace.explore.cheapest import OverBudget
from finirace.explore.persistent import explore_persistent
from finirace.explore.symmetric import explore_symmetric
from finirace.model.system import State, System, Transition


REDUCTIONS = ("symmetry", "persistent", "dpor", "sleep", "none")
DEFAULT_REDUCTION = "symmetry"
_NAMES = {"symmetry": "exhaustive", "persistent": "exhaustive (persistent sets)", "dpor": "exhaustive (dpor)",
          "sleep": "exhaustive (sleep sets)", "none": "exhaustive (no reduction)"}
# keys the default's cheapest-run pass may take before the search switches to persistent sets:
# three alike workers take up to 29 027 (every era); four, 740 000 (bench/check_catalog), where
# the pass costs more than the persistent-set search and the minimizer gives up anyway.  The keys
# the pass finished carry their outcomes into the persistent-set search, which saves it about
# half as many keys as the pass took (four workers): the rest of the pass is time lost, about
# 1.5 s a 20 000 keys
CHEAPEST_KEYS = 40_000


class Exhaustive:
    """Depth-first over all interleavings, with a reduction from :data:`REDUCTIONS`.

    ``reduction=True``/``False`` (the older spelling) mean ``"sleep"``/``"none"``.
    """

    def __init__(self, reduction: str | bool = DEFAULT_REDUCTION) -> None:
        if reduction is True:
            reduction = "sleep"
        elif reduction is False:
            reduction = "none"
        if reduction not in REDUCTIONS:
            raise ValueError(f"unknown reduction {reduction!r} (known: {', '.join(REDUCTIONS)})")
        self.reduction = reduction
        self.name = "exhaustive" if reduction == DEFAULT_REDUCTION else _NAMES[reduction]

    @collector_paused()
    def explore(self, system: System, progress: ProgressFn | None = None) -> Exploration:
        try:
            return self._explore(system, progress)
        finally:
            # what the system kept for the search goes while the collector is still paused:
            # what is alive when it resumes, its next collection walks (System.release)
            release = getattr(system, "release", None)
            if release is not None:
                release()

    def _explore(self, system: System, progress: ProgressFn | None) -> Exploration:
        if self.reduction == "symmetry":
            if getattr(system, "canonical", None) is not None:
                try:
                    got = explore_symmetric(system, progress, self.name, budget=CHEAPEST_KEYS)
                except OverBudget as over:
                    # the keys the pass searched to the end keep their outcomes: the search
                    # with persistent sets goes on from them instead of starting again
                    runs = over.runs
                    got = explore_persistent(system, progress, self.name, known=runs.summaries(),
                                             counted=(runs.rec.states, runs.rec.transitions))
                    if got is not None:
                        # its runs are rebuilt through the summaries, not proven minimal: the
                        # strategy says so (in --json, and in the cell of a search not complete)
                        return replace(got, over_budget=True,
                                       strategy=f"{self.name} (persistent sets past {CHEAPEST_KEYS} keys)")
                if got is not None:
                    return got
            return self._cached(system, progress, True, self.name)  # nothing alike (or a cycle): sleep sets
        if self.reduction == "persistent":
            got = explore_persistent(system, progress, self.name)
            if got is not None:
                return got
            return self._cached(system, progress, True, _NAMES["sleep"])  # a cycle
        if self.reduction == "dpor" and sound_for(system):
            return DPOR().explore(system, progress)
        if self.reduction == "none":
            return self._cached(system, progress, False, _NAMES["none"])
        return self._cached(system, progress, True, self.name if self.reduction == "sleep" else _NAMES["sleep"])

    def _cached(self, system: System, progress: ProgressFn | None, sleep_sets: bool, name: str) -> Exploration:
        rec = Recorder(progress)
        index = {t: i for i, t in enumerate(system.threads)}
        key = state_key(system)
        outcome_of, enabled_of, step = system.outcome, system.enabled, system.step
        visited: dict[object, frozenset[str]] = {}
        path: list[int] = []
        empty: frozenset[str] = frozenset()

        # the optional System hook for a state's outcome and moves in one ask: a thread asleep
        # here is enabled, and its step is the one it had where it fell asleep (that step is
        # independent of every step taken since, and independent steps leave each other enabled
        # and unchanged: the System contract, checked on every reachable state of the catalog,
        # tests/model/test_machine.py).  Its move is only read for its transition (it is never
        # taken from here), so only the other threads' moves are computed.  Without the hook,
        # the outcome, then every enabled thread's move
        expand = getattr(system, "expand", None)

        # a frame is a list, the cheapest record to make (one per state entered):
        # [sleep, enabled, moves, todo, previous, preemptions, done, next, what expand made of it]
        def enter(state: State, sleep: frozenset[str], previous: str | None, pre: int, inherited, came) -> list | None:
            k = key(state)
            n = len(visited)
            stored = visited.setdefault(k, sleep)  # one lookup (hashing a key is most of it)
            new = len(visited) != n
            if new:
                only = None
            else:
                if stored <= sleep:
                    return None
                only = stored - sleep
                visited[k] = stored & sleep
            if expand is not None:
                outcome, moves, made = expand(state, sleep, inherited, new, came)
            else:
                made = None
                outcome = outcome_of(state) if new else None
                moves = {t: step(state, t) for t in enabled_of(state)} if outcome is None else None
            if new:
                rec.states += 1
                if outcome is not None:
                    visited[k] = empty  # terminal: nothing to explore, ever
                    rec.reached(outcome, tuple(path), pre)
                    return None
            if not moves:
                raise ModelError(f"no thread can run and the model names no outcome (after {len(path)} steps)")
            if only is None:
                todo = [t for t in moves if t not in sleep] if sleep else list(moves)
            else:
                todo = [t for t in moves if t in only]
            # the enabled threads are the moves' keys, in threads order
            return [sleep, moves, moves, todo, previous, pre, [], 0, made]

        root = enter(system.initial(), empty, None, 0, None, None)
        stack = [root] if root else []
        while stack:
            f = stack[-1]
            todo, i = f[3], f[7]
            if i >= len(todo):
                stack.pop()
                if stack:
                    path.pop()
                continue
            t = todo[i]
            f[7] = i + 1
            moves = f[2]
            nxt, tr = moves[t]
            done = f[6]
            if sleep_sets:
                sleep = f[0]
                if sleep or done:
                    # the threads asleep or done here whose step is independent of t's
                    # (Transition.conflicts, inlined: two threads, so only reads and writes decide)
                    r, w = tr.reads, tr.writes
                    child_sleep = frozenset([
                        u for u in chain(sleep, done)
                        if u in moves and (uw := moves[u][1].writes).isdisjoint(r) and uw.isdisjoint(w)
                        and w.isdisjoint(moves[u][1].reads)])
                else:
                    child_sleep = empty
                done.append(t)
            else:
                child_sleep = empty
            previous = f[4]
            pre = f[5] + (previous is not None and previous != t and previous in f[1])  # trace.is_preemption
            if progress is None:
                rec.transitions += 1  # Recorder.transition, inlined: nothing to report
            else:
                rec.transition()
            path.append(index[t])
            child = enter(nxt, child_sleep, t, pre, moves, (f[8], t))
            if child is not None:
                stack.append(child)
            else:
                path.pop()
        return rec.result(name, complete=True)
