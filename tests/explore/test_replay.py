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


def _catalog_systems():
    from finirace.model import build_system
    from finirace.scenario import load_bundled

    return [build_system(sc, "exit") for sc in load_bundled()[:8]]


def test_replays_sharing_a_table_of_asks_give_the_runs_they_give_alone():
    # a verdict's minimizer and replays share one table (explore/verdict.py): what they read
    # from it must be what the system would have said
    from finirace.explore import Exhaustive, minimize, run_choices

    for system in _catalog_systems():
        found = Exhaustive("sleep").explore(system).found
        known: dict = {}
        shared = minimize(system, found, known=known)
        assert shared == minimize(system, found)
        for f in shared:
            assert run_choices(system, f.choices, known=known) == run_choices(system, f.choices)


def test_a_replay_through_asked_states_asks_the_system_nothing():
    from finirace.explore import Exhaustive, minimize, run_choices

    system = _catalog_systems()[0]
    asks = []
    real = system.expand
    system.expand = lambda *a: asks.append(a) or real(*a)
    known: dict = {}
    found = minimize(system, Exhaustive("sleep").explore(system).found, known=known)
    asked = len(asks)
    assert asked
    for f in found:
        run_choices(system, f.choices, known=known)
    assert len(asks) == asked
    run_choices(system, found[0].choices)
    assert len(asks) > asked  # without the table, the replay asks again
