from __future__ import annotations

import sqlite3

from finirace.store import RunRecord, Store, default_path


def test_wal_mode_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("FINIRACE_DB", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"
    with Store() as store:
        store.create_campaign("a", ("true",), {"perturb": "none"}, 3)
    mode = sqlite3.connect(tmp_path / "x.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_buckets_count_first_and_last(tmp_path):
    with Store(tmp_path / "s.db") as store:
        c = store.create_campaign("b", ("prog",), {}, 5)
        for i, sig in enumerate(["crash SIGSEGV | f", "", "crash SIGSEGV | f", "abort x", ""]):
            store.record_run(c.id, RunRecord(index=i, seed=i, kind="crash" if sig else "clean", duration=0.0, signature=sig), "repro")
        buckets = {b.signature: b for b in store.buckets(c.id)}
        assert buckets["crash SIGSEGV | f"].count == 2
        assert (buckets["crash SIGSEGV | f"].first_run, buckets["crash SIGSEGV | f"].last_run) == (0, 2)
        assert buckets["abort x"].count == 1 and store.run_count(c.id) == 5
        assert store.done_indices(c.id) == {0, 1, 2, 3, 4}
        (summary,) = store.campaigns()
        assert (summary.runs, summary.failures, summary.buckets) == (5, 3, 2)


def _lab_record(index, grade="yes", **kw):
    from finirace.outcome import (Access, MemoryErrorReport, RunKind, RunOutcome, StepRef, ThreadOutcome,
                                  ThreadResult)
    from finirace.store import LabRunRecord

    ref = StepRef("worker", 6, "clear_tstate")
    err = MemoryErrorReport(
        "Invalid read", "PyThreadState of worker", Access("worker", "PyThreadState_Clear", ref, ("a.c:10", "b.c:2")),
        size=8, offset=16, block_size=200, freed_by=Access("main", "free", StepRef("main", 5, "finalize"), ("f",)),
        allocated_by=Access("worker", "malloc", StepRef("worker", 0, "new_tstate"), ()))
    outcome = RunOutcome(RunKind.MEMORY_ERROR, (ThreadResult("main", ThreadOutcome.FINISHED),
                                                ThreadResult("worker", ThreadOutcome.EXITED, ref, "take_gil")),
                         "SIGSEGV", "Invalid read", (err,), -11)
    predicted = (RunOutcome(RunKind.MEMORY_ERROR), RunOutcome(RunKind.CLEAN, (ThreadResult("worker", ThreadOutcome.HUNG, ref),)))
    return LabRunRecord(index=index, scenario="clear-after", python="/p/python3.11", version="3.11.7",
                        detector="valgrind", outcome=outcome, predicted=predicted, grade=grade, variant="exit",
                        why="because", duration=0.5, stderr_tail="==1== Invalid read", **kw)


def test_lab_runs_read_back_equal_and_count_once(tmp_path):
    from dataclasses import replace

    from finirace.store import LAB

    with Store(tmp_path / "l.db") as store:
        c = store.create_campaign("lab-1", ("lab", "clear-after"), {"repeat": 3}, 3, kind=LAB)
        runs = [_lab_record(0, schedule="v1.ab"), _lab_record(1, "no"), _lab_record(2, "weak", skipped=True, note="n")]
        assert [store.record_lab_run(c.id, r) for r in runs] == [True, True, True]
        assert store.record_lab_run(c.id, _lab_record(1, "yes")) is False  # stored once, left as it was
        store.set_lab_run_html(c.id, 0, "/tmp/run.html")
    with Store(tmp_path / "l.db") as store:  # another connection: what a later `finirace report` sees
        c2 = store.campaign("lab-1")
        assert c2.kind == LAB and c2.options == {"repeat": 3} and c2.target_runs == 3
        back = store.lab_runs(c2.id)
        assert back == [replace(runs[0], html="/tmp/run.html"), runs[1], runs[2]]
        assert store.done_lab_indices(c2.id) == {0, 1, 2}
        (summary,) = store.campaigns()
        assert (summary.runs, summary.failures, summary.buckets) == (3, 1, 0)
        assert store.run_count(c2.id) == 0  # the stress table is untouched


def test_a_store_made_before_lab_campaigns_opens_with_stress_kinds(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, argv TEXT NOT NULL,"
        " options TEXT NOT NULL, target_runs INTEGER, created REAL NOT NULL);"
        "INSERT INTO campaigns (name, argv, options, target_runs, created) VALUES ('old', '[\"prog\"]', '{}', 2, 1.0);"
    )
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.campaign("old").kind == "stress"
        new = store.create_campaign("new", ("lab",), {}, 1, kind="lab")
        assert [s.campaign.kind for s in store.campaigns()] == ["stress", "lab"] and new.kind == "lab"
    with Store(path) as store:  # opening again does not try to add the column twice
        assert store.campaign("new").kind == "lab"
