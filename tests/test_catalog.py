"""The bundled catalog, checked through the explorer: the required findings of each case.

Every verdict comes from exploring the model (``finirace.explore.check``); the
expectations written in the files must be exactly what is reached.
"""

from __future__ import annotations

import pytest

from finirace.explore import check
from finirace.model import VARIANTS
from finirace.outcome import RunKind, ThreadOutcome, label_matches
from finirace.scenario import catalog, check_variants
from finirace.scenario.expectations import with_expectations

SCENARIOS = {sc.name: sc for sc in catalog.load_bundled()}
CATALOG_ROWS = ["seed", "ensure-after", "reinit-wake", "clear-after", "restore-after", "cxx-noexcept",
                "daemon-at-exit", "spawn-during-fini", "wait-during-fini", "hang-at-exit", "guard-held", "guard-late"]

_verdicts: dict = {}


def verdict(name: str, variant: str):
    key = (name, variant)
    if key not in _verdicts:
        _verdicts[key] = check(SCENARIOS[name], variant)
    return _verdicts[key]


def outcome(name: str, variant: str, label: str):
    """The reached outcome fitting ``label`` (the test fails when there is none)."""
    v = verdict(name, variant)
    for o, cx in zip(v.outcomes, v.counterexamples):
        if label_matches(label, o):
            return o, cx
    pytest.fail(f"{name} under {variant}: no outcome fits {label!r}; reached {v.labels}")


def test_catalog_is_large_and_covers_every_row():
    assert len(SCENARIOS) >= 14
    for row in CATALOG_ROWS:
        assert row in SCENARIOS, row
    for sc in SCENARIOS.values():
        assert sc.summary and sc.refs and sc.notes, sc.name
        assert set(sc.expect) == set(VARIANTS), f"{sc.name}: run finirace check --write-expect for the missing eras"
        check_variants(sc, list(VARIANTS))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_expectations_are_what_the_model_reaches(name):
    for variant in VARIANTS:
        v = verdict(name, variant)
        assert v.complete
        assert v.matches, f"{name} under {variant}: expected {v.expected}, reached {v.labels}"


@pytest.mark.parametrize("path", catalog.bundled_paths(), ids=lambda p: p.stem)
def test_generated_expectations_reproduce_each_catalog_file(path):
    """What ``finirace check --write-expect`` writes, for every era or for one new era, is the file as it is."""
    name = catalog.load(path).name
    text = path.read_text()
    reached = {variant: verdict(name, variant).labels for variant in VARIANTS}
    assert with_expectations(text, reached, list(VARIANTS)) == text
    for variant in VARIANTS:  # each era as if it were the new one
        without = "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith(f"{variant} = "))
        assert with_expectations(without, {variant: reached[variant]}, list(VARIANTS)) == text, variant


def test_seed_legacy_worker_hangs_in_take_gil():
    o, _ = outcome("seed", "legacy", "clean, worker hung")
    assert o.thread("worker").where == "take_gil"
    assert not any(x.kind is RunKind.MEMORY_ERROR for x in verdict("seed", "legacy").outcomes)


def test_seed_prefix_use_after_free_with_both_histories():
    o, _ = outcome("seed", "prefix", "memory-error")
    (err,) = o.memory_errors
    assert err.kind == "Invalid read"
    assert err.block == "PyThreadState of worker"
    assert err.access.thread == "worker" and err.access.function == "PyEval_RestoreThread"
    assert err.access.step.text == "restore"
    assert err.freed_by.function == "zapthreads" and err.freed_by.thread == "main"
    assert "PyInterpreterState_Delete" in err.freed_by.frames and err.freed_by.step.text == "finalize"
    assert "PyGILState_Ensure" in (err.allocated_by.function, *err.allocated_by.frames)
    assert err.allocated_by.thread == "worker" and err.allocated_by.step.text == "ensure"


def test_seed_wrapper_residual_race_is_found_by_exploration():
    o, cx = outcome("seed", "wrapper", "memory-error")
    (err,) = o.memory_errors
    assert err.block == "PyThreadState of worker"
    notes = [(s.thread, s.transition.function, s.transition.note) for s in cx.trace]
    check_at = next(i for i, (t, f, n) in enumerate(notes) if t == "worker" and "wrapper's ts is set" in n)
    nulled = next(i for i, (t, f, n) in enumerate(notes) if t == "main" and "nulls every wrapper" in n)
    freed = next(i for i, (t, f, n) in enumerate(notes) if t == "main" and f == "zapthreads" and "frees" in n)
    # the check, then finalization nulls and frees, then the use
    assert check_at < nulled < freed < len(notes) - 1
    assert notes[-1][0] == "worker"
    # and the wrapper does its job when the worker wakes later
    outcome("seed", "wrapper", "clean, worker exited")


