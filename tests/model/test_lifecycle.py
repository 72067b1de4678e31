"""``Py_FinalizeEx`` per era (``finirace.model.lifecycle``): what each CPython version's source does.

The static main interpreter (3.11+), the GIL released before ``zapthreads``
(3.12+), what ``_PyRuntime_Finalize`` leaves behind (3.11–3.13), and PEP 788's
guard loop as merged (3.15), each on a scenario written here.
"""

from __future__ import annotations

from finirace.explore import check
from finirace.model import build_system
from finirace.model.lifecycle import STATIC_INTERP
from finirace.outcome import RunKind
from finirace.scenario import loads

FINALIZE = loads('name = "f"\n[threads]\nmain = ["init", "finalize"]\n')
AFTER = """
name = "after"
[threads]
main = ["init", "spawn w", "finalize", "signal f", "join w"]
w = ["wait f", "new_tstate", "restore", "save"]
"""


def _run_main(variant):
    """The one interleaving of init + finalize: the final world."""
    system = build_system(FINALIZE, variant)
    world = system.initial()
    while system.enabled(world):
        world, _ = system.step(world, "main")
    return world


def test_main_interpreter_is_freed_up_to_3_10_and_static_from_3_11():
    heap10 = _run_main("exit").heap
    interp10 = next(b for b in heap10 if b.name == "PyInterpreterState")
    assert not interp10.alive and interp10.freed_by.function == "PyInterpreterState_Delete"
    heap11 = _run_main("exit311").heap
    (interp11,) = [b for b in heap11 if b.name == STATIC_INTERP]
    assert interp11.alive


def test_static_interpreter_is_the_same_block_after_a_restart():
    text = 'name = "r"\n[threads]\nmain = ["init", "finalize", "init", "finalize"]\n'
    system = build_system(loads(text), "exit311")
    world = system.initial()
    while system.enabled(world):
        world, _ = system.step(world, "main")
    assert [b.name for b in world.heap].count(STATIC_INTERP) == 1


def test_gil_stays_with_the_finalizer_until_3_11_and_is_released_from_3_12():
    for variant in ("exit", "exit311"):
        gil = _run_main(variant).gil
        assert gil.locked and gil.holder == "main", variant
    for variant in ("exit312", "exit313", "hang"):
        gil = _run_main(variant).gil
        assert not gil.locked, variant


def test_detach_comes_before_zapthreads_in_3_12():
    (o,) = check(FINALIZE, "exit312").outcomes
    system = build_system(FINALIZE, "exit312")
    world, functions = system.initial(), []
    while system.enabled(world):
        world, t = system.step(world, "main")
        functions.append(t.function)
    assert functions.index("_PyThreadState_Detach") == functions.index("zapthreads") - 1
    assert o.kind is RunKind.CLEAN


def test_a_thread_state_made_after_finalize_meets_what_each_runtime_left():
    """Measured in the lab (new-tstate-after): 3.10.13 reads the freed interpreter (valgrind:
    alloc'd at PyInterpreterState_New, free'd at finalize_interp_delete), 3.11.7 and 3.12.1
    crash in HEAD_LOCK, 3.13.0 dies in gilstate_tss_set, 3.6–3.8 crash in HEAD_LOCK first."""
    (o,) = check(loads(AFTER), "exit").outcomes
    (err,) = o.memory_errors
    assert err.block == "PyInterpreterState" and err.access.function == "new_threadstate"
    for variant in ("legacy", "exit311", "exit312"):
        (o,) = check(loads(AFTER), variant).outcomes
        assert o.kind is RunKind.CRASH and o.reason == "PyThread_acquire_lock", variant
    (o,) = check(loads(AFTER), "exit313").outcomes
    assert o.kind is RunKind.ABORT and "gilstate_tss_set" in o.reason


def test_guard_taken_while_finalization_waits_is_granted():
    """PR #149116: the guards are closed by a compare-exchange that succeeds only at zero, so a
    second thread's guard asked for while the finalizer waits (detached) is granted."""
    text = """
name = "g"
[threads]
main = ["init", "save", "spawn a", "spawn b", "wait held", "restore", "finalize"]
a = ["guard", "signal held", "wait b-asked", "unguard"]
b = ["wait held", "guard", "signal b-asked", "ensure", "python \\"x = 1\\"", "release", "unguard"]
"""
    v = check(loads(text), "guards")
    assert v.labels == ("clean",)
    for o in v.outcomes:
        assert o.thread("b").last_step.text == "unguard"  # never refused


def test_finalizer_releases_the_gil_while_guards_are_held():
    """While a guard is held the finalizer waits detached: the guard holder takes the GIL and
    runs Python then, before the guards are closed and _PyRuntime._finalizing is set."""
    text = """
name = "g"
[threads]
main = ["init", "save", "spawn w", "wait held", "restore", "finalize"]
w = ["guard", "signal held", "ensure", "python \\"x = 1\\"", "release", "unguard"]
"""
    system = build_system(loads(text), "guards")
    seen, todo, ran_while_waiting = set(), [system.initial()], False
    while todo:
        world = todo.pop()
        if world in seen:
            continue
        seen.add(world)
        for t in system.enabled(world):
            new, tr = system.step(world, t)
            main_ins, _ = system.current(world, 0)
            waiting = main_ins.label == "make_pre_finalization_calls.wait"
            if t == "w" and tr.function == "PyRun_SimpleStringFlags" and waiting:
                assert not world.runtime.guards_closed and world.runtime.finalizing is None
                ran_while_waiting = True
            todo.append(new)
    assert ran_while_waiting
    assert check(loads(text), "guards").labels == ("clean",)
