"""The lab table rows and JSON: repeats collapse, weak matches stay weak."""

from __future__ import annotations

from finirace.conformance import Prediction, grade
from finirace.lab.runner import LabRun
from finirace.outcome import Access, MemoryErrorReport, RunKind, RunOutcome, StepRef
from finirace.report.lab import rows, to_json

UAF = RunOutcome(RunKind.MEMORY_ERROR, memory_errors=(MemoryErrorReport(
    "Invalid read", "PyThreadState of worker", Access("worker", "take_gil", StepRef("worker", 4, "restore")),
    size=8, freed_by=Access("main", "free_threadstate", StepRef("main", 5, "finalize"))),))


def test_repeats_collapse_into_one_row_with_counts():
    crash = RunOutcome(RunKind.CRASH, signal="SIGSEGV")
    runs = [LabRun("s", "/py", "3.9.18", "plain", crash)] * 3 + [LabRun("s", "/py", "3.9.18", "plain", RunOutcome(RunKind.CLEAN))]
    pred = Prediction("exit", (UAF,))
    (row,) = rows([grade(r, pred) for r in runs])
    assert row.runs == 4 and row.reproduced == 3
    assert row.outcome == "crash (SIGSEGV) (3/4); clean (1/4)"
    assert row.match == "weak"


def test_json_has_the_fields_others_read():
    data = to_json([grade(LabRun("s", "/py", "3.9.18", "valgrind", UAF), Prediction("exit", (UAF,)))])
    (run,) = data["runs"]
    assert run["match"] == "yes" and run["predicted"] == ["memory-error"]
    err = run["outcome"]["memory_errors"][0]
    assert err["freed_by"]["step"] == "main[5] finalize" and err["access"]["step"] == "worker[4] restore"
    assert data["summary"][0]["runs"] == 1
