"""How threads ended (model/ending.py): the kept results and the faults judged on the
world asked about are the results computed afresh.

``results`` keeps each end's thread outcomes by what it claims decides them
(which threads can run, each thread's status and position, the GIL's holder,
the locks, whether finalization began), and a fault that changed nothing is
judged on the world before the faulting step, whose other threads' moves the
search makes anyway.  Both are checked here on every reachable state of the
catalog under every era (up to 1 500 states a scenario) and on alike workers
that fault under ``legacy36``: each end met in the walk gets the outcome a
machine with an empty table and no memo computes for it.
"""

from __future__ import annotations

import pytest

from finirace.model import VARIANTS, build_system
from finirace.model import ending
from finirace.model.hashed import evolve
from finirace.model.program import Fault
from finirace.scenario import catalog, loads
from tests.model.walk import THREE_WORKERS

CATALOG = catalog.load_bundled()

WORKERS = THREE_WORKERS


def _ends_equal_fresh(system, fresh, limit: int = 1500) -> int:
    """Walk the reachable states depth first; compare every end (a fault's, or a state the
    run ends in) with the one ``fresh``, a second machine whose table of kept results is
    emptied before each ask, computes on the world the end is in.  Returns how many ends."""
    seen, stack, ends = set(), [system.initial()], 0
    while stack and len(seen) < limit:
        s = stack.pop()
        k = system.key(s)
        if k in seen:
            continue
        seen.add(k)
        outcome = system.outcome(s)
        if outcome is not None:
            if s.fault is None:  # main returned, or nothing can run
                fresh._ended.clear()
                assert outcome == fresh.outcome(s), (system.scenario.name, system.variant.name)
            ends += 1
            continue
        for move in system._attempts(s):
            if move is None:
                continue
            nxt = move[0]
            if nxt.fault is not None:  # the same fault, judged afresh on the world it made
                ends += 1
                fresh._ended.clear()
                ti = system.threads.index(move[1].thread)
                f = nxt.fault
                made = evolve(nxt, fault=None)  # as the step made it, before its fault
                report = f.memory_errors[0] if f.memory_errors else None
                again = ending.fault_outcome(fresh, made, made, ti, Fault(f.kind, f.signal, f.reason, report))
                assert again == f, (system.scenario.name, system.variant.name, move[1].label)
            else:
                stack.append(nxt)
    return ends


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_kept_ends_are_the_ends_computed_afresh(variant):
    ends = 0
    for sc in CATALOG:
        ends += _ends_equal_fresh(build_system(sc, variant), build_system(sc, variant))
    workers = loads(WORKERS)
    ends += _ends_equal_fresh(build_system(workers, variant), build_system(workers, variant))
    assert ends > 100  # the walk met ends, faults among them


def test_alike_workers_fault_under_legacy36_and_share_kept_results():
    workers = loads(WORKERS)
    system = build_system(workers, "legacy36")
    faults = []
    original = ending.fault_outcome

    def counted(m, world, new, ti, f):
        if m is system:
            faults.append(ti)
        return original(m, world, new, ti, f)

    ending.fault_outcome = counted
    try:
        ends = _ends_equal_fresh(system, build_system(workers, "legacy36"), limit=20000)
    finally:
        ending.fault_outcome = original
    assert len(faults) > 100  # PyEval_SaveThread while another worker's state is current
    assert ends > len(system._ended) > 0  # ends that share kept results
