"""Every model counterexample that switches threads inside a call, as lab jobs (``lab --counterexamples``).

Why a sweep of its own: the catalog sweep runs each scenario free, and its
cells say whether a real interpreter reaches *one of* the outcomes the model
predicts.  A counterexample says more: this interleaving leads to this
outcome.  When it preempts a thread inside a C call, only gdb can follow it
(:mod:`finirace.lab.exact`), so here each such counterexample of each era that
has an interpreter on this machine becomes a scenario of its own (named
``SCENARIO@TOKEN``), run on every interpreter of that era and graded against
the counterexample's own outcome: ``exact`` where the interpreter's line map
has every place, ``approximated`` (said why) where not.

Detectors: a counterexample that ends in a memory error runs under
``pymalloc-debug`` (the read of a freed block faults where the model makes it)
unless detectors are given; any other under ``plain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from finirace import conformance
from finirace.explore import check
from finirace.lab import session
from finirace.outcome import RunKind


@dataclass
class CounterexampleJobs:
    """What ``finirace lab`` needs to run the counterexamples: jobs and, by scenario name, the rest."""

    jobs: list = field(default_factory=list)
    scenarios: dict = field(default_factory=dict)  # "seed@v1.…" -> the scenario under that name
    orderings: dict = field(default_factory=dict)  # name -> pipe orderings (the approximation)
    exact_plans: dict = field(default_factory=dict)  # (name, interpreter path) -> ExactPlan
    predictions: dict = field(default_factory=dict)  # name -> the counterexample's Prediction


def plan(scenarios, interps, detectors: list[str] | None, repeat: int = 1) -> CounterexampleJobs:
    """The jobs of every counterexample (of every era with an interpreter here) that needs gdb."""
    out = CounterexampleJobs()
    by_era: dict[str, list] = {}
    for interp in interps:
        era = conformance.variant_for(interp)
        if era is not None:
            by_era.setdefault(era, []).append(interp)
    for sc in scenarios:
        for era, members in by_era.items():
            for cx in check(sc, era).counterexamples:
                projection = conformance.project_schedule(sc, era, cx.schedule)
                if projection.exact is None:
                    continue  # pipes already order it exactly: the catalog sweep covers it
                name = f"{sc.name}@{cx.schedule}"
                copy = replace(sc, name=name)
                out.scenarios[name] = copy
                out.orderings[name] = projection.orderings
                out.predictions[name] = projection.prediction
                memory = projection.outcome.kind is RunKind.MEMORY_ERROR
                dets = detectors or (["pymalloc-debug"] if memory else ["plain"])
                for interp in members:
                    out.exact_plans[(name, interp.path)] = projection.exact
                out.jobs += session.plan([copy], members, dets, repeat)
    return out