def test_seed_exit_worker_is_killed_in_take_gil():
    o, _ = outcome("seed", "exit", "clean, worker exited")
    assert o.thread("worker").where == "take_gil"


@pytest.mark.parametrize("variant", ["hang", "guards"])
def test_seed_late_worker_is_parked(variant):
    o, _ = outcome("seed", variant, "clean, worker hung")
    assert o.thread("worker").where == "take_gil"


def test_seed_guarded_is_clean_with_guards():
    assert verdict("seed-guarded", "guards").labels == ("clean",)
    # the guard steps do nothing without PEP 788: the seed race is back (3.9–3.13's window)
    assert "memory-error" in verdict("seed-guarded", "exit313").labels
    assert verdict("seed-guarded", "hang").labels == verdict("seed", "hang").labels


def test_seed_ordered_has_one_outcome_per_variant():
    for variant in VARIANTS:
        assert len(verdict("seed-ordered", variant).outcomes) == 1, variant
    assert verdict("seed-ordered", "exit").labels == ("clean, worker exited",)
    assert verdict("seed-ordered", "prefix").labels == ("memory-error",)


@pytest.mark.parametrize("variant", ["legacy", "prefix", "exit"])
def test_ensure_after_finalize_crashes_on_null_interpreter(variant):
    o, _ = outcome("ensure-after", variant, "crash")
    assert o.signal == "SIGSEGV" and o.reason == "new_threadstate"
    assert o.thread("worker").last_step.text == "ensure"


def test_ensure_after_finalize_parks_under_hang():
    o, _ = outcome("ensure-after", "hang", "timeout, worker hung")
    assert o.thread("worker").where == "PyGILState_Ensure"


@pytest.mark.parametrize("name", ["reinit-wake", "clear-after"])
@pytest.mark.parametrize("variant", ["legacy", "exit"])
def test_stale_state_is_a_memory_error_with_histories(name, variant):
    o, _ = outcome(name, variant, "memory-error")
    (err,) = o.memory_errors
    assert err.block == "PyThreadState of worker" and err.access.thread == "worker"
    assert err.freed_by is not None and err.freed_by.thread == "main" and err.freed_by.step.text == "finalize"
    assert err.allocated_by is not None and err.allocated_by.thread == "worker"
    assert err.allocated_by.function == "new_threadstate"
    assert verdict(name, variant).labels == ("memory-error",)


def test_reinit_wake_legacy_reads_freed_state_after_taking_the_new_gil():
    o, _ = outcome("reinit-wake", "legacy", "memory-error")
    assert o.memory_errors[0].access.function == "take_gil"
    assert o.memory_errors[0].freed_by.function == "zapthreads"


def test_clear_after_exit_state_was_freed_early():
    o, _ = outcome("clear-after", "exit", "memory-error")
    assert o.memory_errors[0].freed_by.function == "_PyThreadState_DeleteExcept"
    assert o.memory_errors[0].access.function == "PyThreadState_Clear"


def test_cxx_noexcept_aborts_under_exit():
    o, _ = outcome("cxx-noexcept", "exit", "abort")
    assert o.signal == "SIGABRT"
    assert o.reason == "terminate called without an active exception"
    # 3.14 parks instead of unwinding: no abort
    assert "abort" not in verdict("cxx-noexcept", "hang").labels


def test_joined_before_is_clean_everywhere():
    for variant in VARIANTS:
        assert verdict("joined-before", variant).labels == ("clean",), variant


def test_hang_at_exit_times_out_under_hang():
    o, _ = outcome("hang-at-exit", "hang", "timeout, main deadlocked, worker hung")
    assert o.thread("main").last_step.text == "lock library"
    assert o.kind is RunKind.TIMEOUT


def test_guard_held_makes_finalization_wait():
    assert verdict("guard-held", "guards").labels == ("clean",)
    assert len(verdict("guard-held", "exit").outcomes) > 1


def test_guard_asked_late_is_refused():
    o, _ = outcome("guard-late", "guards", "clean")
    worker = o.thread("worker")
    assert worker.outcome is ThreadOutcome.FINISHED and worker.last_step.text == "guard"
    outcome("guard-late", "exit", "crash")


def test_daemon_and_spawn_and_wait_during_fini():
    outcome("daemon-at-exit", "legacy", "clean, daemon hung")
    outcome("daemon-at-exit", "exit", "clean, daemon exited")
    outcome("spawn-during-fini", "exit", "clean, child exited")
    outcome("wait-during-fini", "wrapper", "memory-error")
    outcome("wait-during-fini", "legacy", "clean, worker hung")


