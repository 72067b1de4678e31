"""Local steps (model/locality.py): taking one alone loses no outcome.

The persistent-set search tries only a local step where there is one, so the
whole reduction rests on one property: from a state, the outcome labels
reachable after the local step are all those reachable from the state.  It is
checked here directly, on every reachable state of the catalog under every
variant and of multi-worker scenarios with events and locks; and the hook's
choices on a few states where the answer is known.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from finirace.model import VARIANTS, build_system
from finirace.scenario import catalog, loads
from tests.model.walk import steps

CATALOG = catalog.load_bundled()

WORKERS = """
name = "workers"
[threads]
main = ["init", "save", "spawn w1", "spawn w2", "wait b1", "wait b2", "restore", "finalize"]
w1 = ["ensure", "save", "signal b1", "block", "restore", "release"]
w2 = ["ensure", "save", "signal b2", "block", "restore", "release"]
"""

LOCKS = """
name = "locks"
[threads]
main = ["init", "save", "spawn a", "spawn b", "lock m", "signal go", "unlock m", "join a", "restore", "finalize"]
a = ["wait go", "lock m", "ensure", "release", "unlock m"]
b = ["lock n", "block until go", "unlock n", "ensure", "release"]
"""


class Reach:
    """The outcome labels reachable from each state, by a plain memoized search."""

    def __init__(self, system) -> None:
        self.system = system
        self.memo: dict = {}

    def __call__(self, state) -> frozenset[str]:
        system, memo = self.system, self.memo
        k = system.key(state)
        got = memo.get(k)
        if got is None:
            outcome = system.outcome(state)
            if outcome is not None:
                got = frozenset({outcome.label})
            else:
                got = frozenset().union(*(self(system.step(state, t)[0]) for t in system.enabled(state)))
            memo[k] = got
        return got


def _local_steps_lose_nothing(system) -> int:
    reach = Reach(system)
    index = {t: i for i, t in enumerate(system.threads)}
    checked = 0
    for s, t, nxt, tr in steps(system):
        if system.local(s, index[t], tr, nxt):
            assert reach(nxt) == reach(s), (t, tr.label, s)
            checked += 1
    return checked


@pytest.mark.parametrize("sc", CATALOG, ids=lambda s: s.name)
def test_a_local_step_keeps_every_outcome_of_the_catalog(sc):
    for variant in VARIANTS:
        _local_steps_lose_nothing(build_system(sc, variant))


@pytest.mark.parametrize("text", [WORKERS, LOCKS], ids=["workers", "locks"])
@pytest.mark.parametrize("variant", ["prefix", "exit", "exit313"])
def test_a_local_step_keeps_every_outcome_with_events_and_locks(text, variant):
    assert _local_steps_lose_nothing(build_system(loads(text), variant)) > 0


def _run(system, *threads):
    state = system.initial()
    for t in threads:
        state = system.step(state, t)[0]
    return state


def _local(system, state, thread) -> bool:
    nxt, tr = system.step(state, thread)
    return system.local(state, system.threads.index(thread), tr, nxt)


def test_a_signal_main_waits_for_later_is_local():
    system = build_system(loads(WORKERS), "exit")
    state = system.initial()
    # run until w2 is about to signal b2 (main cannot pass `wait b1` before w1 signals)
    while True:
        en = system.enabled(state)
        w2 = system.current(state, 2)
        if "w2" in en and w2[1] is not None and w2[1].kind == "signal":
            break
        state = system.step(state, "w2" if "w2" in en and state.threads[0].pc >= 4 else en[0])[0]
    assert state.threads[0].pc == 4 and "b1" not in state.events
    assert _local(system, state, "w2")  # main reads b2 only once w2 signalled it


def test_a_lock_is_local_only_while_no_other_thread_can_reach_it():
    system = build_system(loads(LOCKS), "exit")
    state = system.initial()
    while system.current(state, 0)[1].kind != "lock":
        state = system.step(state, "main")[0]
    # a takes m too, but only after main signals go: while main stands still, a cannot
    assert _local(system, state, "main")
    contended = LOCKS.replace('a = ["wait go", "lock m"', 'a = ["lock m", "wait go"')
    system = build_system(loads(contended), "exit")
    assert not _local(system, state, "main")  # now a can take m first


def test_a_patched_variant_has_no_local_steps():
    # a patch may make any step touch anything: the search gets no local steps to trust
    patched = replace(VARIANTS["exit"], patches=(("take_gil", lambda variant, steps: steps),))
    assert build_system(loads(WORKERS), patched).local is None
    assert build_system(loads(WORKERS), "exit").local is not None


def test_a_machine_whose_tables_were_built_goes_with_its_last_reference():
    """The tables refer to their machine without holding it: a cycle between them would keep the
    machine, and every world its memo holds, until a full collection, which paused searches make
    rare (ten four-worker searches in one process doubled its memory)."""
    import gc
    import weakref

    from finirace.explore import Exhaustive, check_system

    was = gc.isenabled()
    gc.disable()
    try:
        system = build_system(loads(WORKERS), "exit")
        check_system(system, strategy=Exhaustive("persistent"))
        assert system.local is not None  # the persistent-set search built the tables
        gone = weakref.ref(system)
        del system
        assert gone() is None
    finally:
        if was:
            gc.enable()
