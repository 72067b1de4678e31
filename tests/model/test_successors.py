"""Steps carried over from the state before (model/successors.py) are the steps run afresh.

The machine runs a thread's next step again only where the step that made the
state may have changed what it does; elsewhere it takes the step's result from
the state before, merged.  That leans on every step declaring what it reads
and writes, so it is checked here on every reachable state of the catalog
under every variant (up to 1 500 states each: the largest scenarios have ten times
that), and on workers with events and a lock: each carried step
must give the same next state and the same transition as running it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from finirace.model import VARIANTS, build_system
from finirace.model.hashed import evolve
from finirace.model.successors import _merge
from finirace.model.world import Gil, Runtime, ThreadRec, World
from finirace.scenario import catalog, loads

CATALOG = catalog.load_bundled()

WORKERS = """
name = "workers"
[threads]
main = ["init", "save", "spawn w1", "spawn w2", "spawn w3", "wait b1", "wait b2", "restore", "finalize"]
w1 = ["ensure", "save", "signal b1", "block", "restore", "release"]
w2 = ["ensure", "save", "signal b2", "block", "restore", "release"]
w3 = ["lock m", "ensure", "release", "unlock m"]
"""


def _carried_equal_fresh(system, limit: int = 1500) -> int:
    """Walk the reachable states depth first (up to ``limit``), asking for their steps as a
    search does; at each, compare them with each thread's step run afresh.  Returns how
    many were carried."""
    seen, stack = set(), [system.initial()]
    while stack and len(seen) < limit:
        s = stack.pop()
        k = system.key(s)
        if k in seen:
            continue
        seen.add(k)
        if system.outcome(s) is not None:
            continue
        got = system._attempts(s)
        fresh = [system._attempt(s, i) for i in range(len(system.threads))]
        assert got == fresh, (system.scenario.name, system.variant.name)
        stack.extend(a[0] for a in got if a is not None)
    return system._successors.carried


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_carried_steps_are_the_steps_run_afresh(variant):
    carried = sum(_carried_equal_fresh(build_system(sc, variant)) for sc in CATALOG)
    carried += _carried_equal_fresh(build_system(loads(WORKERS), variant))
    assert carried > 500  # the comparison saw carried steps, not only steps run again


def test_a_part_both_steps_changed_is_not_merged():
    rec = ThreadRec(status="run")
    before = World(Runtime(), Gil(), (rec, rec))
    mine = evolve(before, threads=(evolve(rec, pc=1), rec))
    theirs = evolve(before, threads=(rec, evolve(rec, pc=1)))
    merged = _merge(before, theirs, mine)
    assert merged == World(Runtime(), Gil(), (evolve(rec, pc=1), evolve(rec, pc=1)))
    # the same record changed by both (a step that changed the other thread's record)
    assert _merge(before, theirs, evolve(before, threads=(rec, evolve(rec, phase=2)))) is None
    # the same part changed by both, also to equal values
    assert _merge(before, evolve(before, gil=Gil(locked=True)), evolve(before, gil=Gil(locked=True))) is None
    # a part only one changed is taken from it
    assert _merge(before, evolve(before, gil=Gil(locked=True)), mine) == evolve(mine, gil=Gil(locked=True))


def test_a_variant_with_patches_runs_every_step():
    # a patched C function may touch what it does not declare: nothing is carried over
    patched = replace(VARIANTS["exit"], patches=(("take_gil", lambda variant, steps: steps),))
    system = build_system(loads(WORKERS), patched)
    assert system._successors is None
    assert system.enabled(system.initial()) == ("main",)
