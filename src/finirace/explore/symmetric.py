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
the search computes summaries depth first, in post-order.  Summaries are
interned (most states share a handful) and so are their renamings.

Two limits, both checked:

* a cycle (a key met again while it is still being searched) would leave a
  summary incomplete when it is used; the search then gives up and the caller
  searches without symmetry.  The model's steps always move a thread forward,
  so this does not happen on the catalog, but the contract does not forbid it;
* sleep sets are not combined with it: a state searched with a sleep set has an
  incomplete summary, right only for the paths that led there.

Counterexamples are rebuilt at the end: from the initial state, step by step,
a thread whose next state's summary holds the outcome (the thread that ran
last first, so the run has few preemptions); the minimizer then makes it the
simplest one where its budget allows.
"""

from __future__ import annotations

from finirace.explore.exploration import Exploration, ProgressFn, Recorder
from finirace.explore.replay import ModelError
from finirace.explore.trace import is_preemption
from finirace.model.system import System
from finirace.outcome import RunOutcome, ThreadOutcome

Summary = frozenset  # of (kind, per-slot thread outcomes)


class Cycle(Exception):
    """A key was met again while it was being searched: summaries would be incomplete."""


def outcome_key(outcome: RunOutcome) -> tuple:
    """What an outcome's label says: the kind, and each thread's outcome (None: finished or cut short)."""
    return (outcome.kind, tuple(None if t.outcome in (None, ThreadOutcome.FINISHED) else t.outcome
                                for t in outcome.threads))


def _rename(ok: tuple, q: tuple[int, ...]) -> tuple:
    """An outcome key with the thread in slot c moved to slot q[c]."""
    outs = [None] * len(q)
    for c, o in enumerate(ok[1]):
        outs[q[c]] = o
    return (ok[0], tuple(outs))


def explore_symmetric(system: System, progress: ProgressFn | None, name: str) -> Exploration | None:
    """The exhaustive search over canonical keys; None when it met a cycle."""
    try:
        return _Search(system, progress).run(name)
    except Cycle:
        return None


class _Search:
    def __init__(self, system: System, progress: ProgressFn | None) -> None:
        self.system = system
        self.canonical = system.canonical
        self.rec = Recorder(progress)
        self.done: dict[object, Summary] = {}
        self.interned: dict[Summary, Summary] = {}
        self.renamed: dict[tuple[int, tuple[int, ...]], Summary] = {}
        self.n = len(system.threads)
        self.identity = tuple(range(self.n))

    def intern(self, s: Summary) -> Summary:
        return self.interned.setdefault(s, s)

    def carry(self, s: Summary, child: tuple[int, ...], parent: tuple[int, ...]) -> Summary:
        """A child's summary (in its key's naming) in its parent's key's naming."""
        q = [0] * self.n
        for i in range(self.n):
            q[child[i]] = parent[i]
        q = tuple(q)
        if q == self.identity:
            return s
        got = self.renamed.get((id(s), q))
        if got is None:
            got = self.renamed[(id(s), q)] = self.intern(frozenset(_rename(ok, q) for ok in s))
        return got

    def run(self, name: str) -> Exploration:
        _, perm, root = self.summarize(self.system.initial())
        for ok in self.carry(root, perm, self.identity):
            self.witness(ok)
        return self.rec.result(name, complete=True)

    def summarize(self, start) -> tuple[object, tuple[int, ...], Summary]:
        """The key, permutation and summary of a state, searching what is not known yet."""
        system, rec, done = self.system, self.rec, self.done
        onstack: set = set()
        # frame: [key, perm, state, enabled, next move, accumulated summary]
        stack: list[list] = []

        def enter(state) -> tuple[object, tuple[int, ...], Summary | None]:
            key, perm = self.canonical(state)
            got = done.get(key)
            if got is not None:
                return key, perm, got
            if key in onstack:
                raise Cycle()
            rec.states += 1
            outcome = system.outcome(state)
            if outcome is not None:
                s = done[key] = self.intern(frozenset({_rename(outcome_key(outcome), perm)}))
                return key, perm, s
            enabled = system.enabled(state)
            if not enabled:
                raise ModelError(f"no thread can run and the model names no outcome (after {len(stack)} steps)")
            onstack.add(key)
            stack.append([key, perm, state, enabled, 0, set()])
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
            t = f[3][f[4]]
            f[4] += 1
            nxt, _ = system.step(f[2], t)
            rec.transition()
            _, perm, s = enter(nxt)
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
            order = sorted(enabled, key=lambda t: t != previous)
            for t in order:
                nxt, _ = system.step(state, t)
                _, perm, summary = self.summarize(nxt)  # known, unless the sort broke a tie otherwise
                if _rename(ok, perm) in summary:
                    break
            else:
                raise ModelError("symmetry reduction: no move leads to an outcome its summary holds")
            pre += is_preemption(previous, enabled, t)
            choices.append(index[t])
            previous, state = t, nxt
