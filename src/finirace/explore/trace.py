"""Counterexamples: a schedule token and the trace it produces, step by step.

A trace is what a user reads to understand a race, so each step keeps the
scenario step, the C function and the model's note (all on the Transition), and
whether the scheduler *preempted* someone to run it: a switch away from a thread
that could still have gone on.  Preemptions are the unlikely events of a race,
so they are counted, minimized and marked in every report.
"""

from __future__ import annotations

from dataclasses import dataclass

from finirace.model.system import Transition
from finirace.outcome import RunOutcome


@dataclass(frozen=True)
class TraceStep:
    """One atomic step of a run, and how the scheduler came to pick it."""

    transition: Transition
    preemption: bool = False  # the previous thread was still enabled
    preempted: str | None = None  # that thread, when ``preemption``

    @property
    def thread(self) -> str:
        return self.transition.thread


@dataclass(frozen=True)
class Counterexample:
    """A run that reaches ``outcome``: its replayable token and its trace."""

    outcome: RunOutcome
    schedule: str  # the token, see finirace.explore.schedule
    trace: tuple[TraceStep, ...]

    @property
    def preemptions(self) -> int:
        return sum(1 for s in self.trace if s.preemption)

    @property
    def steps(self) -> int:
        return len(self.trace)


def is_preemption(previous: str | None, enabled: tuple[str, ...], chosen: str) -> bool:
    """Whether running ``chosen`` preempts ``previous`` (still enabled, not chosen)."""
    return previous is not None and previous != chosen and previous in enabled
