"""Minimization: the run shown for an outcome has the fewest preemptions, then steps."""

from finirace.explore import Found, minimize
from finirace.outcome import RunKind, RunOutcome

from .toys import Counter, TwoPreemptions, brute_force


def test_a_long_found_run_is_replaced_by_the_minimum():
    system = Counter(3)
    # a lost update found the hard way: every thread preempted
    clumsy = Found(RunOutcome(RunKind.CRASH), (0, 1, 2, 0, 1, 2), 5)
    (best,) = minimize(system, (clumsy,))
    assert best.outcome.label == "crash"
    assert (best.preemptions, len(best.choices)) == brute_force(system)["crash"]
    assert best.preemptions < clumsy.preemptions


def test_labels_not_asked_for_are_not_added():
    system = TwoPreemptions()
    clean = Found(RunOutcome(RunKind.CLEAN), (1, 1, 0, 0), 0)
    assert [f.outcome.label for f in minimize(system, (clean,))] == ["clean"]


def test_over_budget_keeps_what_was_found():
    system = TwoPreemptions()
    found = Found(RunOutcome(RunKind.CRASH), (1, 0, 1, 0), 2)
    assert minimize(system, (found,), budget=1) == (found,)
