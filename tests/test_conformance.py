"""Grading a lab run against the model's prediction, and the model's prediction itself."""

from __future__ import annotations

import pytest

from finirace import conformance
from finirace.conformance import ERROR, NA, NO, SKIPPED, WEAK, YES, Prediction, grade
from finirace.lab.runner import LabRun
from finirace.outcome import Access, MemoryErrorReport, RunKind, RunOutcome, StepRef, ThreadOutcome, ThreadResult


def _run(outcome: RunOutcome, detector="plain", skipped=False) -> LabRun:
    return LabRun("seed", "/py", "3.11.7", detector, outcome, skipped=skipped, note="why" if skipped else "")


def _worker(o: ThreadOutcome | None) -> tuple[ThreadResult, ...]:
    return (ThreadResult("main", ThreadOutcome.FINISHED), ThreadResult("worker", o, StepRef("worker", 4, "restore")))


EXITED = RunOutcome(RunKind.CLEAN, _worker(ThreadOutcome.EXITED))
HUNG = RunOutcome(RunKind.CLEAN, _worker(ThreadOutcome.HUNG))
UAF = RunOutcome(RunKind.MEMORY_ERROR, memory_errors=(
    MemoryErrorReport("Invalid read", "PyThreadState of worker", Access("worker", "take_gil"),
                      freed_by=Access("main", "free_threadstate")),))


def test_exact_label_is_yes_and_extra_thread_clause_is_no():
    assert grade(_run(EXITED), Prediction("exit", (EXITED,))).match == YES
    c = grade(_run(HUNG), Prediction("exit", (EXITED,)))
    assert c.match == NO and c.why == "worker: model exited at worker[4] restore, real hung at worker[4] restore"
    # a prediction of a plain clean run does not accept a hung worker
    assert grade(_run(HUNG), Prediction("exit", (RunOutcome(RunKind.CLEAN, _worker(ThreadOutcome.FINISHED)),))).match == NO


def test_memory_error_prediction_is_weak_without_valgrind_and_yes_with_it():
    pred = Prediction("prefix", (UAF,))
    for got in (RunOutcome(RunKind.CRASH, signal="SIGSEGV"), RunOutcome(RunKind.ABORT), EXITED):
        assert grade(_run(got), pred).match == WEAK
    assert grade(_run(UAF, detector="valgrind"), pred).match == YES
    assert grade(_run(RunOutcome(RunKind.CLEAN), detector="valgrind"), pred).match == NO


def test_run_in_a_set_of_several_predictions():
    pred = Prediction("exit", (HUNG, EXITED))
    assert grade(_run(EXITED), pred).match == YES
    assert grade(_run(RunOutcome(RunKind.TIMEOUT)), pred).match == NO


def test_no_prediction_and_skipped_runs():
    assert grade(_run(EXITED), Prediction(None, note="no model era")).match == NA
    assert grade(_run(EXITED, skipped=True), Prediction("exit", (EXITED,))).match == SKIPPED


def test_a_program_that_did_not_build_is_an_error_never_clean():
    failed = RunOutcome(RunKind.BUILD_FAILED, reason="does not build for 3.11.7: x")
    c = grade(_run(failed), Prediction("exit", (RunOutcome(RunKind.CLEAN),)))
    assert (c.match, c.why) == (ERROR, "does not build for 3.11.7: x")


def test_model_predicts_the_seed_for_each_installed_era():
    """The lab's seed runs fit the prediction of their era."""
    from pathlib import Path

    from finirace import model

    from finirace.lab import session
    from finirace.lab.interpreters import probe
    from finirace.scenario.format import load

    sc = load(Path(__file__).parent / "lab" / "scenarios" / "seed-join.toml")
    interps = [probe(p) for p in ("/root/.pyenv/versions/3.8.18/bin/python3.8",
                                  "/root/.pyenv/versions/3.11.7/bin/python3.11") if Path(p).exists()]
    if not interps:
        pytest.skip("neither 3.8.18 nor 3.11.7 is installed")
    for run in session.execute(session.plan([sc], interps, ["plain"]), workers=2):
        interp = next(i for i in interps if i.path == run.python)
        pred = conformance.predict(sc, interp)
        assert pred.variant == model.variant_for_version(*interp.version[:2])
        assert pred.outcomes, pred.note
        assert len(pred.outcomes) == 1, pred.labels  # fully ordered: one outcome
        c = grade(run, pred)
        assert c.match == YES, (run.version, run.outcome.label, pred.labels)


def test_a_threading_child_that_ended_in_its_bootstrap_is_not_asked_of_the_lab():
    # the model's child gave up in take_gil before its first step; the real child never reached
    # its C entry (no marker): the helper's clause decides, the child's is left out
    helper = ThreadResult("helper", ThreadOutcome.HUNG, StepRef("helper", 1, "start_thread child"), "acquire_timed")
    model = RunOutcome(RunKind.CLEAN, (ThreadResult("main", ThreadOutcome.FINISHED), helper,
                                       ThreadResult("child", ThreadOutcome.EXITED, None, "take_gil")))
    real = RunOutcome(RunKind.CLEAN, (ThreadResult("main", ThreadOutcome.FINISHED), helper, ThreadResult("child", None)))
    c = grade(_run(real), Prediction("exit", (model,)))
    assert c.match == YES and "child" in c.why and "bootstrap" in c.why
    # the helper's clause still counts
    alone = RunOutcome(RunKind.CLEAN, (ThreadResult("main", ThreadOutcome.FINISHED),
                                       ThreadResult("helper", ThreadOutcome.FINISHED), ThreadResult("child", None)))
    assert grade(_run(alone), Prediction("exit", (model,))).match == NO
    # a child the lab saw run its steps is compared as any thread
    ran = RunOutcome(RunKind.CLEAN, (ThreadResult("main", ThreadOutcome.FINISHED), helper,
                                     ThreadResult("child", ThreadOutcome.FINISHED, StepRef("child", 0, "python"))))
    assert grade(_run(ran), Prediction("exit", (model,))).match == NO
