"""Sub-interpreters in the model: ``new_interp``, ``end_interp``, ``new_tstate_in``, and
``Py_FinalizeEx`` with sub-interpreters left (3.6 leaves them, 3.7–3.12 abort, 3.13+ end them)."""

from __future__ import annotations

import pytest

from finirace.explore import check
from finirace.model import VARIANTS, build_system
from finirace.model.programs import program_for
from finirace.scenario import ScenarioError, loads

ERAS = tuple(VARIANTS)

ROUND_TRIP = 'name = "t"\n[threads]\nmain = ["init", "new_interp", "python \\"x = 1\\"", "end_interp", "python \\"y = 1\\"", "finalize"]\n'

# a worker attached to main's sub-interpreter, parked with its state saved, when main ends it
NOT_LAST = '''name = "t"
[threads]
main = ["init", "new_interp", "save", "spawn w", "wait in", "restore", "end_interp", "finalize", "signal out", "join w"]
w = ["new_tstate_in main", "restore", "python \\"x = 1\\"", "save", "signal in", "block until out", "restore", "save"]
'''

# a worker made a sub-interpreter (from its PyGILState_Ensure'd state) and keeps it past Py_FinalizeEx
LEFT_AT_EXIT = '''name = "t"
[threads]
main = ["init", "save", "spawn w", "wait made", "restore", "finalize", "signal finalized", "join w"]
w = ["ensure", "new_interp", "python \\"x = 1\\"", "save", "signal made", "block until finalized", "restore", "python \\"x = 2\\"", "save"]
'''


def _main_alone(text: str, variant: str):
    """Every world main passes through, running alone."""
    system = build_system(loads(text), variant)
    s = system.initial()
    worlds = [s]
    while "main" in system.enabled(s):
        s, _ = system.step(s, "main")
        worlds.append(s)
    return worlds


@pytest.mark.parametrize("variant", ERAS)
def test_a_sub_interpreter_made_and_ended_leaves_main_on_its_own_state(variant):
    assert check(loads(ROUND_TRIP), variant).labels == ("clean",)
    worlds = _main_alone(ROUND_TRIP, variant)
    inside = next(w for w in worlds if w.runtime.subs)
    (sub,) = inside.runtime.subs
    main = inside.threads[0]
    assert main.sub == sub.block and sub.tstates == (main.tstate,) and main.outer is not None
    assert main.outer in inside.runtime.tstates  # the state Py_NewInterpreter replaced: main's own
    ended = next(w for w in worlds[worlds.index(inside):] if not w.runtime.subs)
    assert not ended.heap[sub.block].alive and not ended.heap[main.tstate].alive
    assert ended.threads[0].tstate == main.outer and ended.threads[0].outer is None


@pytest.mark.parametrize("variant", ERAS)
def test_ending_it_while_another_state_is_linked_is_fatal_in_every_era(variant):
    (o,) = check(loads(NOT_LAST), variant).outcomes
    assert o.label == "abort" and o.reason == "Fatal Python error: Py_EndInterpreter: not the last thread"
    assert o.threads[0].where == "Py_EndInterpreter"


def test_the_ending_state_must_be_current():
    text = 'name = "t"\n[threads]\nmain = ["init", "new_interp", "save", "end_interp"]\n'
    for variant in ("legacy36", "exit", "exit313"):
        (o,) = check(loads(text), variant).outcomes
        assert o.reason == "Fatal Python error: Py_EndInterpreter: thread is not current"


def test_finalize_with_a_sub_interpreter_left_follows_each_era():
    labels = {v: check(loads(LEFT_AT_EXIT), v) for v in ("legacy36", "legacy", "exit312", "exit313")}
    # 3.6: the ensure made a GIL, the finalizer keeps it, the worker waits for it for ever
    assert labels["legacy36"].labels == ("timeout, main deadlocked, w hung",)
    for v in ("legacy", "exit312"):  # PyInterpreterState_Delete of the main interpreter
        (o,) = labels[v].outcomes
        assert o.reason == "Fatal Python error: PyInterpreterState_Delete: remaining subinterpreters"
    # 3.13: finalize_subinterpreters ended it; the worker gives up at take_gil's runtime check
    assert labels["exit313"].labels == ("clean, w exited",)


