"""Replay: run one schedule exactly, and check that it fits the system.

Replay is also how every other strategy turns the thread choices it found into
a :class:`Counterexample`, so a token printed by ``finirace check`` is checked to
reproduce the very trace shown next to it.
"""

from __future__ import annotations

from typing import Sequence

from finirace.explore.exploration import Exploration, Found, ProgressFn, asker
from finirace.explore.schedule import ScheduleError, decode, encode, thread_letter
from finirace.explore.trace import Counterexample, TraceStep, is_preemption
from finirace.model.system import System


class ModelError(RuntimeError):
    """The system broke the System contract (e.g. nobody enabled and no outcome)."""


def run_choices(system: System, choices: Sequence[int], token: str | None = None,
                known: dict | None = None) -> Counterexample:
    """Run the thread choices from the initial state to the end of the run (``known``: asks
    made already, read and added to: :func:`~finirace.explore.exploration.asker`).

    A choice that names no thread, or a thread that is not enabled, or a run
    that ends before the choices do or goes on after them, is a ScheduleError
    naming the step: a token from another scenario or variant fails here.
    """
    tok = token if token is not None else encode(choices)
    threads = system.threads
    state = system.initial()
    trace: list[TraceStep] = []
    previous: str | None = None
    ask = asker(system, known)
    outcome, moves, made = ask(state, None)
    for i, c in enumerate(choices):
        if outcome is not None:
            raise ScheduleError(f"schedule {tok!r} does not fit: the run is over after {i} steps, the schedule has {len(choices)}")
        if c >= len(threads):
            raise ScheduleError(
                f"schedule {tok!r} does not fit: step {i + 1} names thread {thread_letter(c)!r}, "
                f"the scenario has {len(threads)} threads ({', '.join(threads)})"
            )
        name = threads[c]
        if name not in moves:
            raise ScheduleError(
                f"schedule {tok!r} does not fit: at step {i + 1} thread {name!r} cannot run "
                f"(runnable: {', '.join(moves) or 'none'})"
            )
        pre = is_preemption(previous, moves, name)
        state, tr = moves[name]
        trace.append(TraceStep(tr, pre, previous if pre else None))
        previous = name
        outcome, moves, made = ask(state, (made, name))
    if outcome is None:
        if moves:
            raise ScheduleError(
                f"schedule {tok!r} does not fit: it ends after {len(choices)} steps but the run goes on "
                f"(runnable: {', '.join(moves)})"
            )
        raise ModelError("no thread can run and the model names no outcome")
    return Counterexample(outcome, tok, tuple(trace))


def replay(system: System, token: str) -> Counterexample:
    """Replay a token on a system; a token that does not fit is a ScheduleError."""
    return run_choices(system, decode(token), token.strip())


class Replay:
    """The replay strategy: one run, exactly the token's."""

    def __init__(self, token: str) -> None:
        self.token = token.strip()
        self.name = f"replay {self.token}"

    def explore(self, system: System, progress: ProgressFn | None = None) -> Exploration:
        cx = replay(system, self.token)
        return Exploration(self.name, (Found(cx.outcome, decode(self.token), cx.preemptions),), len(cx.trace) + 1, len(cx.trace), False)
