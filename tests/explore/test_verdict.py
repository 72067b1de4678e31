"""Verdicts: outcomes worst first, one counterexample each, matched against expectations."""

from finirace.explore import PreemptionBounded, check_system

from .toys import Counter, LockOrder


def test_outcomes_are_worst_first_with_one_counterexample_each():
    v = check_system(LockOrder(), scenario="locks", variant="toy")
    assert v.labels == ("timeout, main deadlocked, t1 deadlocked", "clean")
    assert [cx.outcome.label for cx in v.counterexamples] == list(v.labels)
    assert v.states > 0 and v.transitions >= v.states - 1 and v.seconds >= 0
    assert v.complete and v.strategy == "exhaustive"  # the default: sleep sets


def test_no_expectation_means_no_match_either_way():
    assert check_system(Counter(2)).matches is None


def test_matches_needs_exactly_the_expected_set():
    assert check_system(Counter(2), expected=("clean", "crash")).matches is True
    assert check_system(Counter(2), expected=("clean",)).matches is False  # crash unexpected
    assert check_system(Counter(2), expected=("clean", "crash", "timeout")).matches is False  # timeout missing


def test_bounded_verdict_says_it_is_incomplete():
    v = check_system(Counter(2), strategy=PreemptionBounded(0), expected=("clean", "crash"))
    assert v.labels == ("clean",)
    assert v.matches is False and not v.complete and v.strategy == "preemptions<=0"


def test_progress_reports_arrive_on_long_runs():
    seen = []
    check_system(Counter(5), progress=seen.append)
    assert seen and seen[-1].transitions >= seen[0].transitions
