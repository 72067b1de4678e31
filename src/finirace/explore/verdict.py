"""The verdict of a scenario under one model variant, and ``check`` that makes it.

A verdict is what ``finirace check`` reports and what other parts of finirace
(the lab's comparison with real runs, reports) consume: the outcomes the model
can reach, a minimized counterexample for each, how much was explored, and
whether that matches what the scenario's ``[expect]`` table says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from finirace.explore.exhaustive import Exhaustive
from finirace.explore.exploration import Exploration, ProgressFn, Strategy
from finirace.explore.minimize import DEFAULT_BUDGET, minimize
from finirace.explore.replay import run_choices
from finirace.explore.schedule import MAX_THREADS, ScheduleError
from finirace.explore.trace import Counterexample
from finirace.model.system import System
from finirace.outcome import SEVERITY, RunOutcome, label_matches, set_matches


@dataclass(frozen=True)
class Verdict:
    """What the model says about one scenario under one variant."""

    scenario: str  # the scenario's name
    variant: str
    outcomes: tuple[RunOutcome, ...]  # distinct by label, worst first
    counterexamples: tuple[Counterexample, ...]  # one per outcome, same order
    states: int  # distinct states explored
    transitions: int
    seconds: float
    expected: tuple[str, ...] | None  # the scenario's [expect] labels for this variant
    strategy: str = "exhaustive"
    complete: bool = True  # every interleaving was covered (not bounded, not random)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(o.label for o in self.outcomes)

    @property
    def matches(self) -> bool | None:
        """Whether the reached labels are exactly the expected ones; None without expectation."""
        if self.expected is None:
            return None
        return set_matches(self.expected, self.labels)

    def fails(self, strict: bool = False) -> bool:
        """Whether this verdict fails the run.

        A search that did not try every run (bounded, PCT) cannot rule an outcome
        out: an expected outcome it did not reach is a warning unless ``strict``.
        An outcome it reached that no expectation covers is real, and fails."""
        if self.matches is not False:
            return False
        return self.complete or strict or not self.only_unreached()

    @property
    def unreached(self) -> tuple[str, ...]:
        """The expected labels no run reached."""
        return tuple(e for e in self.expected or () if not any(label_matches(e, label) for label in self.labels))

    def only_unreached(self) -> bool:
        """Whether every outcome reached is expected (what differs is only what was not reached)."""
        return all(any(label_matches(e, label) for e in self.expected or ()) for label in self.labels)

    def counterexample(self, label: str) -> Counterexample | None:
        for cx in self.counterexamples:
            if cx.outcome.label == label:
                return cx
        return None


def _order(o: RunOutcome) -> tuple[int, str]:
    return (SEVERITY.index(o.kind) if o.kind in SEVERITY else len(SEVERITY), o.label)


def check_system(
    system: System,
    *,
    scenario: str = "",
    variant: str = "",
    expected: tuple[str, ...] | None = None,
    strategy: Strategy | None = None,
    progress: ProgressFn | None = None,
    minimize_budget: int = DEFAULT_BUDGET,
) -> Verdict:
    """Explore a system and make its verdict; exploration is pure, nothing is printed."""
    if len(system.threads) > MAX_THREADS:
        raise ScheduleError(f"{scenario or 'scenario'}: {len(system.threads)} threads, more than a schedule token "
                            f"can name ({MAX_THREADS}, a to z): split the scenario")
    strategy = strategy or Exhaustive()
    start = time.perf_counter()
    exploration: Exploration = strategy.explore(system, progress)
    found = exploration.found
    # what the minimizer asks of the system, which the replays ask again: each runs through
    # states the minimizer met, and through the others' prefixes (exploration.asker)
    known: dict = {}
    # a search that kept more keys than the budget, or whose own cheapest-run pass stopped at
    # its budget: the minimizer's pass (every move of every key) would run out of it too,
    # after the time it took
    if minimize_budget and not exploration.minimal and not exploration.strategy.startswith("replay") \
            and exploration.states <= minimize_budget and not exploration.over_budget:
        found = minimize(system, found, minimize_budget, known)
    found = tuple(sorted(found, key=lambda f: _order(f.outcome)))
    counterexamples = tuple(run_choices(system, f.choices, known=known) for f in found)
    seconds = time.perf_counter() - start
    return Verdict(
        scenario=scenario,
        variant=variant,
        outcomes=tuple(cx.outcome for cx in counterexamples),
        counterexamples=counterexamples,
        states=exploration.states,
        transitions=exploration.transitions,
        seconds=seconds,
        expected=expected,
        strategy=exploration.strategy,
        complete=exploration.complete,
    )


def check(scenario, variant, *, strategy: Strategy | None = None, progress: ProgressFn | None = None) -> Verdict:
    """The verdict of a :class:`~finirace.scenario.Scenario` under a model variant (a built-in
    era's name, or a ``Variant`` from a variant file)."""
    from finirace.model import build_system

    system = build_system(scenario, variant)
    variant = getattr(variant, "name", variant)
    expected = scenario.expect.get(variant)
    return check_system(
        system,
        scenario=scenario.name,
        variant=variant,
        expected=tuple(expected) if expected is not None else None,
        strategy=strategy,
        progress=progress,
    )
