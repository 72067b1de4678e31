"""The explorer: walks a model System and returns verdicts, never prints.

Strategies (one module each, one small interface, :class:`Strategy`):
:class:`Exhaustive` (state caching + sleep sets; or stateless DPOR, :class:`DPOR`), :class:`PreemptionBounded`,
:class:`PCT` and :class:`Replay`.  Every outcome found is minimized
(:mod:`~finirace.explore.minimize`) and turned into a replayable
:class:`Counterexample` with a schedule token (:mod:`~finirace.explore.schedule`).
"""

from finirace.explore.bounded import PreemptionBounded
from finirace.explore.dpor import DPOR
from finirace.explore.exhaustive import REDUCTIONS, Exhaustive
from finirace.explore.exploration import Exploration, Found, Progress, Strategy
from finirace.explore.minimize import minimize
from finirace.explore.pct import PCT
from finirace.explore.replay import ModelError, Replay, replay, run_choices
from finirace.explore.schedule import ScheduleError, decode, encode
from finirace.explore.trace import Counterexample, TraceStep
from finirace.explore.verdict import Verdict, check, check_system

__all__ = [
    "PreemptionBounded", "DPOR", "REDUCTIONS", "Exhaustive", "Exploration", "Found", "Progress", "Strategy", "minimize", "PCT",
    "ModelError", "Replay", "replay", "run_choices", "ScheduleError", "decode", "encode",
    "Counterexample", "TraceStep", "Verdict", "check", "check_system",
]
