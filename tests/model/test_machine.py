"""The Machine keeps the System contract, and its verdicts come from the steps.

The reduction of the explorer trusts each step's declared reads and writes; the
commutation test checks them on every reachable state of every catalog case.
"""

from __future__ import annotations

import pytest

from finirace.explore import Exhaustive, check, check_system
from finirace.model import VARIANTS, build_system
from finirace.outcome import RunKind, label_matches
from finirace.scenario import catalog, loads

CATALOG = catalog.load_bundled()


def reachable(system, limit=5000):
    seen, stack = set(), [system.initial()]
    while stack and len(seen) < limit:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        if system.outcome(s) is not None:
            continue
        for t in system.enabled(s):
            stack.append(system.step(s, t)[0])
    return seen


def labels(text: str, variant: str) -> tuple[str, ...]:
    return check(loads(text), variant).labels


@pytest.mark.parametrize("sc", CATALOG, ids=lambda s: s.name)
def test_independent_steps_commute_and_stay_enabled(sc):
    for variant in VARIANTS:
        system = build_system(sc, variant)
        for s in reachable(system):
            if system.outcome(s) is not None:
                continue
            en = system.enabled(s)
            moves = {t: system.step(s, t) for t in en}
            for a in en:
                for b in en:
                    if a >= b or moves[a][1].conflicts(moves[b][1]):
                        continue
                    sa, sb = moves[a][0], moves[b][0]
                    assert b in system.enabled(sa) and a in system.enabled(sb), (sc.name, variant, a, b)
                    assert system.step(sa, b)[0] == system.step(sb, a)[0], (sc.name, variant, a, b)
                    # and each does what it did before the other moved: the sleep-set search reads
                    # a sleeping thread's transition where it fell asleep (explore/exhaustive.py)
                    assert system.step(sa, b)[1] == moves[b][1], (sc.name, variant, a, b)
                    assert system.step(sb, a)[1] == moves[a][1], (sc.name, variant, a, b)


@pytest.mark.parametrize("sc", CATALOG, ids=lambda s: s.name)
def test_reduction_reaches_the_same_outcomes(sc):
    for variant in VARIANTS:
        full = check_system(build_system(sc, variant), strategy=Exhaustive(reduction=False), minimize_budget=0)
        reduced = check_system(build_system(sc, variant), strategy=Exhaustive(), minimize_budget=0)
        assert set(full.labels) == set(reduced.labels), (sc.name, variant)


def test_steps_are_pure_and_states_hashable():
    sc = next(s for s in CATALOG if s.name == "seed")
    system = build_system(sc, "wrapper")
    for s in list(reachable(system))[:200]:
        hash(s)
        for t in system.enabled(s):
            assert system.step(s, t) == system.step(s, t)


SEED_THREE = """
name = "three"
[threads]
main = ["init", "save", "spawn a", "spawn b", "spawn c", "wait a_blocked", "wait b_blocked", "wait c_blocked", "restore", "finalize", "signal done", "join a", "join b", "join c"]
a = ["ensure", "save", "signal a_blocked", "block until done", "restore", "release"]
b = ["ensure", "save", "signal b_blocked", "block until done", "restore", "release"]
c = ["ensure", "save", "signal c_blocked", "block until done", "restore", "release"]
"""


def test_three_late_workers_each_meet_their_era():
    assert labels(SEED_THREE, "exit") == ("clean, a exited, b exited, c exited",)
    (legacy,) = labels(SEED_THREE, "legacy")
    assert label_matches("timeout, main deadlocked, a hung", legacy)
    (prefix,) = labels(SEED_THREE, "prefix")
    assert prefix == "memory-error"


def test_worker_done_before_finalize_is_clean_and_late_one_is_not():
    early = """
name = "early"
[threads]
main = ["init", "save", "spawn w", "wait done", "restore", "finalize"]
w = ["ensure", "python \\"x = 1\\"", "release", "signal done"]
"""
    for variant in VARIANTS:
        assert labels(early, variant) == ("clean",), variant


def test_noexcept_only_matters_where_threads_are_killed():
    text = """
name = "nx"
[threads]
main = ["init", "spawn w", "finalize", "signal f", "join w"]
w = ["wait f", "new_tstate", "noexcept restore"]
"""
    # PyThreadState_New on the kept interpreter after finalization fails before any restore:
    # 3.9–3.10 read the freed interpreter, 3.11 crashes in HEAD_LOCK on the runtime's freed lock
    assert labels(text, "exit") == ("memory-error",)
    assert labels(text, "exit311") == ("crash",)
    text2 = """
name = "nx2"
[threads]
main = ["init", "save", "spawn w", "wait made", "restore", "finalize", "signal f", "join w"]
w = ["new_tstate", "signal made", "wait f", "noexcept restore"]
"""
    assert labels(text2, "exit") == ("abort",)
    assert labels(text2.replace("noexcept restore", "restore"), "exit") == ("clean, w exited",)


def test_save_without_the_gil_is_a_fatal_error():
    text = 'name = "s"\n[threads]\nmain = ["init", "save", "save"]\n'
    (o,) = check(loads(text), "exit").outcomes
    assert o.kind is RunKind.ABORT and "PyEval_SaveThread" in o.reason


