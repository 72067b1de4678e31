"""The real model under the explorer: the reduction must not change any verdict.

Sleep sets trust the model's declared reads and writes; a step that touches
something it does not declare makes the reduced search miss outcomes.  So every
bundled scenario, and a few unordered ones where interleavings matter, are
explored with and without the reduction under every variant, and must agree;
every counterexample must replay to its outcome.
"""

import pytest

from finirace.explore import Exhaustive, check, replay
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
]

SCENARIOS = load_bundled() + [loads(text) for text in UNORDERED]


CASES = [pytest.param(s, v, id=f"{s.name}-{v}") for s in SCENARIOS for v in VARIANTS]


@pytest.mark.parametrize("scenario, variant", CASES)
def test_reduction_agrees_with_plain_search(scenario, variant):
    reduced = check(scenario, variant)
    plain = check(scenario, variant, strategy=Exhaustive(reduction=False))
    assert set(reduced.labels) == set(plain.labels)
    assert reduced.states == plain.states  # sleep sets prune transitions, never states
    assert reduced.transitions <= plain.transitions
    system = build_system(scenario, variant)
    for cx in reduced.counterexamples:
        assert replay(system, cx.schedule).outcome.label == cx.outcome.label
