"""PCT: probabilistic concurrency testing, for scenarios too big to exhaust.

Burckhardt, Kothari, Musuvathi and Nagarakatte, *A Randomized Scheduler with
Probabilistic Guarantees of Finding Bugs* (ASPLOS 2010).  Each run gives the
threads random distinct priorities and always runs the highest enabled one;
at ``depth - 1`` random steps (the change points) the running thread drops to a
priority below every initial one.  A bug of depth ``d`` in a run of ``k`` steps
with ``n`` threads is found by one run with probability at least
``1 / (n * k**(d-1))``, whatever its interleaving looks like, which plain random
scheduling cannot promise.

``k`` is not known before the first run: the first runs assume the length of
the scenario's longest run so far (at least 16), and the estimate grows as runs
get longer.  A seed makes the whole campaign repeat exactly.
"""

from __future__ import annotations

import random
import time

from finirace.explore.exploration import Exploration, ProgressFn, Recorder, collector_paused, state_key
from finirace.explore.replay import ModelError
from finirace.explore.trace import is_preemption
from finirace.model.system import System


class PCT:
    def __init__(self, runs: int, seed: int = 0, depth: int = 3, max_steps: int = 100_000,
                 time_limit: float | None = None, shared_by: int = 1, at_once: int = 1) -> None:
        if runs < 1:
            raise ValueError("PCT needs at least one run")
        if depth < 1:
            raise ValueError("PCT depth is at least 1")
        self.runs, self.seed, self.depth, self.max_steps = runs, seed, depth, max_steps
        # seconds, shared equally by ``shared_by`` searches, ``at_once`` of them side by side (in
        # processes of their own, explore/pool.py): this one stops after the run that crosses its
        # share
        self.time_limit, self.shared_by = time_limit, max(1, shared_by)
        self.at_once = max(1, min(at_once, self.shared_by))
        self.name = f"pct runs={runs} seed={seed} depth={depth}"

    @collector_paused()
    def explore(self, system: System, progress: ProgressFn | None = None) -> Exploration:
        rec = Recorder(progress)
        rng = random.Random(self.seed)
        threads = system.threads
        seen: set = set()
        key = state_key(system)
        k = 16
        deadline = time.monotonic() + self._share() if self.time_limit is not None else None
        for _ in range(self.runs):
            if deadline is not None and rec.runs and time.monotonic() >= deadline:
                name = f"pct runs={rec.runs} of {self.runs} ({self._limit()}) seed={self.seed} depth={self.depth}"
                return rec.result(name, complete=False)
            rec.runs += 1
            prio = dict(zip(threads, rng.sample(range(self.depth, self.depth + len(threads)), len(threads))))
            changes = {rng.randint(1, k): self.depth - 1 - i for i in range(self.depth - 1)}
            state = system.initial()
            choices: list[int] = []
            previous: str | None = None
            pre = 0
            for n in range(self.max_steps + 1):
                sk = key(state)
                if sk not in seen:
                    seen.add(sk)
                    rec.states += 1
                outcome = system.outcome(state)
                if outcome is not None:
                    rec.reached(outcome, tuple(choices), pre)
                    break
                enabled = system.enabled(state)
                if not enabled:
                    raise ModelError(f"no thread can run and the model names no outcome (after {n} steps)")
                if n >= self.max_steps:
                    raise ModelError(f"a run went on for more than {self.max_steps} steps")
                t = max(enabled, key=prio.__getitem__)
                if n + 1 in changes:
                    prio[t] = changes[n + 1]  # a change point: below every initial priority
                    t = max(enabled, key=prio.__getitem__)
                pre += is_preemption(previous, enabled, t)
                state, _ = system.step(state, t)
                rec.transition()
                choices.append(threads.index(t))
                previous = t
            k = max(k, len(choices))
        return rec.result(self.name, complete=False)

    def _share(self) -> float:
        return self.time_limit * self.at_once / self.shared_by

    def _limit(self) -> str:
        if self.shared_by == self.at_once:
            return f"time limit {self.time_limit:g} s" + (f", {self.at_once} searches at once" if self.at_once > 1 else "")
        return (f"time limit {self._share():.3g} s: {self.time_limit:g} s shared by {self.shared_by} searches"
                + (f", {self.at_once} at once" if self.at_once > 1 else ""))
