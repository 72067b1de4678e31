"""PCT: random priority schedules, repeatable by seed."""

import pytest

from finirace.explore import PCT

from .toys import Counter, LockOrder, TwoPreemptions


def labels(ex):
    return {f.outcome.label for f in ex.found}


def test_same_seed_same_campaign():
    a = PCT(50, seed=7).explore(Counter(3))
    b = PCT(50, seed=7).explore(Counter(3))
    assert a.found == b.found and a.states == b.states and a.transitions == b.transitions


def test_finds_the_lost_update_and_the_deadlock():
    assert labels(PCT(200, seed=1).explore(Counter(3))) == {"clean", "crash"}
    assert "timeout, main deadlocked, t1 deadlocked" in labels(PCT(200, seed=1).explore(LockOrder()))


def test_depth_one_never_preempts():
    # with no change point the highest-priority thread runs until it blocks or ends
    ex = PCT(100, seed=3, depth=1).explore(TwoPreemptions())
    assert labels(ex) == {"clean"}
    assert all(f.preemptions == 0 for f in ex.found)


def test_depth_three_finds_a_bug_of_two_preemptions():
    assert "crash" in labels(PCT(300, seed=5, depth=3).explore(TwoPreemptions()))


def test_random_search_is_never_complete():
    assert PCT(10).explore(Counter(2)).complete is False


@pytest.mark.parametrize("runs, depth", [(0, 3), (5, 0)])
def test_bad_parameters(runs, depth):
    with pytest.raises(ValueError):
        PCT(runs, depth=depth)
