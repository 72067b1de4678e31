"""The lab table rows, JSON and JUnit: repeats collapse, weak matches stay weak, a failed build errs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from finirace.campaign import lab_record
from finirace.conformance import Prediction, grade
from finirace.lab.runner import LabRun
from finirace.outcome import Access, MemoryErrorReport, RunKind, RunOutcome, StepRef
from finirace.report.lab import rows, to_json, write_junit

UAF = RunOutcome(RunKind.MEMORY_ERROR, memory_errors=(MemoryErrorReport(
    "Invalid read", "PyThreadState of worker", Access("worker", "take_gil", StepRef("worker", 4, "restore")),
    size=8, freed_by=Access("main", "free_threadstate", StepRef("main", 5, "finalize"))),))


def _records(runs, pred):
    return [lab_record(n, grade(r, pred)) for n, r in enumerate(runs)]


def test_repeats_collapse_into_one_row_with_counts():
    crash = RunOutcome(RunKind.CRASH, signal="SIGSEGV")
    runs = [LabRun("s", "/py", "3.9.18", "plain", crash)] * 3 + [LabRun("s", "/py", "3.9.18", "plain", RunOutcome(RunKind.CLEAN))]
    (row,) = rows(_records(runs, Prediction("exit", (UAF,))))
    assert row.runs == 4 and row.reproduced == 3
    assert row.outcome == "crash (SIGSEGV) (3/4); clean (1/4)"
    assert row.match == "weak"


def test_json_has_the_fields_others_read():
    data = to_json(_records([LabRun("s", "/py", "3.9.18", "valgrind", UAF)], Prediction("exit", (UAF,))))
    (run,) = data["runs"]
    assert run["match"] == "yes" and run["predicted"] == ["memory-error"]
    err = run["outcome"]["memory_errors"][0]
    assert err["freed_by"]["step"] == "main[5] finalize" and err["access"]["step"] == "worker[4] restore"
    assert data["summary"][0]["runs"] == 1


def test_a_program_that_did_not_build_is_its_own_outcome_in_table_json_and_junit(tmp_path):
    why = "scenario s, step worker[2] guard: does not build for 3.6.15: 'PyThread_guard' undeclared"
    failed = LabRun("s", "/py36", "3.6.15", "plain", RunOutcome(RunKind.BUILD_FAILED, reason=why))
    ok = LabRun("t", "/py36", "3.6.15", "plain", RunOutcome(RunKind.CLEAN))
    records = _records([ok, failed], Prediction("legacy36", (RunOutcome(RunKind.CLEAN),)))
    first, second = rows(records)
    assert (first.scenario, first.outcome, first.match, first.note) == ("s", "build-failed", "error", why)
    assert second.match == "yes"
    run = to_json(records)["runs"][1]
    assert run["outcome"]["kind"] == "build-failed" and run["outcome"]["reason"] == why
    assert run["match"] == "error" and run["skipped"] is False
    write_junit(str(tmp_path / "j.xml"), records)
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert (suite.get("errors"), suite.get("failures"), suite.get("skipped")) == ("1", "0", "0")
    (error,) = suite.iter("error")
    assert error.get("message") == why
