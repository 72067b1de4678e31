"""3.6's GIL made on first use (``legacy36``), step by step on inline scenarios."""

from __future__ import annotations

from finirace.explore import check
from finirace.model import VARIANTS, build_system
from finirace.scenario import loads


def run_main(text: str, variant: str, steps: int):
    """The world after ``steps`` atomic steps of main alone."""
    system = build_system(loads(text), variant)
    s = system.initial()
    for _ in range(steps):
        s, _ = system.step(s, "main")
    return s


INIT = 'name = "t"\n[threads]\nmain = ["init", "python \\"x = 1\\"", "finalize"]\n'


def test_only_legacy36_has_a_lazy_gil():
    assert [n for n, v in VARIANTS.items() if v.lazy_gil] == ["legacy36"]


def test_init_makes_no_gil_on_3_6_and_one_on_3_7():
    s36 = run_main(INIT, "legacy36", 2)
    assert not s36.gil.created and not s36.gil.locked and s36.gil.holder == "main"
    s37 = run_main(INIT, "legacy", 2)
    assert s37.gil.created and s37.gil.locked and s37.gil.holder == "main"
    # running Python on the current state needs no GIL; finalizing without one leaves nothing attached
    assert check(loads(INIT), "legacy36").labels == ("clean",)
    end = run_main(INIT, "legacy36", 8)
    assert not end.gil.created and end.gil.holder is None


def test_ensure_of_a_new_thread_makes_the_gil_and_holds_it():
    text = ('name = "t"\n[threads]\nmain = ["init", "save", "spawn w", "join w"]\n'
            'w = ["ensure", "signal in"]\n')
    system = build_system(loads(text), "legacy36")
    s = system.initial()
    for _ in range(4):  # init (2), save, spawn
        s, _ = system.step(s, "main")
    seen = []
    while s.threads[1].pc == 0:
        s, tr = system.step(s, "w")
        seen.append(tr.function)
    assert seen == ["PyGILState_Ensure", "new_threadstate", "PyEval_RestoreThread", "PyEval_InitThreads"]
    assert s.gil.created and s.gil.locked and s.gil.holder == "w"


def test_restore_without_a_gil_skips_the_finalizing_check():
    # the GIL-less restore after finalization: the thread goes on, on freed memory
    text = ('name = "t"\n[threads]\n'
            'main = ["init", "save", "spawn w", "wait saved", "restore", "finalize", "signal done", "join w"]\n'
            'w = ["new_tstate", "restore", "save", "signal saved", "wait done", "restore", "delete_tstate"]\n')
    (o,) = check(loads(text), "legacy36").outcomes
    assert o.label == "memory-error" and o.memory_errors[0].access.function == "tstate_delete_common"
    # once a threading thread made the GIL, the same late restore waits for ever
    made = text.replace('"init", "save"', '"init", "start_thread t", "save"') + 't = ["block"]\n'
    assert "memory-error" not in check(loads(made), "legacy36").labels


def test_save_with_no_state_current_and_no_gil_is_fatal():
    text = 'name = "t"\n[threads]\nmain = ["init", "save", "save"]\n'
    (o,) = check(loads(text), "legacy36").outcomes
    assert o.label == "abort" and o.reason == "Fatal Python error: PyEval_SaveThread: NULL tstate"


def test_init_threads_makes_the_gil_on_3_6_only():
    text = 'name = "t"\n[threads]\nmain = ["init", "init_threads", "save", "restore", "finalize"]\n'
    s36 = run_main(text, "legacy36", 3)  # init (2 atomic steps), then PyEval_InitThreads
    assert s36.gil.created and s36.gil.locked and s36.gil.holder == "main"
    before = run_main(text, "legacy", 2)
    assert run_main(text, "legacy", 3).gil == before.gil  # 3.7+: the GIL exists, nothing changes


def test_init_threads_before_a_late_restore_turns_3_6s_use_after_free_into_a_wait():
    late = ('name = "t"\n[threads]\nmain = ["init", {}"save", "spawn w", "wait off", "restore", "finalize",'
            ' "signal done", "join w"]\n'
            'w = ["new_tstate", "restore", "save", "signal off", "block until done", "restore", "python \\"x = 2\\"", "save"]\n')
    without = check(loads(late.format("")), "legacy36").labels
    made = check(loads(late.format('"init_threads", ')), "legacy36").labels
    assert "memory-error" in without
    assert made == ("timeout, main deadlocked, w hung",)
    assert made == check(loads(late.format("")), "legacy").labels  # 3.6 with a GIL is 3.7


def test_init_threads_without_a_current_state_is_fatal_on_3_6():
    text = 'name = "t"\n[threads]\nmain = ["init", "save", "init_threads"]\n'
    (o,) = check(loads(text), "legacy36").outcomes
    assert o.label == "abort" and "take_gil: NULL tstate" in o.reason
    assert check(loads(text), "exit").labels == ("clean",)


def test_a_test_of_whether_the_gil_exists_reads_only_that_and_commutes_with_take_gil():
    # two workers: the first makes the GIL (PyEval_InitThreads writes gil and gil.created);
    # the second's PyEval_RestoreThread then only tests gil_created(): it declares gil.created,
    # not gil, so it is independent of the first's drop_gil (which never changes it)
    text = ('name = "t"\n[threads]\nmain = ["init", "save", "spawn a", "spawn b", "join a", "join b"]\n'
            'a = ["ensure", "release"]\nb = ["ensure", "release"]\n')
    system = build_system(loads(text), "legacy36")
    s = system.initial()
    for _ in range(5):  # init (2), save, spawn a, spawn b
        s, _ = system.step(s, "main")
    made = None
    while s.threads[1].pc == 0:
        s, tr = system.step(s, "a")
        if tr.function == "PyEval_InitThreads":
            made = tr
    assert made is not None and {"gil", "gil.created"} <= made.writes
    tested = None
    while tested is None or tested.function != "PyEval_RestoreThread":
        before, (s, tested) = s, system.step(s, "b")
    assert s.gil.created and "gil.created" in tested.reads and "gil" not in tested.reads | tested.writes
    dropped = system.step(before, "a")[1]  # a's release: drop_gil
    assert "gil" in dropped.writes and not tested.conflicts(dropped)
