"""Replay: a token reproduces its run exactly, and a token that does not fit says why."""

import pytest

from finirace.explore import Replay, ScheduleError, check_system, replay

from .toys import Counter, TwoPreemptions


def test_every_counterexample_replays_to_the_same_trace():
    system = Counter(3)
    for cx in check_system(system).counterexamples:
        again = replay(system, cx.schedule)
        assert again == cx


def test_replay_marks_preemptions():
    cx = replay(TwoPreemptions(), "v1.abab")
    assert cx.outcome.label == "crash"
    assert [(s.preemption, s.preempted) for s in cx.trace] == [(False, None), (True, "main"), (True, "t1"), (False, None)]


@pytest.mark.parametrize(
    "token, words",
    [
        ("v1.a2b2a", "the run is over after 4 steps"),
        ("v1.a", "the run goes on"),
        ("v1.a3", "thread 'main' cannot run"),
        ("v1.c", "names thread 'c', the scenario has 2 threads"),
        ("nonsense", "not a finirace schedule"),
    ],
)
def test_tokens_that_do_not_fit(token, words):
    with pytest.raises(ScheduleError) as err:
        replay(TwoPreemptions(), token)
    assert words in str(err.value)


def test_replay_strategy_gives_one_outcome():
    v = check_system(TwoPreemptions(), strategy=Replay("v1.baba"))
    assert v.labels == ("crash",)
    assert v.counterexamples[0].schedule == "v1.baba"
    assert not v.complete