def test_3_13_ends_only_a_sub_interpreter_with_one_state_left():
    # two states in the sub-interpreter at exit: the head is deleted, the second one is "not the last"
    text = LEFT_AT_EXIT.replace('w = ["ensure", "new_interp",', 'w = ["ensure", "new_interp", "new_tstate_in w",')
    (o,) = check(loads(text), "exit313").outcomes
    assert o.reason == "Fatal Python error: Py_EndInterpreter: not the last thread"
    assert o.threads[0].where == "finalize_subinterpreters"


# a hand-made state, no PyGILState_Ensure: on 3.6 no GIL is ever made
LEAKED = '''name = "t"
[threads]
main = ["init", "save", "spawn w", "wait made", "restore", "finalize", "signal finalized", "join w"]
w = ["new_tstate", "restore", "new_interp", "python \\"x = 1\\"", "save", "signal made", "block until finalized", "restore", "python \\"x = 2\\"", "save"]
'''


def test_3_6_leaves_the_sub_interpreter_usable_after_finalize():
    assert check(loads(LEAKED), "legacy36").labels == ("clean",)
    (o,) = check(loads(LEAKED), "legacy").outcomes
    assert o.reason == "Fatal Python error: PyInterpreterState_Delete: remaining subinterpreters"


def test_a_state_made_in_an_ended_sub_interpreter_reads_freed_memory():
    text = ('name = "t"\n[threads]\nmain = ["init", "new_interp", "end_interp", "save", "spawn w", "join w"]\n'
            'w = ["new_tstate_in main"]\n')
    (o,) = check(loads(text), "exit").outcomes
    assert o.label == "memory-error"
    (e,) = o.memory_errors
    assert e.block.startswith("PyInterpreterState (sub-interpreter of main)")
    assert str(e.freed_by.step) == "main[2] end_interp"


def test_3_12_swaps_through_the_gil():
    # 3.12+ new_interpreter detaches the caller and takes the shared GIL for the new state;
    # PyThreadState_Swap back takes it again.  Before, neither touches the GIL
    def functions(kind, variant):
        return [i.function for i in program_for(kind, None, VARIANTS[variant])]

    assert "take_gil" not in functions("new_interp", "exit311") + functions("end_interp", "exit311")
    assert "take_gil" in functions("new_interp", "exit312") and "take_gil" in functions("end_interp", "exit312")
    # a worker waiting for the GIL gets it while 3.12's Py_NewInterpreter has it released
    text = ('name = "t"\n[threads]\nmain = ["init", "save", "spawn w", "wait ready", "restore", "new_interp",'
            ' "end_interp", "save", "join w"]\n'
            'w = ["ensure", "save", "signal ready", "restore", "release"]\n')
    assert _worker_gets_the_gil_inside_new_interp(text, "exit312")
    assert not _worker_gets_the_gil_inside_new_interp(text, "exit311")


def _worker_gets_the_gil_inside_new_interp(text: str, variant: str) -> bool:
    """Whether some interleaving has w holding the GIL while main is inside its new_interp step."""
    system = build_system(loads(text), variant)
    step = 5  # main's new_interp
    seen, todo = set(), [system.initial()]
    while todo:
        s = todo.pop()
        key = system.key(s)
        if key in seen:
            continue
        seen.add(key)
        m = s.threads[0]
        if m.pc == step and m.phase > 0 and s.gil.locked and s.gil.holder == "w":
            return True
        todo.extend(system.step(s, t)[0] for t in system.enabled(s))
    return False


def test_new_tstate_in_needs_a_thread_that_makes_a_sub_interpreter():
    with pytest.raises(ScenarioError, match="thread 'main' makes no sub-interpreter"):
        loads('name = "t"\n[threads]\nmain = ["init", "spawn w"]\nw = ["new_tstate_in main"]\n')
    with pytest.raises(ScenarioError, match="no thread named 'x'"):
        loads('name = "t"\n[threads]\nmain = ["init", "new_interp", "new_tstate_in x"]\n')
