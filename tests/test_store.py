from __future__ import annotations

import sqlite3

from finirace.outcome import RunKind, RunOutcome
from finirace.store import Store, StressRunRecord, default_path


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
            outcome = RunOutcome(RunKind.CRASH if sig else RunKind.CLEAN)
            store.record_run(c.id, StressRunRecord(index=i, seed=i, outcome=outcome, signature=sig), "repro")
        buckets = {b.signature: b for b in store.buckets(c.id)}
        assert buckets["crash SIGSEGV | f"].count == 2
        assert (buckets["crash SIGSEGV | f"].first_run, buckets["crash SIGSEGV | f"].last_run) == (0, 2)
        assert buckets["abort x"].count == 1 and store.run_count(c.id) == 5
        assert buckets["abort x"].kind is RunKind.CRASH
        assert store.done_indices(c.id) == {0, 1, 2, 3, 4}
        (summary,) = store.campaigns()
        assert (summary.runs, summary.failures, summary.buckets) == (5, 3, 2)


def _memory_error_outcome():
    from finirace.outcome import Access, MemoryErrorReport, StepRef, ThreadOutcome, ThreadResult

    ref = StepRef("worker", 6, "clear_tstate")
    err = MemoryErrorReport(
        "Invalid read", "PyThreadState of worker", Access("worker", "PyThreadState_Clear", ref, ("a.c:10", "b.c:2")),
        size=8, offset=16, block_size=200, freed_by=Access("main", "free", StepRef("main", 5, "finalize"), ("f",)),
        allocated_by=Access("worker", "malloc", StepRef("worker", 0, "new_tstate"), ()))
    return RunOutcome(RunKind.MEMORY_ERROR, (ThreadResult("main", ThreadOutcome.FINISHED),
                                             ThreadResult("worker", ThreadOutcome.EXITED, ref, "take_gil")),
                      "SIGSEGV", "Invalid read", (err,), -11)


def _lab_record(index, grade="yes", **kw):
    from finirace.outcome import StepRef, ThreadOutcome, ThreadResult
    from finirace.store import LabRunRecord

    ref = StepRef("worker", 6, "clear_tstate")
    outcome = _memory_error_outcome()
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


def test_stress_runs_keep_their_whole_outcome_and_read_back_equal(tmp_path):
    from finirace.store import STRESS

    crash = StressRunRecord(index=0, seed=7, outcome=_memory_error_outcome(), duration=0.25, signature="memory-error x",
                            stdout_tail="out", stderr_tail="err", python_tracebacks="tb", native_backtrace="bt",
                            memory_error_text="Invalid read of size 8", leftovers=1, worker="host")
    clean = StressRunRecord(index=1, seed=8, outcome=RunOutcome(RunKind.CLEAN, exit_code=0))
    with Store(tmp_path / "s.db") as store:
        c = store.create_campaign("s", ("prog",), {}, 2)
        bucket = store.record_run(c.id, crash, "repro")
        assert bucket is not None and bucket.kind is RunKind.MEMORY_ERROR
        assert store.record_run(c.id, clean) is None
    with Store(tmp_path / "s.db") as store:
        c = store.campaign("s")
        assert c.kind == STRESS
        assert list(store.runs(c.id)) == [crash, clean] == store.records(c)
        assert store.done(c) == {0, 1}


def test_stress_rows_written_before_outcomes_were_kept_read_from_their_columns(tmp_path):
    """A store whose runs table has no outcome column: it is added, and old rows read as they were written."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, argv TEXT NOT NULL,"
        " options TEXT NOT NULL, target_runs INTEGER, created REAL NOT NULL);"
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL REFERENCES campaigns(id),"
        " idx INTEGER NOT NULL, seed INTEGER NOT NULL, kind TEXT NOT NULL, signal TEXT, reason TEXT NOT NULL DEFAULT '',"
        " exit_code INTEGER, duration REAL NOT NULL, signature TEXT NOT NULL DEFAULT '', bucket_id INTEGER,"
        " stdout_tail TEXT NOT NULL DEFAULT '', stderr_tail TEXT NOT NULL DEFAULT '',"
        " python_tracebacks TEXT NOT NULL DEFAULT '', native_backtrace TEXT NOT NULL DEFAULT '',"
        " memory_errors TEXT NOT NULL DEFAULT '', leftovers INTEGER NOT NULL DEFAULT 0,"
        " worker TEXT NOT NULL DEFAULT '', finished REAL NOT NULL, UNIQUE (campaign_id, idx));"
        "INSERT INTO campaigns (name, argv, options, target_runs, created) VALUES ('old', '[\"prog\"]', '{}', 2, 1.0);"
        "INSERT INTO runs (campaign_id, idx, seed, kind, signal, reason, exit_code, duration, memory_errors, finished)"
        " VALUES (1, 0, 5, 'abort', 'SIGABRT', 'Fatal Python error: x', -6, 0.5, 'Invalid read', 2.0);"
    )
    db.commit()
    db.close()
    with Store(path) as store:
        c = store.campaign("old")
        (old,) = store.runs(c.id)
        assert old.outcome == RunOutcome(RunKind.ABORT, signal="SIGABRT", reason="Fatal Python error: x", exit_code=-6)
        assert (old.seed, old.memory_error_text, old.finished) == (5, "Invalid read", 2.0)
        new = StressRunRecord(index=1, seed=6, outcome=_memory_error_outcome())
        store.record_run(c.id, new)
        assert list(store.runs(c.id)) == [old, new]
