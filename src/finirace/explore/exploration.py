"""What a strategy returns, and the small recorder every strategy fills in.

A strategy only finds runs; it does not present them.  It reports, per outcome
label, the thread choices of the best run it met (fewest preemptions, then
fewest steps), how many distinct states and transitions it went through, and
whether it covered every interleaving (``complete``): a bounded or random
search that finds nothing bad proves nothing, and the verdict says so.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from finirace.model.system import System
from finirace.outcome import RunOutcome


@dataclass(frozen=True)
class Found:
    """One reached outcome and the best run found to it."""

    outcome: RunOutcome
    choices: tuple[int, ...]
    preemptions: int


@dataclass(frozen=True)
class Exploration:
    """The raw result of one strategy on one system."""

    strategy: str  # how it was explored, for reports: "exhaustive", "preemptions<=2"...
    found: tuple[Found, ...]
    states: int
    transitions: int
    complete: bool
    # each run is already the cheapest to its outcome over every interleaving (fewest
    # preemptions, then steps: explore/cheapest.py), so there is nothing to minimize
    minimal: bool = False
    # the cheapest-run pass (explore/cheapest.py) was tried and stopped at its budget of keys:
    # the minimizer's pass, within the same budget, would stop there too
    over_budget: bool = False


@dataclass(frozen=True)
class Progress:
    """A heartbeat for long runs (a terminal shows it; nothing else needs it)."""

    states: int
    transitions: int
    outcomes: int
    runs: int = 0


ProgressFn = Callable[[Progress], None]


class Strategy(Protocol):
    """One way to walk a System: exhaustive, bounded, PCT, replay."""

    name: str

    def explore(self, system: System, progress: ProgressFn | None = None) -> Exploration: ...


class Recorder:
    """Counts work and keeps the best run per outcome label."""

    EVERY = 4096  # transitions between two progress reports

    def __init__(self, progress: ProgressFn | None = None) -> None:
        self.progress = progress
        self.best: dict[str, Found] = {}
        # the labels met so far, for progress: a search that keeps summaries (persistent sets, the
        # cheapest-run pass) rebuilds its runs only at the end, so its best runs stay empty while
        # it searches, and a long search would say "0 outcomes so far" to the end
        self.labels: set[str] = set()
        self.states = 0
        self.transitions = 0
        self.runs = 0
        self._next = self.EVERY

    def transition(self) -> None:
        self.transitions += 1
        if self.progress is not None and self.transitions >= self._next:
            self._next += self.EVERY
            self.progress(Progress(self.states, self.transitions, len(self.labels), self.runs))

    def met(self, outcome: RunOutcome) -> None:
        """An outcome met in the search, its run not rebuilt yet (progress counts its label)."""
        self.labels.add(outcome.label)

    def reached(self, outcome: RunOutcome, choices: tuple[int, ...], preemptions: int) -> None:
        label = outcome.label
        self.labels.add(label)
        old = self.best.get(label)
        if old is None or (preemptions, len(choices)) < (old.preemptions, len(old.choices)):
            self.best[label] = Found(outcome, choices, preemptions)

    def result(self, strategy: str, complete: bool, minimal: bool = False) -> Exploration:
        return Exploration(strategy, tuple(self.best.values()), self.states, self.transitions, complete, minimal)


def state_key(system: System) -> Callable[[object], object]:
    """What a search caches a state by: the system's ``key`` hook, else the state.

    The hook (optional, see :mod:`finirace.model.system`) leaves out what cannot
    change what happens next (histories kept for reports), so two states that
    differ only there are one state to every strategy and one in its counts.
    """
    key = getattr(system, "key", None)
    return key if key is not None else _same


# the asks one table keeps (asker): the minimizer asks about at most a few thousand states
# of a catalog scenario; past this many, the states asked first are kept, and no more
KEEP = 1 << 15


def asker(system: System, known: dict | None = None):
    """A state's outcome and enabled threads' moves ({thread: (next state, transition)},
    threads order), and what the next ask needs of it: the system's ``expand`` hook, one ask
    per step, its moves carried over from the state before where they commute with the step
    taken (:mod:`~finirace.model.moves`); without the hook, ``outcome``, ``enabled``, then
    ``step`` for each.

    ``known``: a table of asks by state, read first and added to (up to :data:`KEEP`).
    Why: a verdict's replays (one per outcome, explore/verdict.py) run through states the
    minimizer asked about just before, and through each other's prefixes: with one table
    for the verdict they ask the system nothing again, where they were a tenth of
    ``finirace check`` on the catalog.  The states the minimizer met are hashed already, so
    a replay's lookups cost little.  (The search does not fill it: keeping every state it
    met, where it frees them as it goes, cost it more than the minimizer then saved.)"""
    expand = getattr(system, "expand", None)
    if expand is not None:
        def ask(state, came):
            return expand(state, (), None, True, came)
    else:
        def ask(state, came):
            outcome = system.outcome(state)
            enabled = system.enabled(state) if outcome is None else ()
            return outcome, {t: system.step(state, t) for t in enabled}, None
    if known is None:
        return ask

    def ask_known(state, came):
        got = known.get(state)
        if got is None:
            got = ask(state, came)
            if len(known) < KEEP:
                known[state] = got
        return got
    return ask_known


def _same(state: object) -> object:
    return state


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the length of a search.

    Why: a search allocates millions of small objects and keeps hundreds of
    thousands alive in its cache; each full collection walks all of them, so
    the collector took two thirds of a three-worker search (measured: 18.9 s
    with it, 6.0 s without).  Model states are trees of immutable values and
    make no reference cycles, so nothing piles up meanwhile; the collector is
    switched back on (if it was on) when the search ends.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
