"""Preemption-bounded search: every interleaving with at most K preemptions.

Why: most concurrency bugs need very few preemptions (Musuvathi and Qadeer,
*Iterative context bounding*, PLDI 2007), and the number of schedules with at
most K of them grows polynomially, not exponentially, with the run's length.
A preemption is a switch away from a thread that could still have gone on;
switching when the running thread blocks or ends is free.

The search caches ``(state, previous thread)`` with the fewest preemptions it
was reached with, and goes on from a revisit only when it now has fewer to
spend.  Sleep sets are not combined with the bound: pruning an order that is
equivalent but cheaper in preemptions would lose runs, so this search trades
the reduction for the bound.
"""

from __future__ import annotations

from finirace.explore.exploration import Exploration, ProgressFn, Recorder, collector_paused, state_key
from finirace.explore.replay import ModelError
from finirace.explore.trace import is_preemption
from finirace.model.system import State, System


class PreemptionBounded:
    def __init__(self, bound: int) -> None:
        if bound < 0:
            raise ValueError("the preemption bound cannot be negative")
        self.bound = bound
        self.name = f"preemptions<={bound}"

    @collector_paused()
    def explore(self, system: System, progress: ProgressFn | None = None) -> Exploration:
        rec = Recorder(progress)
        index = {t: i for i, t in enumerate(system.threads)}
        key = state_key(system)
        best: dict[tuple[object, str | None], int] = {}
        seen: set = set()
        hit_bound = False
        # (state, previous thread, preemptions used, choices so far)
        stack: list[tuple[State, str | None, int, tuple[int, ...]]] = [(system.initial(), None, 0, ())]
        while stack:
            state, previous, used, choices = stack.pop()
            k = key(state)
            old = best.get((k, previous))
            if old is not None and old <= used:
                continue
            best[(k, previous)] = used
            if k not in seen:
                seen.add(k)
                rec.states += 1
            outcome = system.outcome(state)
            if outcome is not None:
                rec.reached(outcome, choices, used)
                continue
            enabled = system.enabled(state)
            if not enabled:
                raise ModelError(f"no thread can run and the model names no outcome (after {len(choices)} steps)")
            for t in reversed(enabled):
                cost = used + is_preemption(previous, enabled, t)
                if cost > self.bound:
                    hit_bound = True
                    continue
                nxt, _ = system.step(state, t)
                rec.transition()
                stack.append((nxt, t, cost, choices + (index[t],)))
        return rec.result(self.name, complete=not hit_bound)
