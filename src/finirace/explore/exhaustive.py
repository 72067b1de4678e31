"""Exhaustive search: every interleaving, with state caching and sleep sets.

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

Open question: DPOR (Flanagan and Godefroid 2005) would also skip states, not
only transitions; the scenarios of the catalog are small enough that state
caching plus sleep sets explores them in milliseconds, so it is not done yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain

from finirace.explore.exploration import Exploration, ProgressFn, Recorder
from finirace.explore.replay import ModelError
from finirace.explore.trace import is_preemption
from finirace.model.system import State, System, Transition


@dataclass
class _Frame:
    state: State
    sleep: frozenset[str]
    enabled: tuple[str, ...]
    moves: dict[str, tuple[State, Transition]]
    todo: list[str]
    previous: str | None
    preemptions: int
    depth: int
    done: list[str] = field(default_factory=list)
    next: int = 0


class Exhaustive:
    """Depth-first over all interleavings; ``reduction=False`` turns sleep sets off."""

    def __init__(self, reduction: bool = True) -> None:
        self.reduction = reduction
        self.name = "exhaustive" if reduction else "exhaustive (no reduction)"

    def explore(self, system: System, progress: ProgressFn | None = None) -> Exploration:
        rec = Recorder(progress)
        index = {t: i for i, t in enumerate(system.threads)}
        visited: dict[State, frozenset[str]] = {}
        path: list[int] = []
        empty: frozenset[str] = frozenset()

        def enter(state: State, sleep: frozenset[str], previous: str | None, pre: int) -> _Frame | None:
            stored = visited.get(state)
            if stored is None:
                rec.states += 1
                outcome = system.outcome(state)
                if outcome is not None:
                    visited[state] = empty  # terminal: nothing to explore, ever
                    rec.reached(outcome, tuple(path), pre)
                    return None
                visited[state] = sleep
                only = None
            else:
                if stored <= sleep:
                    return None
                only = stored - sleep
                visited[state] = stored & sleep
            enabled = system.enabled(state)
            if not enabled:
                raise ModelError(f"no thread can run and the model names no outcome (after {len(path)} steps)")
            moves = {t: system.step(state, t) for t in enabled}
            todo = [t for t in enabled if t not in sleep and (only is None or t in only)]
            return _Frame(state, sleep, enabled, moves, todo, previous, pre, len(path))

        root = enter(system.initial(), empty, None, 0)
        stack = [root] if root else []
        while stack:
            f = stack[-1]
            if f.next >= len(f.todo):
                stack.pop()
                if f.depth:
                    path.pop()
                continue
            t = f.todo[f.next]
            f.next += 1
            nxt, tr = f.moves[t]
            if self.reduction:
                child_sleep = frozenset(
                    u for u in chain(f.sleep, f.done) if u in f.moves and not f.moves[u][1].conflicts(tr)
                )
                f.done.append(t)
            else:
                child_sleep = empty
            pre = f.preemptions + is_preemption(f.previous, f.enabled, t)
            rec.transition()
            path.append(index[t])
            child = enter(nxt, child_sleep, t, pre)
            if child is not None:
                stack.append(child)
            else:
                path.pop()
        return rec.result(self.name, complete=True)
