"""The exhaustive search finds every reachable outcome, under every reduction."""

import pytest
from hypothesis import example, given, settings, strategies as st

from finirace.explore import DPOR, Exhaustive, check_system, replay

from .toys import Counter, Independent, LockOrder, Program, TwoPreemptions, brute_force


def test_lost_update_is_found():
    ex = Exhaustive().explore(Counter(2))
    assert {f.outcome.label for f in ex.found} == {"clean", "crash"}
    assert ex.complete


def test_deadlock_is_found_as_timeout():
    ex = Exhaustive().explore(LockOrder())
    assert {f.outcome.label for f in ex.found} == {"clean", "timeout, main deadlocked, t1 deadlocked"}


def test_sleep_sets_cut_transitions_of_independent_threads_but_no_state():
    with_red = Exhaustive(reduction=True).explore(Independent(3, 3))
    without = Exhaustive(reduction=False).explore(Independent(3, 3))
    assert with_red.states == without.states == 4**3
    # with everything independent, each state is entered by exactly one transition
    assert with_red.transitions == with_red.states - 1
    assert without.transitions > with_red.transitions


def test_found_schedules_reach_their_outcome():
    sys_ = Counter(3)
    for f in Exhaustive().explore(sys_).found:
        state = sys_.initial()
        for c in f.choices:
            state, _ = sys_.step(state, sys_.threads[c])
        assert sys_.outcome(state).label == f.outcome.label


# Random little programs: the reduced search must reach exactly the outcomes a
# plain recursion over every interleaving reaches (this is what catches a sleep
# set combined wrongly with state caching).
op = st.one_of(
    st.tuples(st.just("set"), st.sampled_from("xyz"), st.integers(0, 2)),
    st.tuples(st.just("add"), st.sampled_from("xyz"), st.sampled_from("xyz")),
    st.tuples(st.just("wait"), st.sampled_from("xyz"), st.integers(0, 2)),
)
programs = st.lists(st.lists(op, min_size=1, max_size=4).map(tuple), min_size=2, max_size=3).map(tuple)


@settings(max_examples=300, deadline=None)
@given(programs)
# a wait that only the other order lets through (a race with a waiting thread)
@example(((("set", "z", 1),), (("set", "x", 0), ("wait", "z", 0))))
# the racing thread sleeps where the race is: only another thread starts the reversal
@example(((("set", "x", 0),), (("set", "y", 0), ("set", "x", 1)), (("set", "x", 0), ("set", "y", 1))))
def test_reduction_reaches_every_outcome_of_a_random_program(code):
    system = Program(code)
    expected = set(brute_force(system))
    for reduction in ("dpor", "sleep", "none"):
        ex = Exhaustive(reduction).explore(system)
        assert {f.outcome.label for f in ex.found} == expected, reduction
    assert Exhaustive("dpor").explore(system).strategy == "exhaustive (dpor)"


def test_dpor_runs_one_interleaving_when_everything_commutes():
    ex = Exhaustive("dpor").explore(Independent(3, 3))
    assert ex.transitions == 3 * 3  # one run: the sleep-set search still enters all 4**3 states
    assert {f.outcome.label for f in ex.found} == {"clean"}


def test_dpor_finds_a_deadlock_behind_a_wait():
    ex = DPOR().explore(LockOrder())
    assert {f.outcome.label for f in ex.found} == {"clean", "timeout, main deadlocked, t1 deadlocked"}


class _Mute(LockOrder):
    """A system that does not say what its waiting threads wait on."""

    blocked_on = None


def test_without_blocked_on_dpor_falls_back_to_sleep_sets():
    ex = Exhaustive("dpor").explore(_Mute())
    assert ex.strategy == "exhaustive (sleep sets)"
    assert {f.outcome.label for f in ex.found} == {"clean", "timeout, main deadlocked, t1 deadlocked"}
    with pytest.raises(ValueError):
        DPOR().explore(_Mute())


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError):
        Exhaustive("partial")


@settings(max_examples=60, deadline=None)
@given(programs)
def test_counterexamples_are_minimal_and_replay(code):
    system = Program(code)
    best = brute_force(system)
    v = check_system(system)
    assert set(v.labels) == set(best)
    for cx in v.counterexamples:
        assert (cx.preemptions, cx.steps) == best[cx.outcome.label]
        again = replay(system, cx.schedule)
        assert again.outcome.label == cx.outcome.label
        assert [s.transition for s in again.trace] == [s.transition for s in cx.trace]


def test_two_preemptions_needed():
    v = check_system(TwoPreemptions())
    cx = v.counterexample("crash")
    assert cx.preemptions == 2
    assert cx.schedule in ("v1.abab", "v1.baba")
    assert [s.preemption for s in cx.trace] == [False, True, True, False]


class _Stuck(TwoPreemptions):
    """Breaks the contract: after one step nobody can run and there is no outcome."""

    def enabled(self, state):
        return () if state else ("main",)

    def outcome(self, state):
        return None


def test_a_model_that_names_no_outcome_is_a_model_error():
    import pytest

    from finirace.explore import ModelError

    with pytest.raises(ModelError):
        Exhaustive().explore(_Stuck())


class _NoExpand:
    """A system as the search sees it, without the optional ``expand`` hook."""

    def __init__(self, system) -> None:
        self.threads = system.threads
        self.initial, self.enabled, self.step = system.initial, system.enabled, system.step
        self.outcome, self.key = system.outcome, system.key


def test_sleeping_threads_read_where_they_fell_asleep_make_the_same_search():
    # with System.expand the sleep-set search runs no step for a sleeping thread and reads
    # its transition from where it fell asleep; it must walk exactly what it walks without
    # (three eras far apart: the check golden file pins every cell's states and transitions)
    from finirace.model import build_system
    from finirace.scenario import catalog

    for sc in catalog.load_bundled():
        for variant in ("legacy36", "exit313", "guards"):
            system = build_system(sc, variant)
            assert system.expand is not None
            lazy = Exhaustive("sleep").explore(system)
            whole = Exhaustive("sleep").explore(_NoExpand(build_system(sc, variant)))
            assert (lazy.states, lazy.transitions) == (whole.states, whole.transitions), (sc.name, variant)
            assert {(f.outcome.label, f.choices) for f in lazy.found} == \
                {(f.outcome.label, f.choices) for f in whole.found}, (sc.name, variant)
