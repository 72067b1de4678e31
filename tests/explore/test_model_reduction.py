"""The real model under the explorer: no reduction may change any verdict.

Sleep sets and DPOR trust the model's declared reads and writes (and, for
DPOR, what a waiting thread waited on: ``Machine.blocked_on``); a step that
touches something it does not declare makes a reduced search miss outcomes.
So every bundled scenario, and unordered ones where interleavings matter
(several workers spawned by a finalizing main), are explored under every
reduction and every variant, and must agree; every counterexample must replay
to its outcome.

Stateless DPOR runs whole on every scenario up to ``DPOR_WHOLE`` states (the
cached search's count): its cost is the number of runs it makes, which grows
far faster than the states with a third worker whose wait loops read what the
others write (the catalog's three-worker ``helper-timeout``: 2,497 states
under ``exit``, and DPOR had not finished after 500,000 transitions).  A
bigger scenario gets a DPOR run cut at the cached search's own transition
count: what it reached must be among the outcomes the others reached, and
replay.  The bound is the scenario's size, never its name.
"""

import pytest

from finirace.explore import DPOR, Exhaustive, check, encode, replay
from finirace.explore.persistent import explore_persistent
from finirace.model import VARIANTS, build_system
from finirace.scenario import load_bundled, loads

UNORDERED = [
    """name = "free-restore"
[threads]
main = ["init", "save", "spawn worker", "restore", "finalize"]
worker = ["ensure", "save", "block", "restore", "release"]
""",
    """name = "late-ensure"
[threads]
main = ["init", "spawn worker", "finalize"]
worker = ["ensure", "python \\"x = 1\\"", "release"]
""",
    """name = "two-workers"
[threads]
main = ["init", "save", "spawn a", "spawn b", "restore", "finalize"]
a = ["ensure", "save", "restore", "release"]
b = ["ensure", "release"]
""",
    """name = "alike-workers"
[threads]
main = ["init", "save", "spawn a", "spawn b", "restore", "finalize"]
a = ["ensure", "release"]
b = ["ensure", "release"]
""",
    """name = "python-threads-at-exit"
[threads]
main = ["init", "start_thread a", "start_thread b", "finalize"]
a = ["python \\"x = 1\\"", "block"]
b = ["python \\"y = 2\\"", "block"]
""",
]

# the largest scenario stateless DPOR must cover whole, in the cached search's states
DPOR_WHOLE = 1000

SCENARIOS = load_bundled() + [loads(text) for text in UNORDERED]


CASES = [pytest.param(s, v, id=f"{s.name}-{v}") for s in SCENARIOS for v in VARIANTS]


@pytest.mark.parametrize("scenario, variant", CASES)
def test_reduction_agrees_with_plain_search(scenario, variant):
    default = check(scenario, variant)  # symmetry where threads are alike, else sleep sets
    reduced = check(scenario, variant, strategy=Exhaustive("sleep"))
    plain = check(scenario, variant, strategy=Exhaustive("none"))
    whole = plain.states <= DPOR_WHOLE
    dpor = check(scenario, variant, strategy=Exhaustive("dpor") if whole else DPOR(plain.transitions))
    assert dpor.strategy.startswith("exhaustive (dpor)")  # the model says what waiting threads wait on
    assert set(default.labels) == set(reduced.labels) == set(plain.labels)
    if whole:
        assert dpor.complete and set(dpor.labels) == set(plain.labels)
    else:
        assert dpor.strategy == f"exhaustive (dpor) stopped after {plain.transitions} transitions"
        assert set(dpor.labels) <= set(plain.labels)
    assert reduced.states == plain.states  # sleep sets prune transitions, never states
    assert default.states <= plain.states  # symmetry: one state of each class of alike ones
    assert dpor.states <= plain.states  # DPOR may skip states
    assert reduced.transitions <= plain.transitions
    system = build_system(scenario, variant)
    for cx in default.counterexamples + reduced.counterexamples + dpor.counterexamples:
        assert replay(system, cx.schedule).outcome.label == cx.outcome.label
    # persistent sets alone (plain keys, no symmetry): the same outcomes, never more states
    system.canonical = None
    ample = explore_persistent(system, None, "exhaustive")
    assert {f.outcome.label for f in ample.found} == set(plain.labels)
    assert ample.states <= plain.states
    for f in ample.found:
        assert replay(system, encode(f.choices)).outcome.label == f.outcome.label
