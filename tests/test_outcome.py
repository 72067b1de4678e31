"""The outcome vocabulary: labels, and how expectations match reached outcomes."""

import pytest

from finirace.outcome import (
    Access,
    LabelError,
    MemoryErrorReport,
    RunKind,
    RunOutcome,
    StepRef,
    ThreadOutcome,
    ThreadResult,
    label_matches,
    parse_label,
    set_matches,
)


def run(kind, **threads):
    return RunOutcome(kind, tuple(ThreadResult(n, o) for n, o in threads.items()))


def test_label_lists_only_threads_that_did_not_finish():
    out = run(RunKind.CLEAN, main=ThreadOutcome.FINISHED, worker=ThreadOutcome.HUNG, other=None)
    assert out.label == "clean, worker hung"


def test_parse_label_reads_kind_and_clauses():
    lab = parse_label("timeout, main deadlocked, worker hung")
    assert lab.kind is RunKind.TIMEOUT
    assert lab.threads == {("main", ThreadOutcome.DEADLOCKED), ("worker", ThreadOutcome.HUNG)}


@pytest.mark.parametrize("bad", ["", "boom", "clean, worker", "clean, worker sleeping", "crash,, x"])
def test_bad_labels_are_rejected_with_the_offending_word(bad):
    with pytest.raises(LabelError):
        parse_label(bad)


def test_an_expectation_may_leave_threads_out_but_not_change_kind():
    reached = run(RunKind.MEMORY_ERROR, worker=None)
    assert label_matches("memory-error", reached)
    assert not label_matches("crash", reached)
    assert not label_matches("memory-error, worker hung", reached)


def test_set_match_needs_nothing_missing_and_nothing_unexpected():
    assert set_matches(["clean", "clean, worker hung"], ["clean", "clean, worker hung"])
    assert not set_matches(["clean"], ["clean", "crash"])  # unexpected crash
    assert not set_matches(["clean", "crash"], ["clean"])  # the crash was not found
    # a loose expectation covers several reached outcomes
    assert set_matches(["clean"], ["clean, worker hung", "clean"])


def test_memory_error_reads_like_valgrind():
    step = StepRef("worker", 4, "restore")
    rep = MemoryErrorReport(
        kind="Invalid read",
        block="PyThreadState of worker",
        size=8,
        offset=16,
        block_size=200,
        access=Access("worker", "take_gil", step, ("PyEval_RestoreThread",)),
        freed_by=Access("main", "zapthreads", StepRef("main", 5, "finalize")),
        allocated_by=Access("worker", "new_threadstate", StepRef("worker", 0, "ensure")),
    )
    text = "\n".join(rep.lines())
    assert text.startswith("Invalid read of size 8")
    assert "is 16 bytes inside a block of size 200" in text
    assert "free'd\n   at zapthreads in thread main (step main[5] finalize)" in text
    assert "Block was alloc'd\n   at new_threadstate in thread worker (step worker[0] ensure)" in text


def test_an_outcome_survives_the_json_round_trip():
    import json

    from finirace.outcome import outcome_from_dict, outcome_to_dict

    step = StepRef("worker", 4, "restore")
    out = RunOutcome(
        RunKind.MEMORY_ERROR,
        (ThreadResult("main", ThreadOutcome.FINISHED), ThreadResult("worker", None, step, "take_gil")),
        signal="SIGSEGV",
        reason="take_gil",
        memory_errors=(
            MemoryErrorReport(
                "Invalid read", "PyThreadState of worker", Access("worker", "take_gil", step, ("a", "b")), size=8,
                freed_by=Access("main", "zapthreads", StepRef("main", 5, "finalize")),
            ),
        ),
        exit_code=None,
    )
    data = json.loads(json.dumps(outcome_to_dict(out)))
    assert data["label"] == "memory-error"
    assert data["threads"][1]["last_marker"] == "worker[4] restore"
    assert outcome_from_dict(data) == out
