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