def test_restore_after_3_6_restores_its_freed_state_without_a_gil_and_runs_on():
    # 3.6.15 in the lab: PyEval_RestoreThread returns, the next call reads the freed state
    o, cx = outcome("restore-after", "legacy36", "memory-error")
    (err,) = o.memory_errors
    assert err.block == "PyThreadState of worker" and str(err.access.step) == 'worker[7] python "x = 2"'
    assert err.freed_by.function == "zapthreads" and str(err.freed_by.step) == "main[5] finalize"
    assert str(err.allocated_by.step) == "worker[0] new_tstate"
    late = [t.transition for t in cx.trace if t.thread == "worker" and str(t.transition.step) == "worker[6] restore"]
    assert [t.function for t in late] == ["PyEval_RestoreThread"]  # no take_gil at all
    assert verdict("restore-after", "legacy36").labels == ("memory-error",)
    # 3.7–3.8 made the GIL in Py_Initialize: the worker waits for it for ever
    assert verdict("restore-after", "legacy").labels == ("timeout, main deadlocked, worker hung",)


def test_reinit_wake_3_6_reads_the_freed_state_in_python_not_in_take_gil():
    # Py_Initialize destroyed the first runtime's GIL and made none: the restore only swaps
    o, _ = outcome("reinit-wake", "legacy36", "memory-error")
    (err,) = o.memory_errors
    assert str(err.access.step) == 'worker[5] python "x = 1"' and err.access.function != "take_gil"
    assert str(err.freed_by.step) == "main[5] finalize" and str(err.allocated_by.step) == "worker[0] ensure"


@pytest.mark.parametrize("name", ["seed-ordered", "seed", "cxx-noexcept", "hang-at-exit", "wait-during-fini"])
def test_once_ensure_made_the_gil_3_6_is_the_blocking_era(name):
    assert verdict(name, "legacy36").labels == verdict(name, "legacy").labels


def test_the_docs_state_no_catalog_count_that_is_not_true():
    """A count of scenarios written in prose goes stale as the catalog grows: none, or the true one."""
    import re
    from pathlib import Path

    from finirace.scenario.catalog import bundled_paths

    root = Path(__file__).resolve().parent.parent
    n = len(bundled_paths())
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for m in re.finditer(r"(\d+) (?:bundled )?(?:scenarios|cases)\b", doc.read_text()):
            assert int(m.group(1)) == n, f"{doc.name}: {m.group(0)!r}, but the catalog holds {n}"


@pytest.mark.parametrize("name", ["seed", "wait-during-fini", "daemon-at-exit"])
@pytest.mark.parametrize("variant", ["hang", "guards"])
def test_refcounted_states_close_the_take_gil_window_from_3_14(name, variant):
    """3.14 (PR #130649): the late thread's state is marked and only decref'd by finalization;
    take_gil's check reads it and hangs: clean or hung, never a use-after-free."""
    labels = verdict(name, variant).labels
    assert "memory-error" not in labels and any("hung" in label for label in labels), labels
    assert "memory-error" in verdict(name, "exit313").labels  # 3.9–3.13's window stays


def test_ensure_during_fini_reaches_the_3_14_window():
    o, cx = outcome("ensure-during-fini", "hang", "memory-error")
    (err,) = o.memory_errors
    assert err.block == "PyThreadState of worker"
    assert err.freed_by.function == "zapthreads" and err.allocated_by.function == "new_threadstate"
    functions = [s.transition.function for s in cx.trace]
    assert functions.index("_PyThreadState_RemoveExcept") < functions.index("_PyThreadState_Detach") \
        < functions.index("zapthreads")
    # up to 3.13 the use-after-free there is the state _PyThreadState_DeleteExcept freed
    o, _ = outcome("ensure-during-fini", "exit313", "memory-error")
    assert o.memory_errors[0].freed_by.function == "_PyThreadState_DeleteExcept"


def test_clear_after_is_clean_once_states_are_refcounted():
    # the worker's state was on the list: cleared and decref'd, not freed; its own
    # PyThreadState_Clear and PyThreadState_Delete then work on live memory
    assert verdict("clear-after", "hang").labels == ("clean",)
    assert verdict("clear-after", "exit313").labels == ("memory-error",)


def test_reinit_wake_hangs_once_states_are_refcounted():
    o, _ = outcome("reinit-wake", "hang", "timeout, main deadlocked, worker hung")
    assert o.thread("worker").where == "take_gil"


def test_new_tstate_after_splits_3_10_3_11_and_3_13():
    o, _ = outcome("new-tstate-after", "exit", "memory-error")
    assert o.memory_errors[0].block == "PyInterpreterState"
    assert o.memory_errors[0].freed_by.function == "PyInterpreterState_Delete"
    assert verdict("new-tstate-after", "exit311").labels == ("crash",)
    assert verdict("new-tstate-after", "exit312").labels == ("crash",)
    assert verdict("new-tstate-after", "exit313").labels == ("abort",)
