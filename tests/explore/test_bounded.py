"""Preemption bounding: runs with more than K preemptions are not explored."""

import pytest
from hypothesis import given, settings

from finirace.explore import Exhaustive, PreemptionBounded

from .test_exhaustive import programs
from .toys import Counter, LockOrder, Program, TwoPreemptions, brute_force


def labels(ex):
    return {f.outcome.label for f in ex.found}


@pytest.mark.parametrize("k, reached, complete", [(0, {"clean"}, False), (1, {"clean"}, False), (2, {"clean", "crash"}, True)])
def test_two_preemption_bug_needs_bound_two(k, reached, complete):
    ex = PreemptionBounded(k).explore(TwoPreemptions())
    assert labels(ex) == reached
    assert ex.complete is complete


def test_bound_zero_misses_the_lost_update_and_one_finds_it():
    assert labels(PreemptionBounded(0).explore(Counter(2))) == {"clean"}
    assert labels(PreemptionBounded(1).explore(Counter(2))) == {"clean", "crash"}


def test_deadlock_needs_one_preemption():
    assert "timeout, main deadlocked, t1 deadlocked" in labels(PreemptionBounded(1).explore(LockOrder()))
    assert labels(PreemptionBounded(0).explore(LockOrder())) == {"clean"}


def test_negative_bound_is_refused():
    with pytest.raises(ValueError):
        PreemptionBounded(-1)


@settings(max_examples=80, deadline=None)
@given(programs)
def test_bound_k_reaches_exactly_the_outcomes_needing_at_most_k(code):
    system = Program(code)
    best = brute_force(system)
    for k in (0, 1, 2):
        got = labels(PreemptionBounded(k).explore(system))
        assert got == {label for label, (pre, _) in best.items() if pre <= k}
    big = PreemptionBounded(50).explore(system)
    assert big.complete and labels(big) == labels(Exhaustive().explore(system))
