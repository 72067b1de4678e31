"""The exhaustive search finds every reachable outcome, with and without sleep sets."""

from hypothesis import given, settings, strategies as st

from finirace.explore import Exhaustive, check_system, replay

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


@settings(max_examples=150, deadline=None)
@given(programs)
def test_reduction_reaches_every_outcome_of_a_random_program(code):
    system = Program(code)
    expected = set(brute_force(system))
    reduced = {f.outcome.label for f in Exhaustive(reduction=True).explore(system).found}
    plain = {f.outcome.label for f in Exhaustive(reduction=False).explore(system).found}
    assert reduced == plain == expected


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