def test_guard_refused_skips_the_rest_of_the_thread():
    text = """
name = "g"
[threads]
main = ["init", "spawn w", "finalize", "signal f", "join w"]
w = ["wait f", "guard", "ensure"]
"""
    (o,) = check(loads(text), "guards").outcomes
    assert o.label == "clean" and o.thread("w").last_step.text == "guard"
    assert labels(text, "legacy") == ("crash",)


def test_guard_never_closed_makes_finalization_wait_for_ever():
    text = """
name = "g2"
[threads]
main = ["init", "save", "spawn w", "wait held", "restore", "finalize"]
w = ["guard", "signal held", "lock L", "lock L"]
"""
    (o,) = check(loads(text), "guards").outcomes
    assert o.kind is RunKind.TIMEOUT
    # parked on finalization_guards.done in make_pre_finalization_calls, GIL released
    assert o.thread("main").where == "_PyEvent_Wait" and o.thread("w").outcome.value == "deadlocked"


def test_python_thread_started_in_a_restarted_runtime_runs_and_ends():
    # start_thread makes the child's state; the child takes the GIL (thread_run),
    # runs its steps, then deletes its state; main's join sees it finished
    text = """
name = "st"
[threads]
main = ["init", "finalize", "init", "start_thread t", "save", "join t", "restore", "finalize"]
t = ["python \\"x = 1\\""]
"""
    for variant in VARIANTS:
        (o,) = check(loads(text), variant).outcomes
        assert o.label == "clean" and o.thread("t").outcome.value == "finished", variant


def test_thread_start_waits_for_the_child_so_its_own_finalize_comes_after():
    # threading.Thread.start() returns only once the child ran its bootstrap
    # (self._started.wait()): a starter that finalizes next cannot meet its child there
    text = """
name = "st2"
[threads]
main = ["init", "start_thread t", "finalize"]
t = ["python \\"x = 1\\""]
"""
    for variant in ("legacy36", "legacy", "exit", "exit313", "hang"):
        assert labels(text, variant) == ("clean",), variant


def test_a_child_that_meets_finalization_in_its_bootstrap_leaves_its_starter_waiting():
    # the starter releases the GIL in self._started.wait(); main takes it and finalizes;
    # the child gives up in take_gil (exit eras) or waits for ever (legacy), never sets
    # _started, and the starter stays inside start() for good: hung
    text = """
name = "st3"
[threads]
main = ["init", "save", "spawn w", "wait started", "restore", "finalize"]
w = ["ensure", "signal started", "start_thread t", "release"]
t = ["python \\"x = 1\\""]
"""
    assert "clean, w hung, t exited" in labels(text, "exit")
    assert "clean, w hung, t hung" in labels(text, "legacy")
    o = next(o for o in check(loads(text), "exit").outcomes if o.label == "clean, w hung, t exited")
    assert o.thread("w").where == "acquire_timed"


def test_a_step_makes_the_transition_its_dataclass_would():
    # the machine builds worlds and transitions without their __init__ (cheaper); they must be
    # the objects the dataclasses make, field for field
    from dataclasses import fields

    from finirace.model.system import Transition
    from finirace.model.world import World

    system = build_system(next(s for s in CATALOG if s.name == "seed"), "exit")
    state = system.initial()
    for _ in range(6):
        t = system.enabled(state)[0]
        nxt, tr = system.step(state, t)
        assert tr == Transition(**{f.name: getattr(tr, f.name) for f in fields(Transition)})
        assert nxt == World(**{f.name: getattr(nxt, f.name) for f in fields(World)})
        assert hash(nxt) == hash(World(**{f.name: getattr(nxt, f.name) for f in fields(World)}))
        state = nxt


def _waits_when_run(system, state, ti) -> bool:
    from finirace.model.program import Ctx, Fault, NotReady

    ins, step = system.current(state, ti)
    try:
        ins.run(Ctx(system, state, ti, ins, step))
    except NotReady:
        return True
    except Fault:
        pass
    return False


def test_each_blocked_test_says_what_its_step_does_when_run():
    # Instr.blocked lets the machine skip running a step that waits; it must say "waits"
    # exactly where running the step would, at every reachable state where a thread is at one
    from finirace.model.world import RUN

    extra = loads('name = "waits"\n[threads]\nmain = ["init", "save", "spawn a", "spawn b", "signal go", '
                  '"join a", "restore", "finalize"]\na = ["wait go", "ensure", "release"]\n'
                  'b = ["block until go", "join a", "ensure", "release"]\n')
    asked = {"waits": 0, "goes": 0}
    for sc in [*CATALOG, extra]:
        for variant in ("legacy36", "exit", "guards"):
            system = build_system(sc, variant)
            for s in reachable(system, limit=3000):
                for ti, rec in enumerate(s.threads):
                    if rec.status != RUN or s.fault is not None:
                        continue
                    ins, step = system.current(s, ti)
                    if ins.blocked is None:
                        continue
                    said = ins.blocked(system, s, step)
                    assert said == _waits_when_run(system, s, ti), (sc.name, variant, ins.label)
                    asked["waits" if said else "goes"] += 1
    assert asked["waits"] > 100 and asked["goes"] > 100  # both answers were put to the test
